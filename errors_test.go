package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// TestErrorCodeSaysWhetherAnythingWasProposed: a failure before anything
// was proposed is error 301, so that a client may retry; one after it
// (the write may yet commit, or has) is error 300. The e2e tests reach most
// of these on a real cluster; too many waiting proposals takes thousands of
// writes that never commit.
func TestErrorCodeSaysWhetherAnythingWasProposed(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code int
	}{
		{errTooManyProposals, etcderr.LeaderElect},
		{raftguard.ErrNoQuorum, etcderr.LeaderElect},
		{errNotLeader, etcderr.LeaderElect},
		{fmt.Errorf("%w: node2 has not been heard from for 151ms", errNoLeader), etcderr.LeaderElect},
		{errLeaderBehind, etcderr.LeaderElect},
		{fmt.Errorf("set: %w", errCommandTimeout), etcderr.RaftInternal},
		{errNotDurable, etcderr.RaftInternal},
		{errors.New("command failed to be committed due to node failure"), etcderr.RaftInternal},
	} {
		w := httptest.NewRecorder()
		writeError(w, tc.err)
		var e etcderr.Error
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
			t.Fatalf("writeError(%v): %v: %s", tc.err, err, w.Body)
		}
		if w.Code != http.StatusInternalServerError || e.Code != tc.code || e.Message != etcderr.New(tc.code, "").Message {
			t.Errorf("writeError(%v): HTTP %d %s; want HTTP 500 with error %d", tc.err, w.Code, w.Body, tc.code)
		}
	}
}
