package raftdisk

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

// FenceCandidate is the vote cast to move to a term without helping any
// candidate: a name no member has.
const FenceCandidate = "\x00no candidate"

// TermRecord persists what Raft requires to survive a restart: the highest
// term this node has seen and whom it voted for in it. goraft forgets both,
// so a restarted node could vote twice in one term, or take entries from a
// deposed leader, and two leaders could share a term. Everything that moves
// the term or casts a vote records it here before any peer hears of it.
type TermRecord struct {
	path string

	mu     sync.Mutex
	stored termState
}

// termState is the term file's content.
type termState struct {
	Term     uint64 `json:"term"`
	VotedFor string `json:"votedFor"`
}

func loadTermRecord(dataDir string) (*TermRecord, error) {
	r := &TermRecord{path: filepath.Join(dataDir, termFile)}
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read raft term: %w", err)
	}
	if err := json.Unmarshal(b, &r.stored); err != nil {
		return nil, fmt.Errorf("raft term file %s is corrupt (use -f to start afresh): %w", r.path, err)
	}
	return r, nil
}

// ReadTerm reads the term and vote recorded in dataDir.
func ReadTerm(dataDir string) (term uint64, votedFor string, err error) {
	r, err := loadTermRecord(dataDir)
	if err != nil {
		return 0, "", err
	}
	return r.stored.Term, r.stored.VotedFor, nil
}

// Recorded returns the highest term recorded and the vote cast in it ("" for
// none).
func (r *TermRecord) Recorded() (term uint64, votedFor string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stored.Term, r.stored.VotedFor
}

// Advance records term, with a vote for no candidate, unless a term as high
// is recorded already; it returns the term and vote to hand goraft, the
// recorded ones when they are as high.
func (r *TermRecord) Advance(term uint64) (uint64, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if term > r.stored.Term {
		if err := r.saveLocked(term, FenceCandidate); err != nil {
			return 0, "", err
		}
	}
	vote := r.stored.VotedFor
	if vote == "" {
		vote = FenceCandidate
	}
	return r.stored.Term, vote, nil
}

// ObserveTerm records a term adopted without a vote.
func (r *TermRecord) ObserveTerm(term uint64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if term <= r.stored.Term {
		return nil
	}
	return r.saveLocked(term, "")
}

// ObserveVote records a vote for candidate in term.
func (r *TermRecord) ObserveVote(term uint64, candidate string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case term < r.stored.Term:
		return fmt.Errorf("vote in term %d after term %d was recorded", term, r.stored.Term)
	case term == r.stored.Term && r.stored.VotedFor == candidate:
		return nil
	case term == r.stored.Term && r.stored.VotedFor != "":
		return fmt.Errorf("second vote in term %d: for %q after %q", term, candidate, r.stored.VotedFor)
	}
	return r.saveLocked(term, candidate)
}

func (r *TermRecord) saveLocked(term uint64, votedFor string) error {
	next := termState{Term: term, VotedFor: votedFor}
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := WriteFileSynced(r.path, b); err != nil {
		return fmt.Errorf("save raft term: %w", err)
	}
	r.stored = next
	return nil
}

// Restore gives goraft the term and vote recorded, unless goraft is past
// them: at start-up, as goraft forgets both, and after a snapshot install,
// which sets goraft's term to the snapshot's last term. It is a vote
// request for the recorded candidate (or for nobody) in the recorded term,
// with a log no one can beat.
func (r *TermRecord) Restore(srv raft.Server) {
	term, candidate := r.Recorded()
	if term == 0 || srv.Term() > term {
		return
	}
	if candidate == "" {
		candidate = FenceCandidate
	}
	MoveToTerm(srv, term, candidate)
}

// MoveToTerm makes goraft adopt term, as a follower that voted for
// candidate in it: goraft offers no other way to set its term.
func MoveToTerm(srv raft.Server, term uint64, candidate string) {
	srv.RequestVote(&raft.RequestVoteRequest{
		Term:          term,
		CandidateName: candidate,
		LastLogIndex:  math.MaxUint64,
		LastLogTerm:   math.MaxUint64,
	})
}
