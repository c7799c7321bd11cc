package raftguard

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/goraft/raft"
)

// ErrNoQuorum is a leader cut off from most of its cluster: goraft has no
// check-quorum, so such a leader would go on proposing entries that can
// never commit, each holding a goroutine and a log entry.
var ErrNoQuorum = errors.New("raft: this leader has not heard from a majority of the members for an election timeout; nothing was proposed")

// quorumSilence is how long a leader goes without an answer from a
// majority before it refuses writes and steps down: an election timeout
// past the deadline of an append (twice the election timeout). A follower
// that is alive but slow, with both cores busy, answers within that
// deadline; a shorter silence refused writes on a healthy loaded cluster.
func (g *Guard) quorumSilence() time.Duration { return 3 * g.election }

// quorum is the membership as this node has applied it, and when each
// member last answered this node in its current role: an answer to an
// append of the same term, a granted vote, or its admission.
type quorum struct {
	self string

	mu      sync.Mutex
	members map[string]bool
	heard   map[string]time.Time
	// snapshotting counts the snapshot transfers in flight to each peer: a
	// peer being sent a snapshot answers nothing else meanwhile, and is
	// counted as heard from.
	snapshotting map[string]int
	// logEnd and applied are, from a peer's last answer to an append, the
	// index of its log's last entry and its commit index, up to which
	// goraft has applied its log.
	logEnd  map[string]uint64
	applied map[string]uint64
}

func newQuorum(self string) *quorum {
	return &quorum{
		self:         self,
		members:      make(map[string]bool),
		heard:        make(map[string]time.Time),
		snapshotting: make(map[string]int),
		logEnd:       make(map[string]uint64),
		applied:      make(map[string]uint64),
	}
}

func (q *quorum) isMember(name string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.members[name]
}

// others lists the members other than this node, sorted.
func (q *quorum) others() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var names []string
	for name := range q.members {
		if name != q.self {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// majority is how many members make a quorum, and how many there are.
func (q *quorum) majority() (need, members int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.members)/2 + 1, len(q.members)
}

func (q *quorum) answered(peer string, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if at.After(q.heard[peer]) {
		q.heard[peer] = at
	}
}

// heardMajority reports whether a majority of the members answered this
// node after since, this node counting for itself if it is a member (a
// leader that removed itself does not). A node that has applied no
// membership yet has no one to hear from.
func (q *quorum) heardMajority(since time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.members) == 0 {
		return true
	}
	heard := 0
	for name := range q.members {
		if name == q.self || q.heard[name].After(since) || q.snapshotting[name] > 0 {
			heard++
		}
	}
	return heard >= len(q.members)/2+1
}

// MemberAdded counts name as a member from now on, and as heard from: a
// member just admitted has had no chance to answer, and counting it silent
// made the leader refuse the next joins (and every write) until it did.
func (g *Guard) MemberAdded(name string) {
	q := g.quorum
	q.mu.Lock()
	q.members[name] = true
	q.mu.Unlock()
	q.answered(name, time.Now())
	g.StateChanged()
}

// MemberRemoved stops counting name, and forgets what it said: the name
// may join again, with another log.
func (g *Guard) MemberRemoved(name string) {
	q := g.quorum
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.members, name)
	delete(q.heard, name)
	delete(q.logEnd, name)
	delete(q.applied, name)
}

// SetMembers replaces the membership, after a snapshot replaced the store
// it is kept in. Members not known before count as heard from now.
func (g *Guard) SetMembers(names []string) {
	q := g.quorum
	now := time.Now()
	q.mu.Lock()
	members := make(map[string]bool, len(names))
	for _, name := range names {
		members[name] = true
		if !q.members[name] {
			q.heard[name] = now
		}
	}
	q.members = members
	q.mu.Unlock()
	g.StateChanged()
}

// CheckQuorum refuses a proposal on a leader that has not heard from a
// majority of the members for quorumSilence.
func (g *Guard) CheckQuorum() error {
	if !g.quorum.heardMajority(time.Now().Add(-g.quorumSilence())) {
		return ErrNoQuorum
	}
	return nil
}

// VoteAnswered records a peer's answer to this node's vote request.
func (g *Guard) VoteAnswered(peer string, resp *raft.RequestVoteResponse) {
	g.sawTerm(resp.Term)
	if resp.VoteGranted {
		g.quorum.answered(peer, time.Now())
	}
}

// AppendAnswered records a peer's answer to this node's append.
func (g *Guard) AppendAnswered(peer string, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) {
	g.sawTerm(resp.Term())
	if resp.Term() != req.Term {
		return
	}
	q := g.quorum
	q.answered(peer, time.Now())
	q.mu.Lock()
	q.logEnd[peer] = resp.Index()
	q.applied[peer] = max(q.applied[peer], resp.CommitIndex())
	q.mu.Unlock()
}

// SnapshotSendStarts is told as a snapshot transfer to peer begins, and
// SnapshotSendEnds as it ends, answered or not.
func (g *Guard) SnapshotSendStarts(peer string) {
	q := g.quorum
	q.mu.Lock()
	q.snapshotting[peer]++
	q.mu.Unlock()
}

func (g *Guard) SnapshotSendEnds(peer string, answered bool) {
	q := g.quorum
	q.mu.Lock()
	if q.snapshotting[peer]--; q.snapshotting[peer] <= 0 {
		delete(q.snapshotting, peer)
	}
	q.mu.Unlock()
	if answered {
		q.answered(peer, time.Now())
	}
}

// NotApplied lists the peers among names that answered within
// quorumSilence and hold the entry at index, but have not applied it yet.
func (g *Guard) NotApplied(names []string, index uint64) []string {
	q := g.quorum
	since := time.Now().Add(-g.quorumSilence())
	q.mu.Lock()
	defer q.mu.Unlock()
	var behind []string
	for _, name := range names {
		if q.applied[name] < index && q.logEnd[name] >= index && q.heard[name].After(since) {
			behind = append(behind, name)
		}
	}
	return behind
}

// BeforeVoteRequest records this node's vote for itself before it asks any
// peer for a vote, and stops the campaign of a node that is not a member.
func (g *Guard) BeforeVoteRequest(req *raft.RequestVoteRequest) error {
	if !g.quorum.isMember(g.name) {
		return errNotMember
	}
	return g.terms.ObserveVote(req.Term, req.CandidateName)
}
