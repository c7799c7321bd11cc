package faults

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestMixedLimits starts a leader with a client body limit far above its
// followers' (-maxbody 20000000 against the default 1 MiB) and writes a
// 3 MiB value through it, of a character that JSON escapes six bytes long
// in the log entry: the largest entry a value of that size makes. No client
// write may stop replication: the writes after it succeed, on every
// member, an acknowledged value is on every member, and the members do
// not go on calling elections. (Whether the big write itself is
// acknowledged is reported, not checked: an append of that size may take
// longer than an election timeout on a loaded machine.)

const (
	bigValueBytes = 3 << 20
	// bigValueChar is escaped as \u003c in the entry's JSON.
	bigValueChar  = "<"
	leaderMaxBody = "20000000"
	laterWrites   = 10
	// laterWriteWithin bounds how long one write after the big one may
	// take to succeed, its retries included, and how long the members may
	// take to hold the last one: several election rounds and a write's
	// -timeout, on a loaded machine.
	laterWriteWithin = 10 * time.Second
	// reachedWithin bounds how long the big value may take to reach a
	// member that accepts it, elections included.
	reachedWithin = 30 * time.Second
	// quietFor is how long the terms must then stay still: a follower that
	// refuses the leader's appends campaigns every election timeout or two.
	quietFor = 2 * time.Second
)

// limitFlags are memberFlags with the default -timeout: committing a
// 20 MB entry may take longer than memberFlags' 1 s on a loaded machine.
var limitFlags = []string{"-m", "1000000", "-snapshotCount", "1000"}

func TestMixedLimits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		bigLimit []bool // per member: started with -maxbody leaderMaxBody
		away     int    // the member paused while the big value is written; -1: none
	}{
		// Both followers get the entry.
		{"both followers at the default", []bool{true, false, false}, -1},
		// The entry commits without the follower at the default, paused
		// until the other follower holds it, which must then get it and
		// every later write.
		{"the follower at the default away", []bool{true, true, false}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) { mixedLimits(t, tc.bigLimit, tc.away) })
	}
}

// mixedLimits runs the scenario on three members, member i with the large
// limit when bigLimit[i], member away paused until the big value is on the
// other follower; member 0 leads.
func mixedLimits(t *testing.T, bigLimit []bool, away int) {
	tl := &timeline{t: t, start: time.Now()}
	cfg := config{artifacts: os.Getenv("FAULTS_ARTIFACTS")}
	c := startCluster(t, tl, clusterSpec{members: len(bigLimit), flags: limitFlags, extra: func(i int) []string {
		if bigLimit[i] {
			return []string{"-maxbody", leaderMaxBody}
		}
		return nil
	}})
	big := c.members[0]
	leader, err := c.findLeader(healthTimeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	if leader != big {
		t.Fatalf("%s leads, not %s: the scenario needs %s, started with -maxbody %s, to lead", leader.name, big.name, big.name, leaderMaxBody)
	}
	terms := watchTerms(tl, c.members)
	t.Cleanup(terms.close)
	ev := &evidence{t: t, cfg: cfg, c: c, tl: tl, terms: terms}
	t.Cleanup(ev.saveOnFailure)
	w := newWorkload(c, 0)
	defer w.tr.CloseIdleConnections()
	var report []string
	defer func() {
		ev.summary = strings.Join(report, "\n")
		t.Logf("summary:\n%s", ev.summary)
		if cfg.artifacts != "" {
			ev.saveAll()
		}
	}()
	var limits []string
	for i, m := range c.members {
		if bigLimit[i] {
			limits = append(limits, m.name+" -maxbody "+leaderMaxBody)
		} else {
			limits = append(limits, m.name+" the default")
		}
	}
	report = append(report, "limits: "+strings.Join(limits, ", "))

	before := terms.mark()
	if away >= 0 {
		tl.add("SIGSTOP %s", c.members[away].name)
		if err := c.members[away].pause(); err != nil {
			t.Fatal(err)
		}
	}
	tl.add("write a %d-byte value through %s (leader)", bigValueBytes, big.name)
	ctx, cancel := context.WithTimeout(context.Background(), 2*opTimeout)
	value := strings.Repeat(bigValueChar, bigValueBytes)
	a := w.send(ctx, big, http.MethodPost, "/v1/keys/limits/big", url.Values{"value": {value}})
	cancel()
	bigAnswer := a.String()
	if len(bigAnswer) > 200 {
		bigAnswer = bigAnswer[:200] + "…"
	}
	tl.add("the big write: %s", bigAnswer)
	report = append(report, fmt.Sprintf("the %d-byte write through %s: %s", bigValueBytes, big.name, bigAnswer))
	acknowledged := a.err == nil && a.status == http.StatusOK
	if away >= 0 {
		var other *member // the follower that accepts the value
		for i, m := range c.members {
			if i != 0 && i != away {
				other = m
			}
		}
		if err := c.waitValue(other, "/limits/big", value, reachedWithin); err != nil {
			report = append(report, fmt.Sprintf("REPLICATION WEDGED: the value never reached %s (%s)", other.name, terms.latest()))
			t.Fatalf("REPLICATION WEDGED: the %d-byte value did not reach %s, whose limit accepts it: %v (%s)", bigValueBytes, other.name, err, terms.latest())
		}
		tl.add("the big value is on %s", other.name)
		tl.add("SIGCONT %s", c.members[away].name)
		if err := c.members[away].resume(); err != nil {
			t.Fatal(err)
		}
	}

	// The writes after it.
	var end uint64
	succeeded := 0
	for i := range laterWrites {
		key := fmt.Sprintf("/limits/k%d", i)
		start := time.Now()
		var last answer
		for time.Since(start) < laterWriteWithin {
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			last = w.send(ctx, big, http.MethodPost, "/v1/keys"+key, url.Values{"value": {"small"}})
			cancel()
			if last.err == nil && last.status == http.StatusOK {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if last.err != nil || last.status != http.StatusOK {
			tl.add("write %s: no success within %v (last: %s)", key, laterWriteWithin, last)
			t.Errorf("REPLICATION WEDGED: after the %d-byte write, %s could not be written within %v (last answer: %s)", bigValueBytes, key, laterWriteWithin, last)
			break
		}
		succeeded++
		if idx, err := eventIndex(last.body); err == nil {
			end = idx
		}
	}
	report = append(report, fmt.Sprintf("later writes: %d of %d succeeded", succeeded, laterWrites))

	// Every member gets them.
	if succeeded == laterWrites && end > 0 {
		if behind := c.waitIndex(end, laterWriteWithin); len(behind) > 0 {
			report = append(report, "REPLICATION STOPPED: "+strings.Join(behind, "; "))
			t.Errorf("REPLICATION STOPPED: %v after the last write was acknowledged at index %d: %s", laterWriteWithin, end, strings.Join(behind, "; "))
		} else {
			sc := compareStores(t, c, end)
			report = append(report, fmt.Sprintf("stores (state-machine safety): %s", sc))
			if acknowledged && sc.read && sc.trees[0]["/limits/big"] != value {
				t.Errorf("LOST WRITE: the acknowledged %d-byte value is not on %s", bigValueBytes, sc.live[0].name)
			}
		}
	}

	// The elections, if any, stopped.
	settled := terms.mark()
	time.Sleep(quietFor)
	after := terms.mark()
	report = append(report, fmt.Sprintf("terms: term +%d, last log term +%d from the big write to the end, +%d and +%d in the last %v (%s)",
		after.term-before.term, after.lastLogTerm-before.lastLogTerm, after.term-settled.term, after.lastLogTerm-settled.lastLogTerm, quietFor, terms.latest()))
	if after.term > settled.term {
		t.Errorf("ELECTIONS GO ON: after the writes, the term still rose by %d in %v (%s)", after.term-settled.term, quietFor, terms.latest())
	}
	terms.close()
	down, _ := terms.down()
	for _, d := range down {
		t.Errorf("TERM WENT DOWN: %s", d)
	}
}

// waitValue waits until m's own store holds key=value.
func (c *cluster) waitValue(m *member, key, value string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		status, body, err := c.get(m, "/v1/keys"+key)
		var e testnode.Event
		if err == nil && status == http.StatusOK && testnode.DecodeStrict([]byte(body), &e) == nil && e.Value == value {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not hold %s within %v (last: %d %.200s %v)", m.name, key, timeout, status, body, errString(err))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitIndex waits until every live member's store is at index or past
// it, and lists those that are not by timeout.
func (c *cluster) waitIndex(index uint64, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	for {
		var behind []string
		for _, m := range c.live() {
			if got, err := c.storeIndex(m); err != nil || got < index {
				behind = append(behind, fmt.Sprintf("%s at store index %d %v", m.name, got, errString(err)))
			}
		}
		if len(behind) == 0 || time.Now().After(deadline) {
			return behind
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventIndex is the index of the v1 event in body.
func eventIndex(body []byte) (uint64, error) {
	var e testnode.Event
	if err := testnode.DecodeStrict(body, &e); err != nil {
		return 0, err
	}
	return e.Index, nil
}
