package raftguard

import (
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goraft/raft"
)

// leaderView is goraft's leader as tracked here: goraft's Leader() reads
// it without a lock, and goraft learns a leader of its own term from an
// append without telling anyone.
type leaderView struct {
	mu    sync.Mutex
	named string
	seq   uint64    // leader changes goraft announced
	heard time.Time // when this node last heard from the leader named
	since time.Time // when the leader named became known

	// changes counts changes to a new known leader, however learned.
	changes uint64
}

// leaderChanged records a change of leader goraft announced, and for a
// leadership of this node's own, lastIndex, the index of its log's last
// entry then. goraft announces from its one event loop, in order.
func (g *Guard) leaderChanged(name string, lastIndex uint64) {
	if name == g.name {
		g.reads.elected(lastIndex)
	} else {
		g.reads.deposed()
	}
	l := &g.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.setLocked(name)
}

// LeaderChangesSeen is a mark to pass to LeaderLearned.
func (g *Guard) LeaderChangesSeen() uint64 { return g.leader.changesSeen() }

func (l *leaderView) changesSeen() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// LeaderLearned records the leader of a message goraft accepted in its own
// term, or that admitted this node to the cluster. seen is
// LeaderChangesSeen from before the message was handed to goraft: if
// goraft announced a change since, that announcement is as new or newer.
func (g *Guard) LeaderLearned(seen uint64, name string) { g.leader.learned(seen, name) }

func (l *leaderView) learned(seen uint64, name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seq == seen {
		l.setLocked(name)
	}
	if l.named == name {
		l.heard = time.Now()
	}
}

func (l *leaderView) setLocked(name string) {
	if name == l.named {
		return
	}
	l.named = name
	if name != "" {
		l.changes++
	}
	now := time.Now()
	l.heard, l.since = now, now
	if name == "" {
		log.Printf("raft: no leader (election in progress)")
	} else {
		log.Printf("raft: leader is now %q", name)
	}
}

func (l *leaderView) current() (name string, heard, since time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.named, l.heard, l.since
}

func (l *leaderView) name() string {
	name, _, _ := l.current()
	return name
}

// Leader is the current leader's name, "" when none is known.
func (g *Guard) Leader() string { return g.leader.name() }

// LeaderHeard is the current leader's name, and how long it has been since
// this node heard from it (0 for this node's own leadership).
func (g *Guard) LeaderHeard() (string, time.Duration) {
	name, heard, _ := g.leader.current()
	if name == g.name {
		return name, 0
	}
	return name, time.Since(heard)
}

// LeaderChanges is how many times this node learned of a new leader (a
// leader again after none counts too), as etcd counts leader changes seen.
func (g *Guard) LeaderChanges() uint64 {
	l := &g.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changes
}

// LeaderSince is when the current leader (or the lack of one) became
// known; zero before any.
func (g *Guard) LeaderSince() time.Time {
	_, _, since := g.leader.current()
	return since
}

// readGate keeps plain reads off a new leader until it has committed an
// entry of its own term: a new leader holds every acknowledged write, but
// applies those its predecessor committed only once it commits an entry
// itself.
type readGate struct {
	// electedAt is the log's last index when this node last became leader:
	// entries past it are of its own term.
	electedAt atomic.Uint64
	// waitBelow is, on a new leader, one past electedAt: reads wait until
	// the commit index reaches it. 0 once they need not.
	waitBelow atomic.Uint64
}

func (r *readGate) elected(lastIndex uint64) {
	r.electedAt.Store(lastIndex)
	r.waitBelow.Store(lastIndex + 1)
}

func (r *readGate) deposed() { r.waitBelow.Store(0) }

// behind reports whether this node leads and has not committed an entry
// of its term. leading and commitIndex read goraft: it applies entries
// under the lock CommitIndex takes, so what it shows is applied; and it
// announces a leadership, which sets waitBelow, under the lock State
// takes. Once caught up, a read costs one atomic load until the next
// election.
func (r *readGate) behind(leading func() bool, commitIndex func() uint64) bool {
	for {
		mark := r.waitBelow.Load()
		if mark == 0 || !leading() {
			return false
		}
		if commitIndex() < mark {
			return true
		}
		if r.waitBelow.CompareAndSwap(mark, 0) {
			return false
		}
		// Leadership was lost and won again meanwhile: the new mark is the
		// one to compare with.
	}
}

// LeaderBehind reports whether this node leads and has not yet committed
// an entry of its term, so that its store may lack acknowledged writes.
func (g *Guard) LeaderBehind() bool {
	return g.reads.behind(func() bool { return g.raft.State() == raft.Leader }, g.raft.CommitIndex)
}

// ElectedAt is the log's last index when this node last became leader:
// a commit index past it covers every entry acknowledged before.
func (g *Guard) ElectedAt() uint64 { return g.reads.electedAt.Load() }
