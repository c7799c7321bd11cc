package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// Timeouts. Everything waits with a deadline.
const (
	readyTimeout  = 30 * time.Second // a member (re)starting and catching up
	healthTimeout = 30 * time.Second // the cluster settling after a fault
	exitTimeout   = 10 * time.Second // a killed process going away
	pollInterval  = 20 * time.Millisecond
)

// memberFlags are given to every member. The write timeout is short so
// that a write that cannot commit says so well within a client's patience;
// the watch history is large so that every acknowledged write can be
// found by its index at the end; snapshots (and log compaction) come often,
// so that restarts and catching up go through them too.
var memberFlags = []string{"-timeout", "1s", "-m", "1000000", "-snapshotCount", "1000"}

// freeAddr returns host:port of a port that was free a moment ago.
func freeAddr() (string, error) {
	port, err := testnode.FreePort()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

// ---------------------------------------------------------------------------
// Members

// member is one etcd process, behind its proxy or in a network namespace of
// its own, and the command line it is (re)started with.
type member struct {
	idx        int
	name       string
	clientAddr string // host:port of the client API
	raftAddr   string // the advertised raft address: its proxy's, if it has one
	listenAddr string // where it really listens for peers
	proxy      *peerProxy
	wrapper    []string // the command it runs under (ip netns exec), if any
	dataDir    string
	logPath    string
	args       []string

	mu   sync.Mutex
	proc *testnode.Process // the current or last run
	runs int
	// onExit is told of every exit the harness did not cause.
	onExit func(m *member, p *testnode.Process)
}

func (m *member) clientURL() string { return "http://" + m.clientAddr }

// raftURL is the advertised raft URL.
func (m *member) raftURL() string { return "http://" + m.raftAddr }

// peerURL is where the member's peer port really is, past any proxy: the
// harness's own peer requests (GET /term) are never partitioned.
func (m *member) peerURL() string { return "http://" + m.listenAddr }

// process is the current or last run, nil before the first.
func (m *member) process() *testnode.Process {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc
}

func (m *member) start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && m.proc.Running() {
		return fmt.Errorf("%s: start while it is still running", m.name)
	}
	f, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	m.runs++
	fmt.Fprintf(f, "=== %s run %d: etcd %s\n", time.Now().Format(time.RFC3339Nano), m.runs, strings.Join(m.args, " "))
	p, err := testnode.Start(testnode.Options{Args: m.args, Wrapper: m.wrapper, Log: f})
	if err != nil {
		f.Close()
		return fmt.Errorf("%s: start: %v", m.name, err)
	}
	m.proc = p
	go func() {
		<-p.Exited()
		f.Close()
		if !p.Killed() && m.onExit != nil {
			m.onExit(m, p)
		}
	}()
	return nil
}

// running reports whether the process is up (paused or not).
func (m *member) running() bool {
	p := m.process()
	return p != nil && p.Running()
}

// serving reports whether the process is up and not paused.
func (m *member) serving() bool {
	p := m.process()
	return p != nil && p.Running() && !p.Paused()
}

func (m *member) isPaused() bool {
	p := m.process()
	return p != nil && p.Paused()
}

// kill sends SIGKILL (after SIGCONT if paused) and waits for the exit.
func (m *member) kill() error {
	p := m.process()
	if p == nil {
		return nil
	}
	if err := p.Kill(exitTimeout); err != nil {
		return fmt.Errorf("%s: %v", m.name, err)
	}
	return nil
}

func (m *member) pause() error {
	if p := m.process(); p != nil {
		return p.Pause()
	}
	return fmt.Errorf("%s was never started", m.name)
}

func (m *member) resume() error {
	if p := m.process(); p != nil {
		return p.Resume()
	}
	return fmt.Errorf("%s was never started", m.name)
}

// logTail is the end of the member's log, for error messages.
func (m *member) logTail(n int) string {
	b, err := os.ReadFile(m.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---------------------------------------------------------------------------
// Clusters

type cluster struct {
	t       *testing.T
	dir     string
	members []*member
	ctl     *http.Client // the harness's own requests: short timeouts
	slow    *http.Client // the harness's reads that set their own, longer, deadline
	ctlTr   *http.Transport
	tl      *timeline
	// onKill is called after a member was killed: clients drop their
	// connections to it.
	onKill func()
	// ackedIndex is the highest index acknowledged to a client so far.
	ackedIndex func() uint64
	// spare joins and leaves the cluster (see churnMembership); it is none
	// of members, which the checks cover. nil until first needed.
	spare *member

	mu       sync.Mutex
	excluded map[*member]bool // members that could not be brought back
	crashes  []string         // members that exited by themselves
	stale    []string         // members that served a store behind writes acknowledged before they started
}

// exited records a member's exit that the harness did not cause.
func (c *cluster) exited(m *member, p *testnode.Process) {
	if p.PortTaken() {
		return // another program held a port: waitReady starts it again
	}
	err, tail := p.Err(), m.logTail(20)
	c.tl.add("CRASH: %s exited by itself (%v)", m.name, err)
	c.mu.Lock()
	c.crashes = append(c.crashes, fmt.Sprintf("%s exited by itself (%v); its log ends:\n%s", m.name, err, tail))
	c.mu.Unlock()
}

// exclude leaves m out of the checks at the end: it could not be
// restarted.
func (c *cluster) exclude(m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.excluded == nil {
		c.excluded = map[*member]bool{}
	}
	c.excluded[m] = true
}

// live is the members not excluded.
func (c *cluster) live() []*member {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*member
	for _, m := range c.members {
		if !c.excluded[m] {
			out = append(out, m)
		}
	}
	return out
}

func (c *cluster) crashList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.crashes...)
}

func (c *cluster) staleList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.stale...)
}

// checkCaughtUp checks that m, which has just become ready, serves a store
// that holds every write acknowledged before it was started (index
// before): a member answers clients only once it has caught up. A member
// whose store index cannot be read proves nothing either way, so it is
// asked again until timeout, and then that is the error.
func (c *cluster) checkCaughtUp(m *member, before uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		idx, err := c.storeIndex(m)
		if err == nil {
			if idx < before {
				msg := fmt.Sprintf("%s served clients at store index %d right after it (re)started, although index %d had been acknowledged before it started", m.name, idx, before)
				c.tl.add("STALE: %s", msg)
				c.mu.Lock()
				c.stale = append(c.stale, msg)
				c.mu.Unlock()
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is ready but its store index could not be read within %v: %v", m.name, timeout, err)
		}
		time.Sleep(pollInterval)
	}
}

// clusterSpec says how the members of a cluster are set up.
type clusterSpec struct {
	members int
	// flags are every member's (memberFlags when nil); extra, if set, adds
	// flags of member i's own.
	flags []string
	extra func(i int) []string
	// lab, if set, puts member i in the lab's namespace i, on the standard
	// ports of its own address; else members are on 127.0.0.1 behind
	// proxies.
	lab *netLab
}

// startCluster prepares the members of spec and starts them in turn,
// each serving before the next starts.
func startCluster(t *testing.T, tl *timeline, spec clusterSpec) *cluster {
	t.Helper()
	c := prepareCluster(t, tl, spec)
	if err := c.startInTurn(); err != nil {
		t.Fatal(err)
	}
	return c
}

// startInTurn starts the members, each serving before the next starts,
// and waits for them to agree on a leader.
func (c *cluster) startInTurn() error {
	for _, m := range c.members {
		if err := c.startAndWait(m); err != nil {
			return fmt.Errorf("starting %s: %v", m.name, err)
		}
	}
	if _, err := c.waitHealthy(healthTimeout); err != nil {
		return fmt.Errorf("the new cluster did not settle: %v", err)
	}
	return nil
}

// prepareCluster sets the members of spec up without starting any: the
// first founds the cluster, the others join through it.
func prepareCluster(t *testing.T, tl *timeline, spec clusterSpec) *cluster {
	t.Helper()
	tr := testnode.NewTransport()
	c := &cluster{
		t:     t,
		dir:   t.TempDir(),
		ctlTr: tr,
		ctl:   testnode.NewClient(tr, 2*time.Second),
		slow:  testnode.NewClient(tr, 0),
		tl:    tl,
	}
	t.Cleanup(c.shutdown)
	flags := spec.flags
	if flags == nil {
		flags = memberFlags
	}
	for i := range spec.members {
		var join []string
		if i > 0 {
			join = []string{c.members[0].raftAddr}
		}
		memberFlags := flags
		if spec.extra != nil {
			memberFlags = append(append([]string(nil), flags...), spec.extra(i)...)
		}
		var m *member
		var err error
		if spec.lab != nil {
			m = c.newLabMember(spec.lab, i, join, memberFlags)
		} else {
			m, err = c.newMember(i, join, memberFlags)
		}
		if err != nil {
			t.Fatal(err)
		}
		c.members = append(c.members, m)
	}
	return c
}

// newMember prepares member number i (node<i+1>), behind a proxy of its
// own, to join through the raft addresses join (none: it founds).
func (c *cluster) newMember(i int, join, flags []string) (*member, error) {
	name := fmt.Sprintf("node%d", i+1)
	clientAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	listenAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	pl, err := testnode.Listen()
	if err != nil {
		return nil, err
	}
	m := &member{
		idx:        i,
		name:       name,
		clientAddr: clientAddr,
		listenAddr: listenAddr,
		proxy:      newPeerProxy(name, pl, listenAddr),
		dataDir:    filepath.Join(c.dir, name+".etcd"),
		logPath:    filepath.Join(c.dir, name+".log"),
		onExit:     c.exited,
	}
	m.raftAddr = m.proxy.addr()
	m.args = append([]string{
		"-n", name,
		"-c", clientAddr,
		"-s", m.raftAddr,
		"-sl", listenAddr,
		"-d", m.dataDir,
	}, flags...)
	if len(join) > 0 {
		m.args = append(m.args, "-C", strings.Join(join, ","))
	}
	return m, nil
}

// Ports of a member in a namespace of its own: the standard ones, on its
// own address.
const (
	labClientPort = 4001
	labPeerPort   = 7001
)

// newLabMember prepares member number i (node<i+1>) in the lab's
// namespace i, to join through the raft addresses join (none: it founds).
func (c *cluster) newLabMember(lab *netLab, i int, join, flags []string) *member {
	name := fmt.Sprintf("node%d", i+1)
	ip := lab.hosts[i].ip
	m := &member{
		idx:        i,
		name:       name,
		clientAddr: fmt.Sprintf("%s:%d", ip, labClientPort),
		raftAddr:   fmt.Sprintf("%s:%d", ip, labPeerPort),
		wrapper:    lab.wrapper(i),
		dataDir:    filepath.Join(c.dir, name+".etcd"),
		logPath:    filepath.Join(c.dir, name+".log"),
		onExit:     c.exited,
	}
	m.listenAddr = m.raftAddr
	m.args = append([]string{"-n", name, "-c", m.clientAddr, "-s", m.raftAddr, "-d", m.dataDir}, flags...)
	if len(join) > 0 {
		m.args = append(m.args, "-C", strings.Join(join, ","))
	}
	return m
}

// shutdown kills every member and closes the proxies.
func (c *cluster) shutdown() {
	for _, m := range c.withSpare() {
		if err := m.kill(); err != nil {
			c.t.Errorf("cleanup: %v", err)
		}
		if m.proxy != nil {
			m.proxy.close()
		}
	}
	c.ctlTr.CloseIdleConnections()
}

// startAndWait starts m and waits until it serves clients. A port another
// program took meanwhile is waited out a while.
func (c *cluster) startAndWait(m *member) error {
	before := c.acked()
	if err := m.start(); err != nil {
		return err
	}
	if err := c.waitReady(m, readyTimeout); err != nil {
		return err
	}
	return c.checkCaughtUp(m, before, readyTimeout)
}

func (c *cluster) acked() uint64 {
	if c.ackedIndex == nil {
		return 0
	}
	return c.ackedIndex()
}

// waitReady waits until m serves clients. A member that exited because
// another program held one of its ports a moment is started again.
func (c *cluster) waitReady(m *member, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := m.process().WaitReady(c.ctl, m.clientURL(), time.Until(deadline))
		if errors.Is(err, testnode.ErrPortTaken) && time.Now().Before(deadline) {
			c.tl.add("%s: a port was in use; starting it again", m.name)
			time.Sleep(250 * time.Millisecond)
			if err := m.start(); err != nil {
				return err
			}
			continue
		}
		if err != nil && !m.running() {
			return fmt.Errorf("%s: %v; log ends:\n%s", m.name, err, m.logTail(5))
		}
		if err != nil {
			return fmt.Errorf("%s: %v", m.name, err)
		}
		return nil
	}
}

// get is a GET by the harness on m's client port.
func (c *cluster) get(m *member, path string) (int, string, error) {
	resp, err := c.ctl.Get(m.clientURL() + path)
	if err != nil {
		return -1, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// withSpare is the members and the spare, if there is one: the spare may
// lead while it is a member.
func (c *cluster) withSpare() []*member {
	if c.spare == nil {
		return c.members
	}
	return append(append([]*member(nil), c.members...), c.spare)
}

// byRaftURL maps an advertised raft URL (a proxy's) to its member.
func (c *cluster) byRaftURL(u string) *member {
	for _, m := range c.withSpare() {
		if m.raftURL() == u {
			return m
		}
	}
	return nil
}

// byClientURL maps a URL on a member's client port to the member.
func (c *cluster) byClientURL(raw string) *member {
	u, err := url.Parse(raw)
	if err != nil {
		return nil
	}
	for _, m := range c.withSpare() {
		if u.Scheme == "http" && u.Host == m.clientAddr {
			return m
		}
	}
	return nil
}

// leaderVotes asks every serving member who leads and counts the answers
// by member.
func (c *cluster) leaderVotes() (map[*member]int, []string) {
	votes := map[*member]int{}
	var states []string
	for _, m := range c.members {
		if !m.serving() {
			states = append(states, m.name+": down")
			continue
		}
		status, body, err := c.get(m, "/v1/leader")
		states = append(states, fmt.Sprintf("%s: %d %s %v", m.name, status, body, errString(err)))
		if err == nil && status == http.StatusOK {
			if l := c.byRaftURL(body); l != nil {
				votes[l]++
			}
		}
	}
	return votes, states
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// findLeader polls until a majority of the members name the same serving
// member as leader, and returns it; except may not be it.
func (c *cluster) findLeader(timeout time.Duration, except *member) (*member, error) {
	deadline := time.Now().Add(timeout)
	for {
		votes, states := c.leaderVotes()
		for l, n := range votes {
			if n > len(c.members)/2 && l != except && l.serving() {
				return l, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no leader named by a majority within %v: %s", timeout, strings.Join(states, "; "))
		}
		time.Sleep(pollInterval)
	}
}

// waitHealthy polls until every member (not excluded) runs unpaused,
// serves clients, and names the same serving leader. It returns the leader.
func (c *cluster) waitHealthy(timeout time.Duration) (*member, error) {
	deadline := time.Now().Add(timeout)
	for {
		leader, state := c.healthy()
		if leader != nil {
			return leader, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("cluster not healthy within %v: %s", timeout, state)
		}
		time.Sleep(pollInterval)
	}
}

func (c *cluster) healthy() (*member, string) { return c.healthyAmong(c.live()) }

// healthyAmong reports the leader when every one of live runs unpaused,
// serves clients, and names the same serving leader; else what is amiss.
func (c *cluster) healthyAmong(live []*member) (*member, string) {
	var states []string
	for _, m := range live {
		if !m.serving() {
			return nil, m.name + " is down or paused"
		}
		if status, body, err := c.get(m, "/version"); err != nil || status != http.StatusOK {
			return nil, fmt.Sprintf("%s: GET /version %d %s %v", m.name, status, body, errString(err))
		}
	}
	votes, s := c.leaderVotes()
	states = append(states, s...)
	for l, n := range votes {
		if n == len(live) && l.serving() {
			return l, ""
		}
	}
	return nil, strings.Join(states, "; ")
}

// isolate cuts m off from its peers, both ways: its proxy refuses all it
// would receive, the others' proxies refuse all it sends. The members must
// be behind proxies.
func (c *cluster) isolate(m *member, mode dropMode) {
	for _, o := range c.members {
		if o == m {
			o.proxy.cut(true, nil, mode)
		} else {
			o.proxy.cut(false, []string{m.name}, mode)
		}
	}
}

// heal forwards all peer traffic again.
func (c *cluster) heal() {
	for _, m := range c.members {
		if m.proxy != nil {
			m.proxy.heal()
		}
	}
}

// kill kills m with SIGKILL.
func (c *cluster) kill(m *member) error {
	err := m.kill()
	c.ctlTr.CloseIdleConnections()
	if c.onKill != nil {
		c.onKill()
	}
	return err
}

// randomMember picks any member.
func (c *cluster) randomMember(rng *rand.Rand) *member {
	return c.members[rng.IntN(len(c.members))]
}

// ---------------------------------------------------------------------------
// Reading the state of every member, at the end

// list is GET /v1/keys/DIR/ on m (not consistent: m's own state).
func (c *cluster) list(m *member, dir string) ([]testnode.Event, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.clientURL()+"/v1/keys"+strings.TrimSuffix(dir, "/")+"/", nil)
	if err != nil {
		return nil, err
	}
	r, err := testnode.Send(c.slow, req)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("%s: GET %s: %d %s", m.name, dir, r.Status, r.Body)
	}
	var list []testnode.Event
	if err := json.Unmarshal(r.Body, &list); err != nil {
		return nil, fmt.Errorf("%s: GET %s: %v: %s", m.name, dir, err, r.Body)
	}
	return list, nil
}

// tree reads m's whole key space: files map to their values, directories
// to "<dir>". It also returns the store index the listings reported.
func (c *cluster) tree(m *member) (map[string]string, uint64, error) {
	out := map[string]string{}
	var index uint64
	var walk func(dir string) error
	walk = func(dir string) error {
		list, err := c.list(m, dir)
		if err != nil {
			return err
		}
		for _, e := range list {
			index = max(index, e.Index)
			if e.Dir {
				out[e.Key] = "<dir>"
				if err := walk(e.Key); err != nil {
					return err
				}
			} else {
				out[e.Key] = e.Value
			}
		}
		return nil
	}
	return out, index, walk("")
}

// storeIndex is the store index m reports in its root listing.
func (c *cluster) storeIndex(m *member) (uint64, error) {
	list, err := c.list(m, "/")
	if err != nil {
		return 0, err
	}
	if len(list) == 0 {
		return 0, fmt.Errorf("%s: the root is empty", m.name)
	}
	return list[0].Index, nil
}

// waitConverged polls until every member (not excluded) reports the same
// store index twice in a row, and returns it.
func (c *cluster) waitConverged(timeout time.Duration) (uint64, error) {
	deadline := time.Now().Add(timeout)
	var prev uint64
	for {
		var idx []uint64
		var state []string
		same := true
		for _, m := range c.live() {
			i, err := c.storeIndex(m)
			state = append(state, fmt.Sprintf("%s: %d %v", m.name, i, errString(err)))
			if err != nil || (len(idx) > 0 && i != idx[0]) {
				same = false
			}
			idx = append(idx, i)
		}
		if same && idx[0] == prev {
			return prev, nil
		}
		if same {
			prev = idx[0]
		} else {
			prev = 0
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("members did not reach the same store index within %v: %s", timeout, strings.Join(state, "; "))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
