package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"
)

type nullTransporter struct{}

func (nullTransporter) SendVoteRequest(raft.Server, *raft.Peer, *raft.RequestVoteRequest) *raft.RequestVoteResponse {
	return nil
}

func (nullTransporter) SendAppendEntriesRequest(raft.Server, *raft.Peer, *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	return nil
}

func (nullTransporter) SendSnapshotRequest(raft.Server, *raft.Peer, *raft.SnapshotRequest) *raft.SnapshotResponse {
	return nil
}

func (nullTransporter) SendSnapshotRecoveryRequest(raft.Server, *raft.Peer, *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	return nil
}

type emptyState struct{}

func (emptyState) Save() ([]byte, error) { return []byte("{}"), nil }
func (emptyState) Recovery([]byte) error { return nil }

// nops are no-op entries first..last of a term, as a leader would send them.
func nops(first, last, term uint64) []*protobuf.LogEntry {
	var out []*protobuf.LogEntry
	for i := first; i <= last; i++ {
		out = append(out, &protobuf.LogEntry{Index: proto.Uint64(i), Term: proto.Uint64(term), CommandName: proto.String("raft:nop")})
	}
	return out
}

// TestLogPositionsSurviveTruncation drives a real goraft follower through
// the two cases where goraft records wrong file positions (a batch append,
// and a compaction), then makes a new leader replace the follower's tail:
// the log file must still read back whole.
func TestLogPositionsSurviveTruncation(t *testing.T) {
	dir := t.TempDir()
	srv, err := raft.NewServer("follower", dir, nullTransporter{}, emptyState{}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetElectionTimeout(time.Hour)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	var p logPositions
	appendFrom := func(term, prevIndex, prevTerm, commit uint64, entries []*protobuf.LogEntry) {
		t.Helper()
		resp := p.afterAppend(srv, &raft.AppendEntriesRequest{Term: term, PrevLogIndex: prevIndex, PrevLogTerm: prevTerm,
			CommitIndex: commit, LeaderName: "leader", Entries: entries})
		if resp == nil || !resp.Success() {
			t.Fatalf("append after %d in term %d refused", prevIndex, term)
		}
	}
	checkFile := func(wantLast uint64) {
		t.Helper()
		scan, err := repairLog(filepath.Join(dir, "log"))
		if err != nil || scan.dropped != 0 || scan.lastIndex != wantLast {
			t.Fatalf("log file: %+v, %v; want whole records up to %d", scan, err, wantLast)
		}
	}

	// A batch of 300, committed up to 250, then a snapshot that compacts.
	appendFrom(1, 0, 0, 250, nops(1, 300, 1))
	if err := p.afterSnapshot(srv); err != nil {
		t.Fatal(err)
	}
	if first := firstIndex(srv); first <= 1 {
		t.Fatalf("no compaction happened (first index %d)", first)
	}
	checkFile(300)

	// A new leader of term 2 replaces everything after 280.
	appendFrom(2, 280, 1, 250, nops(281, 290, 2))
	checkFile(290)

	// And another, of term 3, everything after 285: a cut inside the last batch.
	appendFrom(3, 285, 2, 250, nops(286, 295, 3))
	checkFile(295)
	if b, err := os.ReadFile(filepath.Join(dir, "log")); err != nil || len(b) == 0 {
		t.Fatalf("log: %d bytes, %v", len(b), err)
	}
}
