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

// maxProposals bounds the proposals waiting for goraft at once: a Do that
// never commits holds its goroutine for good.
const maxProposals = 4096

// peerContacts records when each peer last answered this node in its
// current role: an answer to an append of the same term, or a granted vote.
type peerContacts struct {
	mu   sync.Mutex
	last map[string]time.Time
}

func newPeerContacts() *peerContacts {
	return &peerContacts{last: make(map[string]time.Time)}
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
