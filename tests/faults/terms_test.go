package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// Every member tells its raft term on its peer port (GET /term). The
// harness asks every member often, from outside any partition, and holds
// two things against what it sees: a member's term never goes down, not
// even across a restart (the node persists it); and, per fault, how far the
// cluster's terms rose, which the report gives per kind of fault and which
// a schedule may bound.

// termSampleEvery is how often each member is asked; termSampleFast how
// often while it installs a snapshot (goraft's snapshotting state), which
// may set its term back until the leader's next append (issue 16's first
// defect) for a few milliseconds.
const (
	termSampleEvery = 100 * time.Millisecond
	termSampleFast  = 2 * time.Millisecond
)

// raftPosition is the body of GET /term.
type raftPosition struct {
	Term         uint64 `json:"term"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	CommitIndex  uint64 `json:"commitIndex"`
	LastLogIndex uint64 `json:"lastLogIndex"`
	LastLogTerm  uint64 `json:"lastLogTerm"`
}

// memberTerms is what was seen of one member.
type memberTerms struct {
	last    raftPosition
	answers int
	maxTerm uint64
	maxAt   time.Duration
	below   bool // the last answer was below maxTerm
	// changes is every change of term or state, for the evidence.
	changes []string
}

// termWatch asks every member for its term until stopped.
type termWatch struct {
	tl      *timeline
	members []*member
	client  *http.Client
	tr      *http.Transport
	stop    chan struct{}
	wg      sync.WaitGroup

	pokes map[*member]chan struct{} // ask the member now

	mu sync.Mutex
	by map[*member]*memberTerms
	// The highest term and last log term any member answered, ever.
	maxTerm, maxLastLogTerm uint64
	regressions             []string
	regressionCount         int
}

// watchTerms starts asking each of members for its term every
// termSampleEvery; stop ends it.
func watchTerms(tl *timeline, members []*member) *termWatch {
	tr := testnode.NewTransport()
	tw := &termWatch{
		tl:      tl,
		members: members,
		tr:      tr,
		client:  testnode.NewClient(tr, 3*termSampleEvery),
		stop:    make(chan struct{}),
		by:      map[*member]*memberTerms{},
		pokes:   map[*member]chan struct{}{},
	}
	for _, m := range members {
		tw.by[m] = &memberTerms{}
		tw.pokes[m] = make(chan struct{}, 1)
	}
	for _, m := range members {
		tw.wg.Add(1)
		go func() {
			defer tw.wg.Done()
			next := time.NewTimer(0)
			defer next.Stop()
			for {
				select {
				case <-tw.stop:
					return
				case <-next.C:
				case <-tw.pokes[m]:
					next.Stop()
				}
				if tw.sample(m) == "snapshotting" {
					next.Reset(termSampleFast)
				} else {
					next.Reset(termSampleEvery)
				}
			}
		}()
	}
	return tw
}

// close stops the sampling; it may be called more than once.
func (tw *termWatch) close() {
	select {
	case <-tw.stop:
		return
	default:
	}
	close(tw.stop)
	tw.wg.Wait()
	tw.tr.CloseIdleConnections()
}

// poke has m asked at once: it has just written a snapshot file, which
// it does, when it installs one, right after goraft set its term to the
// snapshot's.
func (tw *termWatch) poke(m *member) {
	if ch, ok := tw.pokes[m]; ok {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// sample asks m once and returns its state, "" when it does not answer
// (it is down or paused).
func (tw *termWatch) sample(m *member) string {
	if !m.serving() {
		return ""
	}
	resp, err := tw.client.Get(m.peerURL() + "/term")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var pos raftPosition
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&pos) != nil {
		return ""
	}
	tw.record(m, pos, time.Since(tw.tl.start))
	return pos.State
}

// record notes an answer of m at time at (since the start of the run).
func (tw *termWatch) record(m *member, pos raftPosition, at time.Duration) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	mt := tw.by[m]
	// A term below the highest the member answered starts a regression,
	// counted once however many answers it lasts.
	if pos.Term < mt.maxTerm && !mt.below {
		tw.regressionCount++
		if len(tw.regressions) < 20 {
			tw.regressions = append(tw.regressions, fmt.Sprintf("%s answered term %d (%s) at t=%.3fs, after term %d at t=%.3fs",
				m.name, pos.Term, pos.State, at.Seconds(), mt.maxTerm, mt.maxAt.Seconds()))
		}
	}
	mt.below = pos.Term < mt.maxTerm
	if mt.answers == 0 || pos.Term != mt.last.Term || pos.State != mt.last.State {
		mt.changes = append(mt.changes, fmt.Sprintf("t=%7.3fs term %d %s (leader %q, last log entry %d of term %d, commit %d)",
			at.Seconds(), pos.Term, pos.State, pos.Leader, pos.LastLogIndex, pos.LastLogTerm, pos.CommitIndex))
	}
	mt.answers++
	mt.last = pos
	if pos.Term > mt.maxTerm {
		mt.maxTerm, mt.maxAt = pos.Term, at
	}
	tw.maxTerm = max(tw.maxTerm, pos.Term)
	tw.maxLastLogTerm = max(tw.maxLastLogTerm, pos.LastLogTerm)
}

// termMark is the highest term and last log term seen by a moment.
type termMark struct{ term, lastLogTerm uint64 }

// mark asks every member at once and returns the highest terms seen so
// far: the start or the end of a fault's window.
func (tw *termWatch) mark() termMark {
	var wg sync.WaitGroup
	for _, m := range tw.members {
		wg.Add(1)
		go func() { defer wg.Done(); tw.sample(m) }()
	}
	wg.Wait()
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return termMark{tw.maxTerm, tw.maxLastLogTerm}
}

// highest is the highest term and term of a last log entry seen.
func (tw *termWatch) highest() (term, lastLogTerm uint64) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.maxTerm, tw.maxLastLogTerm
}

// down lists the times a member's term was seen to go down, and counts
// them.
func (tw *termWatch) down() ([]string, int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return append([]string(nil), tw.regressions...), tw.regressionCount
}

// latest is each member's last answer, "name: term T, last log term L".
func (tw *termWatch) latest() string {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var s []string
	for _, m := range tw.members {
		mt := tw.by[m]
		s = append(s, fmt.Sprintf("%s term %d (last log term %d, %d answers)", m.name, mt.last.Term, mt.last.LastLogTerm, mt.answers))
	}
	return strings.Join(s, ", ")
}

// evidence is every member's changes of term and state.
func (tw *termWatch) evidence() string {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	var b strings.Builder
	for _, m := range tw.members {
		fmt.Fprintf(&b, "== %s\n%s\n", m.name, strings.Join(tw.by[m].changes, "\n"))
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Growth per kind of fault

// growth is how far the terms rose over the windows of one kind of fault.
type growth struct {
	count                   int
	term, lastLogTerm       uint64 // summed over the windows
	maxTerm, maxLastLogTerm uint64 // in one window
	windowsLast             []uint64
}

// growthTable is the growth per kind, in the order kinds first came.
type growthTable struct {
	order []string
	by    map[string]*growth
}

func newGrowthTable() *growthTable { return &growthTable{by: map[string]*growth{}} }

// add notes one window of kind, from mark from to mark to, and returns
// the rise.
func (gt *growthTable) add(kind string, from, to termMark) termMark {
	g := gt.by[kind]
	if g == nil {
		g = &growth{}
		gt.by[kind] = g
		gt.order = append(gt.order, kind)
	}
	dt, dl := to.term-from.term, to.lastLogTerm-from.lastLogTerm
	g.count++
	g.term += dt
	g.lastLogTerm += dl
	g.maxTerm = max(g.maxTerm, dt)
	g.maxLastLogTerm = max(g.maxLastLogTerm, dl)
	g.windowsLast = append(g.windowsLast, dl)
	return termMark{dt, dl}
}

// lines reports the table, one kind a line.
func (gt *growthTable) lines() []string {
	var out []string
	for _, k := range gt.order {
		g := gt.by[k]
		out = append(out, fmt.Sprintf("%s: %d, term +%d (at most +%d in one), last log term +%d (at most +%d in one; per window %v)",
			k, g.count, g.term, g.maxTerm, g.lastLogTerm, g.maxLastLogTerm, g.windowsLast))
	}
	return out
}
