package main

import (
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// peerRequest is a request to n's peer port from a member of its cluster:
// it carries n's cluster identity.
func peerRequest(n *testNode, method, target string, body io.Reader) *http.Request {
	r := httptest.NewRequest(method, target, body)
	if id, held := n.e.raft.identity.Identity(); held {
		r.Header.Set(raftguard.IdentityHeader, id.String())
	}
	return r
}
