package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"

	"github.com/goraft/raft"
)

// termFile holds the raft term and vote, which goraft keeps only in memory.
const termFile = "term"

// fenceCandidate is the vote a restarted node casts in a term in which it
// had not voted: a name no member has, so the vote helps nobody.
const fenceCandidate = "\x00no candidate"

// termRecord persists what Raft requires to survive a restart: the highest
// term this node has seen and whom it voted for in it. goraft forgets both,
// so a restarted node could vote twice in one term, or take entries from a
// deposed leader, and two leaders could share a term. Everything that moves
// the term or casts a vote records it here before any peer hears of it.
type termRecord struct {
	path string

	mu       sync.Mutex
	Term     uint64 `json:"term"`
	VotedFor string `json:"votedFor"`
}

func loadTermRecord(dataDir string) (*termRecord, error) {
	r := &termRecord{path: filepath.Join(dataDir, termFile)}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read raft term: %w", err)
	}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("raft term file %s is corrupt (use -f to start afresh): %w", r.path, err)
	}
	return r, nil
}

// observeTerm records a term adopted without a vote.
func (r *termRecord) observeTerm(term uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if term <= r.Term {
		return nil
	}
	return r.saveLocked(term, "")
}

// observeVote records a vote for candidate in term.
func (r *termRecord) observeVote(term uint64, candidate string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case term < r.Term:
		return fmt.Errorf("vote in term %d after term %d was recorded", term, r.Term)
	case term == r.Term && r.VotedFor == candidate:
		return nil
	case term == r.Term && r.VotedFor != "":
		return fmt.Errorf("second vote in term %d: for %q after %q", term, candidate, r.VotedFor)
	}
	return r.saveLocked(term, candidate)
}

func (r *termRecord) saveLocked(term uint64, votedFor string) error {
	b, err := json.Marshal(struct {
		Term     uint64 `json:"term"`
		VotedFor string `json:"votedFor"`
	}{term, votedFor})
	if err != nil {
		return err
	}
	if err := writeFileSynced(r.path, b); err != nil {
		return fmt.Errorf("save raft term: %w", err)
	}
	r.Term, r.VotedFor = term, votedFor
	return nil
}

// restore gives a freshly started goraft server the term and vote it had
// before the restart: a vote request for the recorded candidate (or for
// nobody) in the recorded term, with a log no one can beat.
func (r *termRecord) restore(srv raft.Server) {
	r.mu.Lock()
	term, candidate := r.Term, r.VotedFor
	r.mu.Unlock()
	if term == 0 {
		return
	}
	if candidate == "" {
		candidate = fenceCandidate
	}
	moveToTerm(srv, term, candidate)
}

// moveToTerm makes goraft adopt term, as a follower that voted for
// candidate in it: goraft offers no other way to set its term.
func moveToTerm(srv raft.Server, term uint64, candidate string) {
	srv.RequestVote(&raft.RequestVoteRequest{
		Term:          term,
		CandidateName: candidate,
		LastLogIndex:  math.MaxUint64,
		LastLogTerm:   math.MaxUint64,
	})
}
