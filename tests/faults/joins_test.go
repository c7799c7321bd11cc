package faults

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestJoinsAtOnce starts five members at the same moment, the four
// joiners with -C pointing at the first, as the README starts a cluster
// with `&`, and kills the leader one second after the first member
// answers. A member that joins counts toward the quorum from the moment it
// is added, and a join never makes the cluster refuse work, so by then
// every member is admitted (etcd v0.1.2 admitted them within
// milliseconds); the survivors, four of five, must elect a leader among
// themselves, no member may give up and exit, and the killed one rejoins
// when started again.
//
// FAULTS_JOIN_ROUNDS sets how many times (fresh clusters) it is tried.

const (
	joinMembers     = 5
	killLeaderAfter = time.Second
)

func TestJoinsAtOnce(t *testing.T) {
	rounds := 1
	if v := os.Getenv("FAULTS_JOIN_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("FAULTS_JOIN_ROUNDS=%q: want a positive count", v)
		}
		rounds = n
	}
	var summary []string
	for i := range rounds {
		t.Run(fmt.Sprintf("round%d", i+1), func(t *testing.T) {
			summary = append(summary, fmt.Sprintf("round %d:", i+1))
			summary = append(summary, indent(joinRound(t))...)
		})
	}
	t.Logf("summary:\n%s", strings.Join(summary, "\n"))
}

// joinRound runs one round on a fresh cluster and returns its report.
func joinRound(t *testing.T) []string {
	tl := &timeline{t: t, start: time.Now()}
	cfg := config{artifacts: os.Getenv("FAULTS_ARTIFACTS")}
	c := prepareCluster(t, tl, clusterSpec{members: joinMembers})
	terms := watchTerms(tl, c.members)
	t.Cleanup(terms.close)
	ev := &evidence{t: t, cfg: cfg, c: c, tl: tl, terms: terms}
	t.Cleanup(ev.saveOnFailure)
	var report []string
	defer func() {
		ev.summary = strings.Join(report, "\n")
		if cfg.artifacts != "" {
			ev.saveAll()
		}
	}()

	tl.add("start %d members at once; node2..node%d join through node1", joinMembers, joinMembers)
	for _, m := range c.members {
		if err := m.start(); err != nil {
			t.Fatal(err)
		}
	}
	ready := c.watchReady(c.members, readyTimeout)
	first := <-ready.first
	if first == nil {
		t.Fatalf("no member answered within %v", readyTimeout)
	}
	firstAt := ready.answeredAt(first)
	tl.add("%s answers first", first.name)
	time.Sleep(killLeaderAfter)

	leader, err := c.leaderNow()
	if err != nil {
		t.Fatalf("%v after the first member answered", err)
	}
	admittedBefore, _ := c.admitted(leader)
	tl.add("kill -9 %s (leader; it counts %d members)", leader.name, admittedBefore)
	if err := c.kill(leader); err != nil {
		t.Fatal(err)
	}
	var survivors []*member
	for _, m := range c.members {
		if m != leader {
			survivors = append(survivors, m)
		}
	}

	// The survivors: none gives up, and they elect a leader.
	start := time.Now()
	var newLeader *member
	var state string
	for {
		newLeader, state = c.healthyAmong(survivors)
		if newLeader != nil || time.Since(start) > majorityElectsWithin {
			break
		}
		time.Sleep(pollInterval)
	}
	ready.stop()
	_, states := c.leaderVotes()
	report = append(report,
		fmt.Sprintf("first answer: %s, %v after the members were started; leader %s killed %v later, counting %d members", first.name, firstAt.Round(time.Millisecond), leader.name, killLeaderAfter, admittedBefore))
	report = append(report, c.joinLines(ready)...)
	for _, cr := range c.crashList() {
		t.Errorf("A JOINER GAVE UP: %s", cr)
	}
	if newLeader == nil {
		report = append(report, fmt.Sprintf("survivors: NO LEADER within %v of the kill (%s; %s)", majorityElectsWithin, state, strings.Join(states, "; ")))
		t.Errorf("NO LEADER: the %d survivors did not agree on a leader within %v of killing %s: %s; %s",
			len(survivors), majorityElectsWithin, leader.name, state, strings.Join(states, "; "))
		return report
	}
	tl.add("%s leads the survivors, %v after the kill", newLeader.name, time.Since(start).Round(time.Millisecond))
	report = append(report, fmt.Sprintf("survivors: %s leads, %v after the kill", newLeader.name, time.Since(start).Round(time.Millisecond)))

	// Every member is admitted, the killed one included.
	n, machines := c.admitted(newLeader)
	report = append(report, fmt.Sprintf("admitted: %d of %d members (%s)", n, joinMembers, machines))
	if n != joinMembers {
		t.Errorf("NOT ADMITTED: the cluster counts %d members, want %d: /v1/machines on %s says %s", n, joinMembers, newLeader.name, machines)
	}

	// The killed leader rejoins; then the members must agree.
	tl.add("restart %s", leader.name)
	if err := c.startAndWait(leader); err != nil {
		t.Errorf("restarting %s: %v", leader.name, err)
		return report
	}
	end, err := c.writeMark("/joins/done")
	if err != nil {
		t.Errorf("writing once all are back: %v", err)
		return report
	}
	if _, err := c.waitHealthy(healthTimeout); err != nil {
		t.Errorf("with %s back: %v", leader.name, err)
		return report
	}
	if _, err := c.waitConverged(healthTimeout); err != nil {
		t.Errorf("with %s back: %v", leader.name, err)
		return report
	}
	sc := compareStores(t, c, end)
	terms.close()
	down, downCount := terms.down()
	for _, d := range down {
		t.Errorf("TERM WENT DOWN: %s", d)
	}
	maxTerm, maxLast := terms.highest()
	report = append(report,
		fmt.Sprintf("stores (state-machine safety): %s", sc),
		fmt.Sprintf("terms: highest %d, highest of a last log entry %d; seen to go down: %d", maxTerm, maxLast, downCount))
	return report
}

// readyTimes records when each member first answered GET /version.
type readyTimes struct {
	first chan *member // the first to answer; nil if none did in time
	stop  func()

	mu sync.Mutex
	at map[*member]time.Duration
}

// answeredAt is when m first answered, since the watch started.
func (rt *readyTimes) answeredAt(m *member) time.Duration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.at[m]
}

// watchReady polls members until each has answered once, or until stopped
// or timeout.
func (c *cluster) watchReady(members []*member, timeout time.Duration) *readyTimes {
	rt := &readyTimes{first: make(chan *member, 1), at: map[*member]time.Duration{}}
	done := make(chan struct{})
	rt.stop = sync.OnceFunc(func() { close(done) })
	start := time.Now()
	var once sync.Once
	var wg sync.WaitGroup
	for _, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < timeout {
				if status, _, err := c.get(m, "/version"); err == nil && status == http.StatusOK {
					rt.mu.Lock()
					rt.at[m] = time.Since(start)
					rt.mu.Unlock()
					once.Do(func() { rt.first <- m })
					return
				}
				select {
				case <-done:
					return
				case <-time.After(pollInterval):
				}
			}
		}()
	}
	go func() {
		wg.Wait()
		once.Do(func() { rt.first <- nil })
	}()
	return rt
}

// joinLines tells, for each member, when it first answered and what its
// log says of its joins.
func (c *cluster) joinLines(rt *readyTimes) []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var out []string
	for _, m := range c.members {
		answered := "never answered"
		if at, ok := rt.at[m]; ok {
			answered = fmt.Sprintf("answered %v after the start", at.Round(time.Millisecond))
		}
		refused, firstCause := joinRefusals(m)
		line := fmt.Sprintf("%s: %s; %d join attempts refused", m.name, answered, refused)
		if firstCause != "" {
			line += fmt.Sprintf(" (the first: %s)", firstCause)
		}
		if !m.running() && !m.process().Killed() {
			line += "; EXITED: " + lastLine(m.logTail(1))
		}
		out = append(out, line)
	}
	return out
}

// joinRefusals counts the join attempts m's log says failed, and gives
// the first one's reason.
func joinRefusals(m *member) (int, string) {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return 0, ""
	}
	const marker = "raft: cannot join through "
	n, first := 0, ""
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.Index(line, marker); i >= 0 {
			if n == 0 {
				first = line[i+len(marker):]
			}
			n++
		}
	}
	return n, first
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// leaderNow is the member most serving members name as leader.
func (c *cluster) leaderNow() (*member, error) {
	votes, states := c.leaderVotes()
	var best *member
	for l, n := range votes {
		if best == nil || n > votes[best] {
			best = l
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no member names a leader: %s", strings.Join(states, "; "))
	}
	return best, nil
}

// admitted is the number of members m's cluster counts, and its
// GET /v1/machines.
func (c *cluster) admitted(m *member) (int, string) {
	status, body, err := c.get(m, "/v1/machines")
	if err != nil || status != http.StatusOK {
		return 0, fmt.Sprintf("GET /v1/machines on %s: %d %s %v", m.name, status, body, errString(err))
	}
	n := 0
	for _, u := range strings.Split(body, ",") {
		if c.byClientURL(strings.TrimSpace(u)) != nil {
			n++
		}
	}
	return n, body
}

// writeMark writes key through any live member until one acknowledges it,
// and returns its index: the end of the history that compareStores reads.
func (c *cluster) writeMark(key string) (uint64, error) {
	w := newWorkload(c, 0)
	defer w.tr.CloseIdleConnections()
	return w.writeKey(key, "done")
}
