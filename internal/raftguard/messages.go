package raftguard

import (
	"errors"
	"log"
	"net/http"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/raftdisk"
)

// Vote answers a candidate's request for this node's vote.
func (g *Guard) Vote(req *raft.RequestVoteRequest) (*raft.RequestVoteResponse, error) {
	g.messages.RLock()
	defer g.messages.RUnlock()
	// Refusals answer with the recorded term: goraft's may be changing.
	floor, _ := g.terms.Recorded()
	if req.Term < floor {
		return &raft.RequestVoteResponse{Term: floor}, nil
	}
	// A candidate that is not a member here and whose log is behind could
	// not have this vote anyway; goraft would still take its term first,
	// deposing a healthy leader.
	if !g.quorum.isMember(req.CandidateName) && g.logAheadOf(req.LastLogIndex, req.LastLogTerm) {
		return &raft.RequestVoteResponse{Term: floor}, nil
	}
	if g.leaseHeld(time.Now()) {
		return &raft.RequestVoteResponse{Term: floor}, nil
	}
	g.sawTerm(req.Term)
	resp := g.raft.RequestVote(req)
	if resp == nil {
		return nil, ErrStopped
	}
	// The vote counts only once it would survive a restart.
	if resp.VoteGranted {
		if err := g.terms.ObserveVote(req.Term, req.CandidateName); err != nil {
			log.Printf("raft: withholding the vote for %s: %v", req.CandidateName, err)
			resp = &raft.RequestVoteResponse{Term: resp.Term}
		} else {
			g.quiet.Store(time.Now().UnixNano())
		}
	}
	return resp, g.recordTerm(resp.Term)
}

// PreVote answers whether this node would vote for req now, changing
// nothing: a candidate campaigns only once a majority says it would
// (elections.go). It answers with the recorded term, which goraft's
// reaches before any message in it leaves.
func (g *Guard) PreVote(req *raft.RequestVoteRequest) *raft.RequestVoteResponse {
	g.messages.RLock()
	defer g.messages.RUnlock()
	floor, _ := g.terms.Recorded()
	grant := req.Term > floor && !g.leaseHeld(time.Now()) && !g.logAheadOf(req.LastLogIndex, req.LastLogTerm)
	return &raft.RequestVoteResponse{Term: floor, VoteGranted: grant}
}

// Append hands goraft a leader's append.
func (g *Guard) Append(req *raft.AppendEntriesRequest) (*raft.AppendEntriesResponse, error) {
	g.messages.RLock()
	defer g.messages.RUnlock()
	if floor, _ := g.terms.Recorded(); req.Term < floor {
		// goraft's own answer to a deposed leader, in the term it must
		// learn; goraft never sees it, as its term may be behind the
		// recorded one for a moment (moveToTerm).
		last, _ := g.lastLog()
		return raftdisk.AppendResponse(floor, last, g.raft.CommitIndex(), false), nil
	}
	// A leader that receives an append of its own term asserts and exits:
	// two leaders in one term can only come from a faulty peer.
	if g.raft.State() == raft.Leader && req.Term == g.raft.Term() {
		return nil, refuse("this node leads the term of the request")
	}
	seen := g.leader.changesSeen()
	g.sawTerm(req.Term)
	resp := g.disk.Append(g.raft, req)
	if resp == nil {
		return nil, ErrStopped
	}
	if err := g.recordTerm(resp.Term()); err != nil {
		return nil, err
	}
	// goraft learns a leader of its own term from an append without telling
	// its listeners.
	if resp.Term() == req.Term {
		g.leader.learned(seen, req.LeaderName)
		g.heardLeader(time.Now())
	}
	return resp, nil
}

// Snapshot answers a leader's announcement of a snapshot. goraft enters a
// state it may never leave on any snapshot request (it carries no term),
// so only the current leader may send one; a member that knows no leader
// yet (it has just restarted, or joined a cluster whose log no longer
// starts at the beginning) hears first from its leader this way.
func (g *Guard) Snapshot(req *raft.SnapshotRequest) (*raft.SnapshotResponse, error) {
	g.messages.RLock()
	defer g.messages.RUnlock()
	seen := g.leader.changesSeen()
	leader := g.leader.name()
	if req.LeaderName == "" || req.LeaderName == g.name || (req.LeaderName != leader && (leader != "" || !g.quorum.isMember(req.LeaderName))) {
		return nil, refuse("snapshot requests are taken only from the current leader")
	}
	// A snapshot that ends where this node has committed would take its
	// store back: it already holds all of it.
	if req.LastIndex <= g.raft.CommitIndex() {
		return &raft.SnapshotResponse{Success: false}, nil
	}
	g.leader.learned(seen, req.LeaderName)
	g.heardLeader(time.Now())
	// goraft's snapshotting state handles no snapshot request: a leader
	// whose snapshot failed to arrive once would announce it again, and
	// this node would wait for it for good. It is already waiting: say so.
	if g.raft.State() == raft.Snapshotting {
		return &raft.SnapshotResponse{Success: true}, nil
	}
	resp := g.raft.RequestSnapshot(req)
	if resp == nil {
		return nil, ErrStopped
	}
	return resp, nil
}

// AcceptSnapshotFrom reports whether a snapshot's state, or the message
// that installs it, may come from leader now: the current leader, which
// announced the snapshot.
func (g *Guard) AcceptSnapshotFrom(leader string) error {
	if leader == "" || leader != g.leader.name() || g.raft.State() != raft.Snapshotting {
		return refuse("no snapshot was announced by the current leader")
	}
	g.heardLeader(time.Now())
	return nil
}

// InstallSnapshot hands goraft the snapshot its leader announced. goraft
// sets its term to the snapshot's last term, which can be older than its
// own: the recorded term is given back before any other message reaches
// goraft, or a deposed leader of a term in between would be followed. An
// error other than a Refusal means the snapshot could not be made durable.
func (g *Guard) InstallSnapshot(req *raft.SnapshotRecoveryRequest) (*raft.SnapshotRecoveryResponse, error) {
	g.messages.Lock()
	defer g.messages.Unlock()
	if err := g.AcceptSnapshotFrom(req.LeaderName); err != nil {
		return nil, err
	}
	// raftdisk answers a snapshot that ends where this node has committed
	// without goraft, which would take the store back, or panic.
	resp, err := g.disk.InstallSnapshot(g.raft, req)
	if err != nil {
		g.fail(err)
		return nil, err
	}
	if resp == nil {
		return nil, ErrStopped
	}
	// goraft moves its term without an event: forward is recorded, back
	// is undone.
	if err := g.recordTerm(g.raft.Term()); err != nil {
		return nil, err
	}
	g.terms.Restore(g.raft)
	g.heardLeader(time.Now())
	return resp, nil
}

// StatusOf is the HTTP status to answer for an error of the guard's.
func StatusOf(err error) int {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Status
	}
	return http.StatusServiceUnavailable
}
