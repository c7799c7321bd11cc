package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// Shape of the workload.
const (
	clients        = 8
	durableWriters = 2
	registers      = 3
)

// Fault lengths.
const (
	pauseFor     = time.Second
	partitionFor = 2 * time.Second
)

// electionTimeout is the members' (the default): a follower that hears no
// leader for that long, up to twice as long, campaigns.
const electionTimeout = 150 * time.Millisecond

// majorityElectsWithin bounds how long the members cut off from their
// leader may take to elect another: five rounds of the longest election
// timeout (a split vote between the two costs a round), plus the 2 s of
// silence after which a follower left in goraft's snapshotting state
// campaigns again, plus 2 s of slack for a loaded machine.
const majorityElectsWithin = 5*2*electionTimeout + 2*time.Second + 2*time.Second

// config is what the environment asks of a run.
type config struct {
	duration     time.Duration
	seed         uint64
	artifacts    string // where evidence goes; "" means a new directory in os.TempDir()
	checkTimeout time.Duration
}

// loadConfig reads the environment; durationVar names the variable that
// sets how long this test's faults last (def when unset, a third of it
// with -short).
func loadConfig(t *testing.T, durationVar string, def time.Duration) config {
	cfg := config{duration: def, checkTimeout: 60 * time.Second}
	if testing.Short() {
		cfg.duration = def / 3
	}
	if v := os.Getenv(durationVar); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive Go duration such as 45s or 5m", durationVar, v)
		}
		cfg.duration = d
	}
	if v := os.Getenv("FAULTS_CHECK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("FAULTS_CHECK_TIMEOUT=%q: want a positive Go duration", v)
		}
		cfg.checkTimeout = d
	}
	cfg.seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("FAULTS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("FAULTS_SEED=%q: want an unsigned integer", v)
		}
		cfg.seed = s
	}
	cfg.artifacts = os.Getenv("FAULTS_ARTIFACTS")
	return cfg
}

// ---------------------------------------------------------------------------
// Timeline

// timeline is what the harness did, with times since the start of the run:
// faults, and what the cluster did about them.
type timeline struct {
	t     *testing.T
	start time.Time
	mu    sync.Mutex
	lines []string
}

func (tl *timeline) add(format string, args ...any) {
	line := fmt.Sprintf("t=%7.3fs ", time.Since(tl.start).Seconds()) + fmt.Sprintf(format, args...)
	tl.mu.Lock()
	tl.lines = append(tl.lines, line)
	tl.mu.Unlock()
	tl.t.Log(line)
}

func (tl *timeline) String() string {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return strings.Join(tl.lines, "\n") + "\n"
}

// ---------------------------------------------------------------------------
// Faults

type faultKind string

const (
	killLeader      faultKind = "kill -9 leader, restart"
	killRandom      faultKind = "kill -9 random member, restart"
	pauseLeader     faultKind = "SIGSTOP leader 1s"
	restartAll      faultKind = "kill -9 all, restart all"
	partitionLeader faultKind = "partition leader 2s"
)

var faultCycle = []faultKind{killLeader, killRandom, pauseLeader, restartAll, partitionLeader, churnMembership}

// nemesis injects faults into the cluster.
type nemesis struct {
	c      *cluster
	tl     *timeline
	rng    *rand.Rand
	churns int // churnMembership rounds so far
}

func (n *nemesis) leader() (*member, error) { return n.c.findLeader(healthTimeout, nil) }

// inject runs one fault to its end (every member restarted, resumed,
// healed); it does not wait for the cluster to settle.
func (n *nemesis) inject(kind faultKind) error {
	c := n.c
	switch kind {
	case killLeader:
		l, err := n.leader()
		if err != nil {
			return err
		}
		n.tl.add("kill -9 %s (leader)", l.name)
		if err := c.kill(l); err != nil {
			return err
		}
		start := time.Now()
		nl, err := c.findLeader(healthTimeout, l)
		if err != nil {
			return fmt.Errorf("after killing the leader %s, the others elected none: %v", l.name, err)
		}
		n.tl.add("%s leads, %v after the kill", nl.name, time.Since(start).Round(time.Millisecond))
		n.tl.add("restart %s", l.name)
		return c.startAndWait(l)
	case killRandom:
		m := c.randomMember(n.rng)
		n.tl.add("kill -9 %s", m.name)
		if err := c.kill(m); err != nil {
			return err
		}
		time.Sleep(time.Duration(n.rng.IntN(500)) * time.Millisecond) // down for a while
		n.tl.add("restart %s", m.name)
		return c.startAndWait(m)
	case pauseLeader:
		l, err := n.leader()
		if err != nil {
			return err
		}
		n.tl.add("SIGSTOP %s (leader)", l.name)
		if err := l.pause(); err != nil {
			return err
		}
		time.Sleep(pauseFor)
		n.tl.add("SIGCONT %s", l.name)
		return l.resume()
	case restartAll:
		order := n.rng.Perm(len(c.members))
		n.tl.add("kill -9 all")
		for _, i := range order {
			if err := c.kill(c.members[i]); err != nil {
				return err
			}
		}
		n.tl.add("restart all")
		before := c.acked()
		for _, i := range order {
			if err := c.members[i].start(); err != nil {
				return err
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(c.members))
		for i, m := range c.members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if errs[i] = c.waitReady(m, readyTimeout); errs[i] == nil {
					errs[i] = c.checkCaughtUp(m, before, readyTimeout)
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	case partitionLeader:
		l, err := n.leader()
		if err != nil {
			return err
		}
		mode := dropMode(n.rng.IntN(2))
		n.tl.add("partition %s (leader) from the others (%v)", l.name, mode)
		start := time.Now()
		c.isolate(l, mode)
		defer c.heal()
		// The others are a majority: they must elect a leader of their own
		// while the partition lasts, which lasts until they do.
		nl, err := c.findLeader(majorityElectsWithin, l)
		if err != nil {
			return fmt.Errorf("the majority did not elect a leader within %v of cutting off the leader %s: %v", majorityElectsWithin, l.name, err)
		}
		n.tl.add("%s leads the majority, %v after the cut", nl.name, time.Since(start).Round(time.Millisecond))
		time.Sleep(time.Until(start.Add(partitionFor)))
		n.tl.add("heal")
		return nil
	case churnMembership:
		n.churns++
		return n.churn(n.churns - 1)
	}
	return fmt.Errorf("unknown fault %q", kind)
}

// ---------------------------------------------------------------------------
// The test

func TestFaults(t *testing.T) {
	cfg := loadConfig(t, "FAULTS_DURATION", 30*time.Second)
	tl := &timeline{t: t, start: time.Now()}
	rng := rand.New(rand.NewPCG(cfg.seed, 1))
	tl.add("seed %d (FAULTS_SEED=%d makes the same random choices), faults for %v", cfg.seed, cfg.seed, cfg.duration)

	c := prepareCluster(t, tl, clusterSpec{members: 3})
	snaps, err := watchSnapshots(tl, c.members)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.startInTurn(); err != nil {
		t.Fatal(err)
	}
	if err := c.newSpare(); err != nil {
		t.Fatal(err)
	}
	r := startRun(t, cfg, tl, c, snaps)

	// The faults.
	nem := &nemesis{c: c, tl: tl, rng: rng}
	faultCounts := map[string]int{}
	end := time.Now().Add(cfg.duration)
	var faultErr error
	for i := 0; time.Now().Before(end); i++ {
		kind := faultCycle[i%len(faultCycle)]
		faultCounts[string(kind)]++
		r.startWindow(string(kind))
		if err := nem.inject(kind); err != nil {
			faultErr = fmt.Errorf("fault %q: %v", kind, err)
			break
		}
		start := time.Now()
		leader, err := c.waitHealthy(healthTimeout)
		if err != nil {
			faultErr = fmt.Errorf("after fault %q: %v", kind, err)
			break
		}
		tl.add("healthy again after %v: %s leads", time.Since(start).Round(time.Millisecond), leader.name)
		// A quiet moment between faults.
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
	}
	r.startWindow("")
	if faultErr != nil {
		tl.add("STOPPED: %v", faultErr)
		t.Errorf("the cluster did not recover: %v", faultErr)
		r.recoverAll(c.heal)
	}

	out := r.finish()

	// Counts.
	var order []string
	for _, k := range faultCycle {
		order = append(order, string(k))
	}
	lines := []string{fmt.Sprintf("faults run: %v of faults, seed %d", cfg.duration, cfg.seed), "faults injected:"}
	lines = append(lines, kindLines(order, faultCounts)...)
	lines = append(lines, "term growth per kind of fault (from its start to the next one's):")
	lines = append(lines, indent(r.growth.lines())...)
	var refused, forwarded int64
	for _, m := range c.members {
		refused += m.proxy.refused.Load()
		forwarded += m.proxy.forwarded.Load()
	}
	lines = append(lines, fmt.Sprintf("peer messages: %d forwarded, %d refused by partitions", forwarded, refused))
	lines = append(lines, out.lines(r.w)...)
	r.report(lines)
}

func memberList(c *cluster) string {
	var s []string
	for _, m := range c.members {
		if m.proxy != nil {
			s = append(s, fmt.Sprintf("%s (client %s, raft %s via proxy %s)", m.name, m.clientAddr, m.listenAddr, m.raftAddr))
		} else {
			s = append(s, fmt.Sprintf("%s (client %s, raft %s)", m.name, m.clientAddr, m.raftAddr))
		}
	}
	return strings.Join(s, ", ")
}

// treeDiff lists keys whose values differ between two listings.
func treeDiff(a, b map[string]string, limit int) []string {
	var diff []string
	for k, va := range a {
		if vb, ok := b[k]; !ok || va != vb {
			diff = append(diff, fmt.Sprintf("%s: %q vs %q (present: %v)", k, va, vb, ok))
		}
	}
	for k, vb := range b {
		if _, ok := a[k]; !ok {
			diff = append(diff, fmt.Sprintf("%s: absent vs %q", k, vb))
		}
	}
	sort.Strings(diff)
	if len(diff) > limit {
		total := len(diff)
		diff = append(diff[:limit], fmt.Sprintf("… %d in all", total))
	}
	return diff
}

// linResult is what the linearizability check found.
type linResult struct {
	result   porcupine.CheckResult
	ops      int
	unknowns int
	resolved resolution
	took     time.Duration
}

// checkLinearizable checks the history with porcupine, after resolving
// unknown outcomes with the members' record when there is a good one. A
// violation fails the test and is saved as a visualization.
func checkLinearizable(t *testing.T, cfg config, tl *timeline, ev *evidence, raw []porcupine.Operation, record []testnode.Event, recordOK bool) linResult {
	t.Helper()
	var lr linResult
	history := raw
	if recordOK {
		history, lr.resolved = resolve(raw, record)
	}
	lr.ops = len(history)
	for _, op := range raw {
		if op.Output.(regOutput).Unknown {
			lr.unknowns++
		}
	}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(registerModel, history, cfg.checkTimeout)
	lr.result, lr.took = res, time.Since(start).Round(time.Millisecond)
	if recordOK {
		tl.add("porcupine: %s for %d operations in %v (%d of unknown outcome: %d committed, %d never took effect, per the watch history)",
			res, len(history), lr.took, lr.unknowns, lr.resolved.committed, lr.resolved.absent)
	} else {
		tl.add("porcupine: %s for %d operations in %v (%d of unknown outcome, left open)", res, len(history), lr.took, lr.unknowns)
	}
	switch res {
	case porcupine.Illegal:
		ev.violation = true
		path := ev.save("linearizability.html", nil)
		if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
			t.Errorf("writing the visualization: %v", err)
		}
		verdict := "the clients' own history, with unknown outcomes left open"
		if recordOK {
			verdict = "unknown outcomes resolved by the watch history; the clients' own history is not linearizable either"
			rawRes := porcupine.CheckOperationsTimeout(registerModel, raw, cfg.checkTimeout)
			tl.add("porcupine on the history without the watch history's help: %s", rawRes)
			switch rawRes {
			case porcupine.Ok:
				verdict = "unknown outcomes resolved by the watch history; the clients' own history IS linearizable, so the watch history contradicts what the clients saw"
			case porcupine.Unknown:
				verdict = "unknown outcomes resolved by the watch history; the clients' own history could not be decided in time"
			}
		}
		t.Errorf("LINEARIZABILITY VIOLATION: the history of the registers is not linearizable (%s); visualization: %s", verdict, path)
	case porcupine.Unknown:
		t.Errorf("porcupine could not decide within %v (FAULTS_CHECK_TIMEOUT) on %d operations", cfg.checkTimeout, len(history))
	}
	return lr
}

// ---------------------------------------------------------------------------
// Evidence

// evidence saves what a failure needs to be understood: the history, the
// timeline, the members' logs, the visualization of a violation.
type evidence struct {
	t         *testing.T
	cfg       config
	c         *cluster
	w         *workload
	tl        *timeline
	terms     *termWatch
	history   []porcupine.Operation
	violation bool
	summary   string

	mu  sync.Mutex
	dir string
}

// directory creates the run's artifact directory on first use.
func (e *evidence) directory() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dir != "" {
		return e.dir
	}
	root := e.cfg.artifacts
	if root == "" {
		root = filepath.Join(os.TempDir(), "etcd-faults")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		e.t.Errorf("artifacts: %v", err)
		return os.TempDir()
	}
	dir, err := os.MkdirTemp(root, time.Now().Format("run-20060102-150405-"))
	if err != nil {
		e.t.Errorf("artifacts: %v", err)
		return os.TempDir()
	}
	e.dir = dir
	return dir
}

// save writes data to name in the artifact directory (data nil: only the
// path) and returns the path.
func (e *evidence) save(name string, data []byte) string {
	path := filepath.Join(e.directory(), name)
	if data != nil {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			e.t.Errorf("artifacts: %v", err)
		}
	}
	return path
}

func (e *evidence) saveOnFailure() {
	if e.t.Failed() {
		dir := e.saveAll()
		e.t.Logf("evidence saved in %s", dir)
	}
}

// saveAll writes the history, the timeline, the summary and the members'
// logs.
func (e *evidence) saveAll() string {
	dir := e.directory()
	e.save("timeline.txt", []byte(e.tl.String()))
	if e.terms != nil {
		e.save("terms.txt", []byte(e.terms.evidence()))
	}
	if e.summary != "" {
		e.save("summary.txt", []byte(e.summary+"\n"))
	}
	if e.w != nil {
		e.saveHistory()
	}
	members := e.c.members
	if e.c.spare != nil {
		// The member that joins and leaves in the membership fault.
		members = append(members[:len(members):len(members)], e.c.spare)
	}
	for _, m := range members {
		if data, err := os.ReadFile(m.logPath); err == nil {
			e.save(m.name+".log", data)
		}
	}
	if e.t.Failed() {
		// The members' data directories, as they are now (running members
		// may still be writing): raft log, conf, snapshots.
		for _, m := range members {
			if _, err := os.Stat(m.dataDir); errors.Is(err, os.ErrNotExist) {
				continue // never created, or removed by a first start that failed
			}
			if err := copyTree(m.dataDir, filepath.Join(dir, m.name+".etcd")); err != nil {
				e.t.Logf("artifacts: copying %s: %v", m.dataDir, err)
			}
		}
	}
	return dir
}

// saveHistory writes the clients' history and their acknowledged durable
// writes.
func (e *evidence) saveHistory() {
	hist := e.history
	if hist == nil {
		hist = e.w.history()
	}
	var b strings.Builder
	for _, op := range hist {
		line, _ := json.Marshal(map[string]any{
			"client": op.ClientId, "call": op.Call, "return": op.Return,
			"input": op.Input, "output": op.Output, "meta": op.Metadata,
			"text": describeOp(op.Input, op.Output),
		})
		b.Write(line)
		b.WriteByte('\n')
	}
	e.save("history.jsonl", []byte(b.String()))
	e.w.mu.Lock()
	durable, _ := json.Marshal(e.w.durable)
	e.w.mu.Unlock()
	e.save("durable-acks.json", durable)
}

// copyTree copies the regular files below src to dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
