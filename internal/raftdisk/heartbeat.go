package raftdisk

import (
	"bytes"
	"math"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"
)

// goraft's follower fsyncs its log on every append, the idle heartbeats
// included, which add nothing to it: on an idle cluster that fsync is most
// of a follower's work. A heartbeat from the leader of the follower's term
// whose log ends where the follower's does, and that commits nothing new,
// is handed to goraft as an append it refuses before touching the log (it
// starts past the log's end): goraft still takes it as word from its
// leader, which restarts its election timer, and the leader is answered
// what goraft would have answered the heartbeat itself. Skipping the
// fsync is safe because the answer acknowledges no entry: goraft's leader
// raises a follower's match index only by the entries of an append the
// follower took (peer.go), and counts it towards a commit only once it has
// taken an entry of the leader's term (server.go, syncedPeer); goraft
// fsyncs the log file for each such append, and with it every entry
// written before. Not everything in the log need be on disk meanwhile: a
// member appends its own entries without an fsync while it leads.

// heartbeat answers req in that way when it is such a heartbeat, and
// reports whether it was. Appends are serialised by the caller.
func heartbeat(srv raft.Server, req *raft.AppendEntriesRequest) (*raft.AppendEntriesResponse, bool) {
	if len(req.Entries) > 0 || srv.State() != raft.Follower || req.Term != srv.Term() {
		return nil, false
	}
	entries := srv.LogEntries()
	if len(entries) == 0 {
		return nil, false
	}
	last := entries[len(entries)-1]
	commit := srv.CommitIndex()
	if last.Index() != req.PrevLogIndex || last.Term() != req.PrevLogTerm || min(req.CommitIndex, last.Index()) > commit {
		return nil, false
	}
	resp := srv.AppendEntries(&raft.AppendEntriesRequest{
		Term:         req.Term,
		PrevLogIndex: math.MaxUint64,
		PrevLogTerm:  req.PrevLogTerm,
		LeaderName:   req.LeaderName,
	})
	if resp == nil || resp.Term() != req.Term {
		// Stopped, or a later term came first: goraft's answer is the one
		// the heartbeat would have had.
		return resp, true
	}
	return AppendResponse(req.Term, last.Index(), commit, true), true
}

// AppendResponse is an answer to an append as goraft makes them: goraft
// keeps the fields of its answers unexported, so it is decoded from their
// encoding.
func AppendResponse(term, index, commit uint64, success bool) *raft.AppendEntriesResponse {
	b, err := proto.Marshal(&protobuf.AppendEntriesResponse{Term: &term, Index: &index, CommitIndex: &commit, Success: &success})
	if err != nil {
		return nil
	}
	resp := &raft.AppendEntriesResponse{}
	if _, err := resp.Decode(bytes.NewReader(b)); err != nil {
		return nil
	}
	return resp
}

// RestartElectionTimer makes goraft, a follower in term, restart its
// election timer as word from a leader would, without touching its log or
// its term: goraft reads its election timeout only when it restarts the
// timer. It is an append of term from leader ("" for none) that starts
// past the log's end, which goraft refuses. term must have been read from
// goraft before the call.
//
// Handed to a leader of term, such an append would crash goraft. It is
// not: goraft is a follower here, in term or later, and a follower in term
// never leads term (a candidate campaigns in a new term); a leader of term
// when term was read would have moved past it to be a follower now, and an
// append whose term has passed changes nothing.
func (d *Dir) RestartElectionTimer(srv raft.Server, term uint64, leader string) {
	d.positions.mu.Lock()
	defer d.positions.mu.Unlock()
	if srv.State() != raft.Follower {
		return
	}
	srv.AppendEntries(&raft.AppendEntriesRequest{Term: term, PrevLogIndex: math.MaxUint64, LeaderName: leader})
}
