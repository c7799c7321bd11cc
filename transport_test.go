package main

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/metrics"
	"github.com/etcd-recreation/etcd/internal/raftdisk"
	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// noIdentity is the cluster identity of a node that has none: its calls
// carry none, and it checks no answer.
func noIdentity() *raftguard.IdentityKeeper { return raftguard.NewIdentityKeeper(0, nil, nil) }

// TestSlowSnapshotInstallIsAnswered: a follower may take longer than any
// raft message to install a large snapshot. A peer transport that gave up
// waiting for its answer counted the install as failed, and the leader sent
// the snapshot again, for good, under load.
func TestSlowSnapshotInstallIsAnswered(t *testing.T) {
	const election = 50 * time.Millisecond
	follower := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(4 * election)
		writeMessage(w, &raft.SnapshotRecoveryResponse{Term: 1, Success: true, CommitIndex: 10})
	}))
	defer follower.Close()
	tr := &transporter{client: &http.Client{Transport: newPeerTransport(election, nil, noIdentity())}}
	req := &raft.SnapshotRecoveryRequest{LeaderName: "node1", LastIndex: 10, LastTerm: 1, State: []byte("{}")}
	resp := &raft.SnapshotRecoveryResponse{}
	if !tr.post(&raft.Peer{Name: "node2", ConnectionString: follower.URL}, snapshotRecoveryPath, time.Minute, req, resp) || !resp.Success {
		t.Fatalf("an install answered after %v counted as failed", 4*election)
	}
}

// TestVoteRequestsAlwaysGetAnAnswer: goraft's candidate reads its term in
// each vote request's goroutine and increments it in its next round; only
// an answer it receives orders the two. A request that failed or was
// refused here got no answer, and -race reported the race under load.
func TestVoteRequestsAlwaysGetAnAnswer(t *testing.T) {
	const election = 50 * time.Millisecond
	release := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer silent.Close()
	defer close(release)
	guard := &recordingGuard{refuse: errors.New("not a member")}
	tr := &transporter{
		client:      &http.Client{Transport: newPeerTransport(election, nil, noIdentity())},
		rpcTimeout:  time.Hour,
		voteTimeout: election,
		guard:       guard,
		replicator:  &replicator{news: &leaderNews{}},
	}
	peer := &raft.Peer{Name: "node2", ConnectionString: silent.URL}
	req := &raft.RequestVoteRequest{Term: 7, CandidateName: "node1"}
	check := func(what string) {
		t.Helper()
		resp := tr.SendVoteRequest(nil, peer, req)
		if resp == nil || resp.VoteGranted || resp.Term != req.Term {
			t.Fatalf("%s: answer %+v, want a denial in term %d", what, resp, req.Term)
		}
	}
	check("a request refused before it is sent")
	guard.refuse = nil
	check("a request the peer does not answer")
}

// TestSyncMarksAreForOneTerm: a leader's log is cut and rewritten only
// across terms, so what syncAhead made durable in one term says nothing
// of the entries at those indexes in the next.
func TestSyncMarksAreForOneTerm(t *testing.T) {
	var m syncMarks
	if !m.start(2, 10) || m.start(2, 9) || m.covers(2, 10) {
		t.Fatal("a first sync through 10 in term 2 must start once, and cover nothing until done")
	}
	m.done(2, 10)
	if !m.covers(2, 10) || !m.covers(2, 3) || m.covers(2, 11) {
		t.Fatal("a finished sync through 10 must cover 10 and below in its term, and nothing above")
	}
	if m.covers(3, 5) {
		t.Fatal("a sync of term 2 covers index 5 of term 3")
	}
	if !m.start(3, 5) {
		t.Fatal("a new term's entry at an index synced in the last term must be synced again")
	}
	m.done(2, 10) // a sync of the last term finishing late
	if m.covers(3, 5) {
		t.Fatal("a late sync of term 2 covers term 3's entries")
	}
	if m.start(2, 20) {
		t.Fatal("a sync was started for an earlier term")
	}
}

// TestRemovedPeerIsRefusedToGoraft: goraft stops a removed peer's
// heartbeat in a goroutine of its own, which can still send after this
// node stepped down and cut its log below what the peer had matched; goraft
// then read past the log's end and panicked. A peer that is no longer a
// member still gets appends (its removal reaches it as a commit index), but
// goraft is told it refused at the request's commit index, which sets
// goraft's mark for it there, below any cut; snapshots are not sent to it.
func TestRemovedPeerIsRefusedToGoraft(t *testing.T) {
	called := make(chan string, 3)
	removed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		called <- r.URL.Path
		writeMessage(w, raftdisk.AppendResponse(5, 900, 900, true))
	}))
	defer removed.Close()
	tr := &transporter{
		client:     &http.Client{Transport: newPeerTransport(50*time.Millisecond, nil, noIdentity())},
		rpcTimeout: time.Minute,
		stats:      newRaftStats(metrics.New().PeerRTT),
		gate:       newPeerGate(),
		guard:      &recordingGuard{},
		members:    newMemberRegistry(),
		replicator: &replicator{news: &leaderNews{}},
		fence:      newSnapshotFence(time.Second),
	}
	peer := &raft.Peer{Name: "node4", ConnectionString: removed.URL}
	resp := tr.SendAppendEntriesRequest(nil, peer, &raft.AppendEntriesRequest{Term: 5, PrevLogIndex: 900, PrevLogTerm: 5, CommitIndex: 850})
	if resp == nil || resp.Success() || resp.Term() != 5 || resp.Index() != 850 || resp.CommitIndex() != 850 {
		t.Fatalf("append to a removed peer answered %+v; want a refusal in term 5 at index 850", resp)
	}
	if path := <-called; path != appendEntriesPath {
		t.Fatalf("the removed peer was called at %s, want %s", path, appendEntriesPath)
	}
	if resp := tr.SendSnapshotRequest(nil, peer, &raft.SnapshotRequest{LeaderName: "node1", LastIndex: 900, LastTerm: 5}); resp != nil {
		t.Fatalf("snapshot announcement to a removed peer answered %+v", resp)
	}
	if resp := tr.SendSnapshotRecoveryRequest(nil, peer, &raft.SnapshotRecoveryRequest{LeaderName: "node1", LastIndex: 900, LastTerm: 5}); resp != nil {
		t.Fatalf("snapshot to a removed peer answered %+v", resp)
	}
	select {
	case path := <-called:
		t.Fatalf("the removed peer was sent a snapshot at %s", path)
	default:
	}
}

// recordingGuard stands in for raftguard.Guard where a test calls the
// transporter alone: it refuses votes with refuse.
type recordingGuard struct{ refuse error }

func (g *recordingGuard) BeforeVoteRequest(*raft.RequestVoteRequest) error { return g.refuse }
func (*recordingGuard) VoteAnswered(string, *raft.RequestVoteResponse)     {}
func (*recordingGuard) AppendAnswered(string, *raft.AppendEntriesRequest, *raft.AppendEntriesResponse) {
}
func (*recordingGuard) SnapshotSendStarts(string)     {}
func (*recordingGuard) SnapshotSendEnds(string, bool) {}
