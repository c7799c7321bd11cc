package main

import (
	"errors"
	"sync"
	"time"
)

// errNoQuorum is a leader cut off from most of its cluster: goraft has no
// check-quorum, so such a leader would go on proposing entries that can
// never commit, each holding a goroutine and a log entry.
var errNoQuorum = errors.New("raft: this leader has not heard from a majority of the members for an election timeout; nothing was proposed")

// errTooManyProposals is a leader with as many proposals waiting for a
// quorum as it keeps.
var errTooManyProposals = errors.New("raft: too many writes are waiting for the cluster; nothing was proposed")

// maxProposals bounds the proposals waiting for goraft at once, and the
// writes queued for the next batch: a Do that never commits holds its
// goroutine for good.
const maxProposals = 4096

// peerContacts records when each peer last answered this node in its
// current role: an answer to an append of the same term, or a granted vote;
// and, from its last answer to an append, how long its log is and how far
// it has applied it.
type peerContacts struct {
	mu      sync.Mutex
	last    map[string]time.Time
	logEnd  map[string]uint64
	applied map[string]uint64
}

func newPeerContacts() *peerContacts {
	return &peerContacts{last: make(map[string]time.Time), logEnd: make(map[string]uint64), applied: make(map[string]uint64)}
}

// appended records a peer's answer to an append: the index of its log's
// last entry, and its commit index, up to which goraft has applied the log
// (it applies each entry as it commits it).
func (c *peerContacts) appended(peer string, logEnd, commit uint64) {
	c.mu.Lock()
	c.logEnd[peer] = logEnd
	c.applied[peer] = max(c.applied[peer], commit)
	c.mu.Unlock()
}

// forget drops what is known of a removed peer: the same name may join
// again, with another log.
func (c *peerContacts) forget(peer string) {
	c.mu.Lock()
	delete(c.last, peer)
	delete(c.logEnd, peer)
	delete(c.applied, peer)
	c.mu.Unlock()
}

// notApplied lists the peers among names that answered after since and
// hold the entry at index, but have not applied it yet.
func (c *peerContacts) notApplied(names []string, index uint64, since time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var behind []string
	for _, name := range names {
		if c.applied[name] < index && c.logEnd[name] >= index && c.last[name].After(since) {
			behind = append(behind, name)
		}
	}
	return behind
}

func (c *peerContacts) answered(peer string, at time.Time) {
	c.mu.Lock()
	if at.After(c.last[peer]) {
		c.last[peer] = at
	}
	c.mu.Unlock()
}

// heardSince counts the peers among names that answered after since.
func (c *peerContacts) heardSince(names []string, since time.Time) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, name := range names {
		if c.last[name].After(since) {
			n++
		}
	}
	return n
}

// checkQuorum refuses to propose on a leader that has not heard from a
// majority of the members (itself included) for quorumSilence.
func (s *raftServer) checkQuorum() error {
	names := s.members.names()
	if len(names) <= 1 {
		return nil
	}
	heard := 1 + s.contacts.heardSince(names, time.Now().Add(-s.quorumSilence()))
	if heard < len(names)/2+1 {
		return errNoQuorum
	}
	return nil
}

// quorumSilence is how long a leader goes without an answer from a
// majority before it refuses writes: an election timeout past the deadline
// of an append (twice the election timeout). A follower that is alive but
// slow, with both cores busy, answers within that deadline; a shorter
// silence refused writes on a healthy loaded cluster.
func (s *raftServer) quorumSilence() time.Duration { return 3 * s.cfg.ElectionTimeout }
