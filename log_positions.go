package main

import (
	"sync"

	"github.com/goraft/raft"
)

// logPositions keeps goraft's record of where each entry starts in the log
// file right. goraft gets it wrong for the entries a follower receives in one
// append (it leaves out each record's 9-byte header) and for the entries a
// compaction keeps (it gives them all the old file's size). It relies on
// those positions only to cut a follower's log back when a new leader
// replaces its tail: a wrong one cuts into a committed record or leaves a
// hole, and the log no longer reads back after a restart. So after every
// append from a leader, and every compaction, the positions of the entries
// that may be wrong are worked out again from the records' sizes. Appends
// and compactions are serialised here, so goraft never cuts the log on a
// position not yet put right.
type logPositions struct {
	mu sync.Mutex
	// upTo is the last index whose position is known to be right; entries
	// read from the file at start-up are.
	upTo uint64
	// started is false until the first fix, which trusts the file's order.
	started bool
}

// afterAppend hands a leader's append to goraft and fixes what it wrote.
func (p *logPositions) afterAppend(srv raft.Server, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start(srv)
	resp := srv.AppendEntries(req)
	// Everything after PrevLogIndex may have been replaced.
	p.upTo = min(p.upTo, req.PrevLogIndex)
	p.fix(srv, false)
	return resp
}

// afterSnapshotRecovery hands a leader's snapshot to goraft, which empties
// the log behind it.
func (p *logPositions) afterSnapshotRecovery(srv raft.Server, req *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start(srv)
	resp := srv.SnapshotRecoveryRequest(req)
	p.fix(srv, true)
	return resp
}

// afterSnapshot takes a snapshot, whose compaction rewrites the log file.
func (p *logPositions) afterSnapshot(srv raft.Server) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start(srv)
	before := firstIndex(srv)
	err := srv.TakeSnapshot()
	if firstIndex(srv) != before {
		p.fix(srv, true)
	}
	return err
}

// start records, on first use, that the entries goraft read from the file
// at start-up have right positions.
func (p *logPositions) start(srv raft.Server) {
	if p.started {
		return
	}
	p.started = true
	if entries := srv.LogEntries(); len(entries) > 0 {
		p.upTo = entries[len(entries)-1].Index()
	}
}

// fix recomputes the positions after upTo, or of every entry when the
// file was rewritten from its start.
func (p *logPositions) fix(srv raft.Server, rewritten bool) {
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

func firstIndex(srv raft.Server) uint64 {
	if entries := srv.LogEntries(); len(entries) > 0 {
		return entries[0].Index()
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
