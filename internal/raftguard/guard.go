package raftguard

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/notify"
	"github.com/etcd-recreation/etcd/internal/raftdisk"
)

// noCampaign is goraft's election timeout whenever the guard does not let
// it campaign: goraft campaigns when its timer fires, and it is the guard
// that decides when a member campaigns (elections.go).
const noCampaign = 365 * 24 * time.Hour

// Transport carries the guard's own messages to the other members.
type Transport interface {
	// PreVote asks member whether it would vote for req now, without
	// changing anything there. It returns within an election timeout.
	PreVote(member string, req *raft.RequestVoteRequest) (*raft.RequestVoteResponse, error)
}

// Config is what a Guard is built from.
type Config struct {
	// Raft is the goraft server, built and initialised but not started.
	Raft raft.Server
	// Disk is the data directory goraft runs in.
	Disk *raftdisk.Dir
	// Transport sends pre-votes.
	Transport Transport
	// ElectionTimeout is the shortest time without a leader after which a
	// member campaigns.
	ElectionTimeout time.Duration
}

// Guard stands between goraft and everything that can change its state:
// the messages of peers, its elections, and its own snapshot installs. See
// the package comment for what it keeps true.
type Guard struct {
	raft      raft.Server
	disk      *raftdisk.Dir
	terms     *raftdisk.TermRecord
	transport Transport
	name      string
	election  time.Duration

	// messages is held shared by every message handed to goraft, and
	// alone by a snapshot install: goraft's install moves its term back,
	// and no message may see that term before the guard restores it.
	messages sync.RWMutex

	quorum *quorum
	leader leaderView
	reads  readGate

	// termSeen is the highest term this node has handed goraft or seen in
	// a peer's answer; termRaised is announced when it rises. A leader's
	// held heartbeats let go when it rises above their term, as goraft
	// steps down only once they have.
	termSeen   atomic.Uint64
	termRaised notify.Broadcast

	// leaderHeard is when a leader of this node's term last reached it
	// (UnixNano): an append goraft took as its leader's, or a snapshot.
	leaderHeard atomic.Int64
	// quiet is when this node last heard from a leader, granted a vote, or
	// began a campaign (UnixNano): it campaigns after an election timeout
	// of quiet.
	quiet atomic.Int64
	// stateChanged wakes the election loop when goraft changes state.
	stateChanged chan struct{}
	// refusedLogged is when the election loop last said it may not
	// campaign.
	refusedLogged time.Time

	failed   chan error
	failOnce sync.Once
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New builds the guard of a goraft server that has not started yet: it
// keeps the server from campaigning on its own, and listens to it. Build it
// before goraft replays its log, as applied joins and snapshots tell the
// guard the membership.
func New(cfg Config) *Guard {
	g := &Guard{
		raft:         cfg.Raft,
		disk:         cfg.Disk,
		terms:        cfg.Disk.Terms(),
		transport:    cfg.Transport,
		name:         cfg.Raft.Name(),
		election:     cfg.ElectionTimeout,
		quorum:       newQuorum(cfg.Raft.Name()),
		stateChanged: make(chan struct{}, 1),
		failed:       make(chan error, 1),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	g.raft.SetElectionTimeout(noCampaign)
	g.quiet.Store(time.Now().UnixNano())
	// goraft runs its listeners in its event loop, under its own lock:
	// they may read the log, but must not call goraft's other getters.
	g.raft.AddEventListener(raft.TermChangeEventType, func(e raft.Event) { g.termChanged(e.Value().(uint64)) })
	g.raft.AddEventListener(raft.StateChangeEventType, func(raft.Event) { g.StateChanged() })
	g.raft.AddEventListener(raft.LeaderChangeEventType, func(e raft.Event) {
		last, _ := g.lastLog()
		g.leaderChanged(e.Value().(string), last)
	})
	return g
}

// Start gives goraft, once started, the term and vote it had before a
// restart, and starts the elections. Call it before any peer can reach the
// node.
func (g *Guard) Start() {
	g.terms.Restore(g.raft)
	go g.runElections()
}

// Stop ends the elections; call it before goraft is stopped.
func (g *Guard) Stop() {
	g.stopOnce.Do(func() { close(g.stop) })
	<-g.done
}

// Failures delivers the error after which the node can no longer keep
// what it promised (a term or vote it could not record): it must stop.
func (g *Guard) Failures() <-chan error { return g.failed }

func (g *Guard) fail(err error) {
	g.failOnce.Do(func() { g.failed <- err })
}

// Refusal is a message the guard refused before goraft saw it. Status is
// the HTTP status to answer with.
type Refusal struct {
	Status int
	Reason string
}

func (r *Refusal) Error() string { return r.Reason }

func refuse(format string, args ...any) *Refusal {
	return &Refusal{Status: http.StatusConflict, Reason: fmt.Sprintf(format, args...)}
}

// ErrStopped is a message that reached goraft after it stopped.
var ErrStopped = &Refusal{Status: http.StatusServiceUnavailable, Reason: "raft is not running"}

// errNotMember stops a campaign of a node that is not a member.
var errNotMember = errors.New("this node is not a member of the cluster (removed, or its join is not applied yet)")

// recordTerm makes term durable before an answer that carries it leaves.
// goraft moves to a new term without telling anyone when it campaigns, and
// may answer in that term before the campaign's vote is recorded, so every
// answer's term is recorded here if it is not yet. A node that cannot
// record its term fails.
func (g *Guard) recordTerm(term uint64) error {
	if err := g.terms.ObserveTerm(term); err != nil {
		g.fail(err)
		return &Refusal{Status: http.StatusServiceUnavailable, Reason: "this node cannot record its term: " + err.Error()}
	}
	return nil
}

// termChanged records a term goraft moved to. goraft calls its listeners
// before it answers the message that carried the term.
func (g *Guard) termChanged(term uint64) {
	if err := g.terms.ObserveTerm(term); err != nil {
		g.fail(err)
	}
}

// StateChanged wakes the election loop: goraft changed state, or the
// membership changed.
func (g *Guard) StateChanged() {
	select {
	case g.stateChanged <- struct{}{}:
	default:
	}
}

// sawTerm raises termSeen to term, waking held heartbeats when it rises.
func (g *Guard) sawTerm(term uint64) {
	for {
		old := g.termSeen.Load()
		if term <= old {
			return
		}
		if g.termSeen.CompareAndSwap(old, term) {
			g.termRaised.Announce()
			return
		}
	}
}

// TermSeen is the highest term handed to goraft or seen in an answer.
func (g *Guard) TermSeen() uint64 { return g.termSeen.Load() }

// TermRaised returns a channel closed when TermSeen next rises.
func (g *Guard) TermRaised() <-chan struct{} { return g.termRaised.Wait() }

// moveToTerm makes goraft a follower in term (or in the recorded term, if
// that is higher), having recorded it first: the only way goraft offers to
// change its term from outside.
func (g *Guard) moveToTerm(term uint64) error {
	term, vote, err := g.terms.Advance(term)
	if err != nil {
		g.fail(err)
		return err
	}
	g.sawTerm(term)
	raftdisk.MoveToTerm(g.raft, term, vote)
	return nil
}

// position is goraft's term and state, the term read first (see raftdisk's
// RestartElectionTimer). goraft's candidate increments its term, and its
// snapshot install sets it, in its event loop without a lock: the term is
// read in the loop, as the answer to a vote request of term 0, which
// changes nothing (it grants a vote in term 0 to no candidate, at most,
// on a node whose log is empty); and not during an install, which moves
// the term back for a moment.
func (g *Guard) position() (term uint64, state string) {
	g.messages.RLock()
	defer g.messages.RUnlock()
	if resp := g.raft.RequestVote(&raft.RequestVoteRequest{CandidateName: raftdisk.FenceCandidate}); resp != nil {
		term = resp.Term
	}
	return term, g.raft.State()
}

// Term is goraft's current term.
func (g *Guard) Term() uint64 {
	term, _ := g.position()
	return term
}

// lastLog is the index and term of the log's last entry; the snapshot's
// index and a term of 0 when compaction left no entry.
func (g *Guard) lastLog() (index, term uint64) {
	if entries := g.raft.LogEntries(); len(entries) > 0 {
		last := entries[len(entries)-1]
		return last.Index(), last.Term()
	}
	return g.raft.CommitIndex(), 0
}

// logAheadOf reports whether this node's log is more up to date than a
// candidate's by goraft's vote rule (a later last index or a later last
// term); false when the log holds no entry to compare.
func (g *Guard) logAheadOf(lastIndex, lastTerm uint64) bool {
	entries := g.raft.LogEntries()
	if len(entries) == 0 {
		return false
	}
	last := entries[len(entries)-1]
	return last.Index() > lastIndex || last.Term() > lastTerm
}

// heardLeader records word from the leader of this node's term.
func (g *Guard) heardLeader(at time.Time) {
	g.leaderHeard.Store(at.UnixNano())
	g.quiet.Store(at.UnixNano())
}

// leaseHeld reports whether a leader is known to be alive, so that no
// vote may go to a candidate (the Raft dissertation, 4.2.3): this node
// follows a leader it heard from within the election timeout, or leads and
// has not stepped down for want of a majority (quorumSilence). A member
// that cannot hear its leader would otherwise depose a leader the others
// still follow.
func (g *Guard) leaseHeld(now time.Time) bool {
	if g.raft.State() == raft.Leader {
		return g.quorum.heardMajority(now.Add(-g.quorumSilence()))
	}
	return time.Unix(0, g.leaderHeard.Load()).After(now.Add(-g.election))
}

// logf logs a line of the guard's.
func logf(format string, args ...any) { log.Printf("raft: "+format, args...) }
