package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/goraft/raft"
)

// TestVoteFromRemovedCandidateKeepsTheTerm: a candidate that is not a
// member and whose log is behind (a removed member that missed its
// removal) is refused without the node taking its term, which would depose
// the leader of a healthy cluster.
func TestVoteFromRemovedCandidateKeepsTheTerm(t *testing.T) {
	n := startTestNode(t)
	n.set("some/key", "so that the log is ahead")
	term := n.e.raft.raft.Term()
	req := &raft.RequestVoteRequest{Term: term + 5, CandidateName: "removed", LastLogIndex: 1, LastLogTerm: 0}
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	n.e.raft.peerServer.Handler.ServeHTTP(rec, peerRequest(n, http.MethodPost, votePath, &body))
	resp := &raft.RequestVoteResponse{}
	if _, err := resp.Decode(rec.Body); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("vote answer: HTTP %d, %v", rec.Code, err)
	}
	if resp.VoteGranted || resp.Term != term {
		t.Fatalf("vote answer %+v, want refused in term %d", resp, term)
	}
	if got := n.e.raft.raft.Term(); got != term || !n.e.raft.isLeader() {
		t.Fatalf("after the vote request: term %d (was %d), leader %v: the node took the candidate's term", got, term, n.e.raft.isLeader())
	}
}
