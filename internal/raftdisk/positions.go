package raftdisk

import (
	"sync"

	"github.com/goraft/raft"
)

// positions keeps goraft's record of where each entry starts in the log
// file right. goraft gets it wrong for the entries a follower receives in
// one append (it leaves out each record's 9-byte header) and for the entries
// a compaction keeps (it gives them all the old file's size). It relies on
// those positions only to cut a follower's log back when a new leader
// replaces its tail: a wrong one cuts into a committed record or leaves a
// hole, and the log no longer reads back after a restart. So after every
// append from a leader, and every compaction, the positions that may be
// wrong are worked out again from the records' sizes.
//
// A snapshot does not hold appends back: saving a large store takes longer
// than an election timeout. goraft's TakeSnapshot saves the state machine
// first, without a lock, and only then compacts, under the log's lock;
// the state machine saves through Dir.SaveState, which says when it is
// done. While the state is saved, appends go on as at any other time, cuts
// and fixes included. From then until TakeSnapshot returns (a short time:
// goraft writes the snapshot and the few entries it keeps), appends go on
// without the fix, which would race with the compaction's own writes to the
// positions, and an append that may cut the log waits, as the positions it
// would cut at may be the compaction's wrong ones. When the snapshot ends,
// every position is worked out again.
type positions struct {
	mu   sync.Mutex
	cond *sync.Cond // signalled when a snapshot ends
	// upTo is the last index whose position is known to be right; entries
	// read from the file at start-up are.
	upTo uint64
	// started is false until the first fix, which trusts the file's order.
	started bool
	phase   snapshotPhase
}

// snapshotPhase is where a snapshot taken through the Dir is.
type snapshotPhase int

const (
	phaseIdle snapshotPhase = iota
	phaseSaving
	phaseCompacting // from the end of the state's save to the end of TakeSnapshot
)

func newPositions() *positions {
	p := &positions{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// append hands a leader's append to goraft and fixes what it wrote.
func (p *positions) append(srv raft.Server, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start(srv)
	if resp, ok := heartbeat(srv, req); ok {
		return resp
	}
	for p.phase == phaseCompacting && mayCut(srv, req) {
		p.cond.Wait()
	}
	resp := srv.AppendEntries(req)
	// Everything after PrevLogIndex may have been replaced.
	p.upTo = min(p.upTo, req.PrevLogIndex)
	if p.phase != phaseCompacting {
		p.fix(srv, false)
	}
	return resp
}

// mayCut reports whether goraft may cut the log back while handling req:
// when the append does not start at the log's end, or when this node leads
// and may append entries of its own before goraft handles req.
func mayCut(srv raft.Server, req *raft.AppendEntriesRequest) bool {
	return req.PrevLogIndex < lastIndex(srv) || srv.State() == raft.Leader
}

// installSnapshot hands a leader's snapshot to goraft, which empties the log
// behind it, and reports whether it did (goraft answers nil when it is
// stopped). A snapshot that ends at or before the commit index holds
// nothing this node lacks: it is answered as installed and not handed to
// goraft, which would put its older state in place of the store's without
// applying the entries between again, and panic cutting a log compacted
// past it. A leader sends one when it has lost track of the member (it was
// removed and joined again); it learns the member's commit index from the
// next append.
func (p *positions) installSnapshot(srv raft.Server, req *raft.SnapshotRecoveryRequest) (*raft.SnapshotRecoveryResponse, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start(srv)
	for p.phase != phaseIdle {
		p.cond.Wait()
	}
	if commit := srv.CommitIndex(); req.LastIndex <= commit {
		return &raft.SnapshotRecoveryResponse{Term: srv.Term(), Success: true, CommitIndex: commit}, false
	}
	resp := srv.SnapshotRecoveryRequest(req)
	p.fix(srv, true)
	return resp, true
}

// snapshot runs take, which takes a snapshot and compacts the log, with
// appends going on meanwhile, and then puts every position right.
func (p *positions) snapshot(srv raft.Server, take func() error) error {
	p.mu.Lock()
	p.start(srv)
	for p.phase != phaseIdle {
		p.cond.Wait()
	}
	p.phase = phaseSaving
	before := firstIndex(srv)
	p.mu.Unlock()

	err := take()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.fix(srv, firstIndex(srv) != before)
	p.phase = phaseIdle
	p.cond.Broadcast()
	return err
}

// savingState reports whether a snapshot taken through the Dir is saving
// the state machine's state.
func (p *positions) savingState() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase == phaseSaving
}

// stateSaved records that the snapshot's state is saved: goraft compacts
// the log next.
func (p *positions) stateSaved() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase == phaseSaving {
		p.phase = phaseCompacting
	}
}

// pending reports whether an entry past the commit index holds the command
// named name. Appends from a leader are held meanwhile: one that cuts the
// log may overwrite the entries read.
func (p *positions) pending(srv raft.Server, name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	commit := srv.CommitIndex()
	entries := srv.LogEntries()
	for i := len(entries) - 1; i >= 0 && entries[i].Index() > commit; i-- {
		if entries[i].CommandName() == name {
			return true
		}
	}
	return false
}

// start records, on first use, that the entries goraft read from the file
// at start-up have right positions.
func (p *positions) start(srv raft.Server) {
	if p.started {
		return
	}
	p.started = true
	p.upTo = lastIndex(srv)
}

// fix recomputes the positions after upTo, or of every entry when the
// file was rewritten from its start.
func (p *positions) fix(srv raft.Server, rewritten bool) {
	entries := srv.LogEntries()
	if len(entries) == 0 {
		p.upTo = 0
		return
	}
	first := entries[0].Index()
	i, pos := 0, int64(0)
	if !rewritten {
		if p.upTo >= first {
			i = int(p.upTo-first) + 1
		}
		if i > len(entries) {
			i = len(entries)
		}
		if i > 0 {
			pos = entries[i-1].Position + recordSize(entries[i-1])
		} else {
			pos = entries[0].Position
		}
	}
	for ; i < len(entries); i++ {
		entries[i].Position = pos
		pos += recordSize(entries[i])
	}
	p.upTo = entries[len(entries)-1].Index()
}

// firstIndex is the index of the log's first entry, 0 when it has none.
func firstIndex(srv raft.Server) uint64 {
	if entries := srv.LogEntries(); len(entries) > 0 {
		return entries[0].Index()
	}
	return 0
}

// lastIndex is the index of the log's last entry, 0 when it has none.
func lastIndex(srv raft.Server) uint64 {
	if entries := srv.LogEntries(); len(entries) > 0 {
		return entries[len(entries)-1].Index()
	}
	return 0
}

// recordSize is the size of an entry's record in the log file: its
// "%8x\n" header and its protobuf.
func recordSize(e *raft.LogEntry) int64 {
	var n byteCounter
	e.Encode(&n)
	return int64(n)
}

type byteCounter int64

func (c *byteCounter) Write(p []byte) (int, error) {
	*c += byteCounter(len(p))
	return len(p), nil
}
