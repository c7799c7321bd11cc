package faults

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// A run is a cluster under a schedule of faults while the clients work,
// and the checks at its end. The schedules differ (TestFaults,
// TestPartitions); the clients, the watch on the terms and snapshots, the
// checks and the evidence are the same.
type run struct {
	t     *testing.T
	cfg   config
	tl    *timeline
	c     *cluster
	w     *workload
	ev    *evidence
	terms *termWatch
	snaps *snapshotWatch
	// growth is the terms' rise per kind of fault (see window).
	growth *growthTable

	stopClients func()
	window      struct {
		kind string
		from termMark
	}
}

// startRun starts the term watch and the clients on c, whose members
// serve; snaps, if not nil, has recorded their snapshot files from their
// start.
func startRun(t *testing.T, cfg config, tl *timeline, c *cluster, snaps *snapshotWatch) *run {
	t.Helper()
	w := newWorkload(c, registers)
	c.onKill = w.tr.CloseIdleConnections
	c.ackedIndex = w.maxAcked
	r := &run{t: t, cfg: cfg, tl: tl, c: c, w: w, snaps: snaps, growth: newGrowthTable()}
	r.terms = watchTerms(tl, c.members)
	t.Cleanup(r.terms.close)
	if snaps != nil {
		t.Cleanup(snaps.close)
		snaps.notify(r.terms.poke)
	}
	r.ev = &evidence{t: t, cfg: cfg, c: c, w: w, tl: tl, terms: r.terms}
	t.Cleanup(r.ev.saveOnFailure)
	tl.add("cluster up: %s", memberList(c))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var durableSeq atomic.Int64
	for i := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); w.runClient(i, cfg.seed, stop) }()
	}
	for i := range durableWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.runDurable(i, cfg.seed, func() int { return int(durableSeq.Add(1)) }, stop)
		}()
	}
	r.stopClients = sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(r.stopClients)
	return r
}

// startWindow starts the window of a fault of kind, which lasts until the
// next one starts (or the faults end, kind ""): every rise of a term in it
// is put down to that fault. It returns the rise in the window that ended.
func (r *run) startWindow(kind string) termMark {
	mark := r.terms.mark()
	var rise termMark
	if r.window.kind != "" {
		rise = r.growth.add(r.window.kind, r.window.from, mark)
	}
	r.window.kind, r.window.from = kind, mark
	return rise
}

// recoverAll removes what is left of a schedule that stopped on an error
// (cuts, pauses, members down), and waits for the cluster to settle; if it
// does not, it checks what was recorded until then and ends the test.
func (r *run) recoverAll(heal func()) {
	heal()
	for _, m := range r.c.members {
		if m.isPaused() {
			m.resume()
		}
		if !m.running() {
			if err := r.c.startAndWait(m); err != nil {
				// The failure is reported; check the others.
				r.t.Errorf("%s cannot be restarted; leaving it out of the checks at the end: %v", m.name, err)
				r.tl.add("%s left out of the checks at the end", m.name)
				r.c.exclude(m)
			}
		}
	}
	if _, err := r.c.waitHealthy(healthTimeout); err != nil {
		// Check what was recorded until then, without the members'
		// history (they cannot all be asked).
		r.stopClients()
		r.tl.add("clients stopped")
		raw := r.w.history()
		r.ev.history = raw
		lin := checkLinearizable(r.t, r.cfg, r.tl, r.ev, raw, nil, false)
		r.t.Fatalf("the cluster is still not healthy with every fault removed: %v (the history until then: %s)", err, lin.result)
	}
}

// runOutcome is what the checks at the end of a run found.
type runOutcome struct {
	lin           linResult
	stores        storeCheck
	lost          int
	idxViolations int
	idxChecked    int
	anomalies     int
	crashes       int
	stale         int
	termsDown     int
	snapshots     []snapshotEvent
}

// finish waits for the clients to get answers again, stops them, and runs
// every check: the members' stores and histories, durability,
// linearizability, index order, anomalies, crashes, terms.
func (r *run) finish() runOutcome {
	t, c, w, tl := r.t, r.c, r.w, r.tl
	var out runOutcome
	tl.add("faults over; waiting for progress")
	healedAt := w.now()
	progressDeadline := time.Now().Add(healthTimeout)
	for {
		w.mu.Lock()
		last := w.lastDone
		w.mu.Unlock()
		if last > healedAt {
			break
		}
		if time.Now().After(progressDeadline) {
			t.Errorf("no client operation succeeded within %v after the faults ended", healthTimeout)
			break
		}
		time.Sleep(pollInterval)
	}
	time.Sleep(500 * time.Millisecond) // a little healthy traffic at the end
	r.stopClients()
	tl.add("clients stopped")
	if err := w.finalReads(); err != nil {
		t.Error(err)
	}
	end, err := w.writeEnd()
	if err != nil {
		t.Error(err)
	}

	// The members' stores and histories, and durability.
	if end > 0 {
		out.lost, out.stores = checkDurability(t, c, w, tl, end)
	}

	// The members' record of the registers' writes.
	var record []testnode.Event
	recordOK := out.stores.read
	if recordOK {
		for _, e := range eventsUnder(out.stores.histories[0], "/lin/") {
			if e.Key != endKey {
				record = append(record, e)
			}
		}
		for _, msg := range checkRecord(record, w) {
			t.Errorf("watch history: %s", msg)
			recordOK = false
		}
		tl.add("watch history of /lin: %d writes", len(record))
	}

	// Linearizability.
	raw := w.history()
	r.ev.history = raw
	out.lin = checkLinearizable(t, r.cfg, tl, r.ev, raw, record, recordOK)

	// Index order.
	var idxViolations []string
	idxViolations, out.idxViolations = checkIndexOrder(w.indexed, 20)
	out.idxChecked = len(w.indexed)
	for _, v := range idxViolations {
		t.Errorf("index order: %s", v)
	}

	// Anomalies: answers no correct member gives.
	w.mu.Lock()
	anomalies := append([]string(nil), w.anomalies...)
	out.anomalies = w.anomalyCount
	w.mu.Unlock()
	for _, a := range anomalies {
		t.Errorf("anomaly: %s", a)
	}

	// Crashes, and members that served before catching up.
	crashes, stale := c.crashList(), c.staleList()
	out.crashes, out.stale = len(crashes), len(stale)
	for _, cr := range crashes {
		t.Errorf("CRASH: %s", cr)
	}
	for _, st := range stale {
		// A restarted member serves only once it has caught up (README).
		t.Errorf("STALE AFTER RESTART: %s", st)
	}

	// Terms.
	r.terms.close()
	var down []string
	down, out.termsDown = r.terms.down()
	for _, d := range down {
		t.Errorf("TERM WENT DOWN: %s", d)
	}
	tl.add("terms at the end: %s", r.terms.latest())

	// Snapshots.
	if r.snaps != nil {
		r.snaps.close()
		events, err := r.snaps.classify()
		if err != nil {
			t.Errorf("counting snapshots: %v", err)
		}
		out.snapshots = events
	}
	return out
}

// lines reports what the checks found.
func (o runOutcome) lines(w *workload) []string {
	var lines []string
	lines = append(lines, "operations (kind outcome: count):")
	for _, s := range w.summary() {
		lines = append(lines, "  "+s)
	}
	violations := 0
	if o.lin.result == porcupine.Illegal {
		violations = 1
	}
	lines = append(lines,
		fmt.Sprintf("linearizability: %s (%d operations on %d keys, checked in %v)", o.lin.result, o.lin.ops, registers, o.lin.took),
		fmt.Sprintf("unknown outcomes: %d (committed: %d, never took effect: %d, per the watch history)", o.lin.unknowns, o.lin.resolved.committed, o.lin.resolved.absent),
		fmt.Sprintf("linearizability violations: %d", violations),
		fmt.Sprintf("index order violations: %d (over %d indexed answers)", o.idxViolations, o.idxChecked),
		fmt.Sprintf("anomalous answers: %d", o.anomalies),
		fmt.Sprintf("crashes: %d", o.crashes),
		fmt.Sprintf("members serving a store behind acknowledged writes right after a restart: %d", o.stale),
		fmt.Sprintf("durable writes acknowledged: %d; lost writes: %d", w.durableCount(), o.lost),
		fmt.Sprintf("stores (state-machine safety): %s", o.stores),
		fmt.Sprintf("terms seen to go down: %d times", o.termsDown),
	)
	if o.snapshots != nil {
		lines = append(lines, fmt.Sprintf("snapshots: %s", countSnapshots(o.snapshots, 0, 0)))
	}
	return lines
}

// checkDurability checks, once the cluster is quiet, that every member
// (not excluded) holds the same store and history (compareStores), that
// every acknowledged durable write is on every member, and that each
// member's history has it at its index. It returns the number of lost
// writes and the comparison.
func checkDurability(t *testing.T, c *cluster, w *workload, tl *timeline, end uint64) (int, storeCheck) {
	t.Helper()
	if _, err := c.waitHealthy(healthTimeout); err != nil {
		t.Errorf("durability: the cluster is not healthy at the end: %v", err)
		return 0, storeCheck{}
	}
	index, err := c.waitConverged(healthTimeout)
	if err != nil {
		t.Errorf("durability: %v", err)
		return 0, storeCheck{}
	}
	tl.add("every member at store index %d", index)
	sc := compareStores(t, c, end)
	tl.add("stores: %s", sc)
	if !sc.read {
		return 0, sc
	}

	w.mu.Lock()
	acks := append([]durableAck(nil), w.durable...)
	w.mu.Unlock()
	sort.Slice(acks, func(i, j int) bool { return acks[i].Index < acks[j].Index })

	lostKeys := map[string]bool{}
	var lostLines []string
	lose := func(key, format string, args ...any) {
		lostKeys[key] = true
		if len(lostLines) < 40 {
			lostLines = append(lostLines, fmt.Sprintf(format, args...))
		}
	}
	for i, m := range sc.live {
		byIndex := map[uint64]testnode.Event{}
		for _, e := range sc.histories[i] {
			byIndex[e.Index] = e
		}
		for _, a := range acks {
			if got, ok := sc.trees[i][a.Key]; !ok || got != a.Value {
				lose(a.Key, "%s: acknowledged %s=%s at index %d, found %q (present: %v)", m.name, a.Key, a.Value, a.Index, got, ok)
			}
			if e, ok := byIndex[a.Index]; !ok || e.Action != "SET" || e.Key != a.Key || e.Value != a.Value {
				lose(a.Key, "%s: acknowledged %s=%s at index %d; its history has there %+v (present: %v)", m.name, a.Key, a.Value, a.Index, e, ok)
			}
		}
	}
	for _, l := range lostLines {
		t.Errorf("LOST WRITE: %s", l)
	}
	tl.add("durability: %d acknowledged writes checked on %d members (listing and history at index), %d lost", len(acks), len(sc.live), len(lostKeys))
	return len(lostKeys), sc
}

// kindLines reports counts per kind, in the order given.
func kindLines(order []string, counts map[string]int) []string {
	var out []string
	for _, k := range order {
		out = append(out, fmt.Sprintf("  %s: %d", k, counts[k]))
	}
	return out
}

// indent prefixes each line.
func indent(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = "  " + l
	}
	return out
}

// report logs the summary and keeps it for the evidence.
func (r *run) report(lines []string) {
	summary := strings.Join(lines, "\n")
	r.ev.summary = summary
	r.t.Logf("summary:\n%s", summary)
	if r.cfg.artifacts != "" {
		r.ev.saveAll()
	}
}
