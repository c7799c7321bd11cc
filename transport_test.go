package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/goraft/raft"
)

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
	tr := &transporter{client: &http.Client{Transport: newPeerTransport(election, nil)}}
	req := &raft.SnapshotRecoveryRequest{LeaderName: "node1", LastIndex: 10, LastTerm: 1, State: []byte("{}")}
	resp := &raft.SnapshotRecoveryResponse{}
	if !tr.post(&raft.Peer{Name: "node2", ConnectionString: follower.URL}, snapshotRecoveryPath, time.Minute, req, resp) || !resp.Success {
		t.Fatalf("an install answered after %v counted as failed", 4*election)
	}
}
