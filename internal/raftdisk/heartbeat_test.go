package raftdisk

import (
	"testing"
	"time"

	"github.com/goraft/raft"
)

// TestIdleHeartbeatIsAnsweredWithoutTheLog: goraft fsynced a follower's
// log on every idle heartbeat. An idle heartbeat is answered as goraft
// would have answered it, without goraft touching the log, and still
// restarts goraft's election timer; any other append goes to goraft.
func TestIdleHeartbeatIsAnsweredWithoutTheLog(t *testing.T) {
	f := startFollower(t, &blockingState{})
	f.appendFrom(1, 0, 0, 3, nops(1, 5, 1))
	idle := func(commit uint64) *raft.AppendEntriesRequest {
		return &raft.AppendEntriesRequest{Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, CommitIndex: commit, LeaderName: "leader"}
	}
	resp, ok := heartbeat(f.srv, idle(3))
	if !ok || resp == nil || !resp.Success() || resp.Term() != 1 || resp.Index() != 5 || resp.CommitIndex() != 3 {
		t.Fatalf("idle heartbeat: handled %v, answer %+v; want a success in term 1 at index 5, commit 3", ok, resp)
	}
	for name, req := range map[string]*raft.AppendEntriesRequest{
		"a commit to apply":   idle(4),
		"entries":             {Term: 1, PrevLogIndex: 5, PrevLogTerm: 1, CommitIndex: 3, LeaderName: "leader", Entries: nops(6, 6, 1)},
		"an earlier position": {Term: 1, PrevLogIndex: 4, PrevLogTerm: 1, CommitIndex: 3, LeaderName: "leader"},
		"another term":        {Term: 2, PrevLogIndex: 5, PrevLogTerm: 1, CommitIndex: 3, LeaderName: "leader"},
	} {
		if _, ok := heartbeat(f.srv, req); ok {
			t.Errorf("an append with %s was answered as an idle heartbeat", name)
		}
	}
	f.appendFrom(1, 5, 1, 4, nil)
	f.checkFile(5)

	// goraft re-arms its election timer, with the timeout then set, on
	// each append it takes from its leader.
	const election = 500 * time.Millisecond
	f.srv.SetElectionTimeout(election)
	f.appendFrom(1, 5, 1, 4, nil)
	for end := time.Now().Add(3 * election); time.Now().Before(end); time.Sleep(election / 20) {
		if resp, ok := heartbeat(f.srv, idle(4)); !ok || resp == nil || !resp.Success() {
			t.Fatalf("idle heartbeat in state %s: handled %v, answer %+v", f.srv.State(), ok, resp)
		}
	}
	// Without heartbeats it campaigns.
	deadline := time.Now().Add(10 * election)
	for f.srv.State() == raft.Follower {
		if time.Now().After(deadline) {
			t.Fatalf("still a follower %v after the last heartbeat", 10*election)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
