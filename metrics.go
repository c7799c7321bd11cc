package main

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/metrics"
)

// metricsPath is the client port's route of the node's metrics, in
// Prometheus's text format (internal/metrics).
const metricsPath = "/metrics"

// watchMetrics shows what raft and the store hold in /metrics.
func (s *raftServer) watchMetrics() {
	s.metrics.WatchRaft(metrics.Raft{
		CommitIndex: s.raft.CommitIndex,
		Pending:     func() int { return len(s.proposals) },
		HasLeader: func() bool {
			_, err := s.liveLeader()
			return err == nil
		},
		IsLeader:      s.isLeader,
		LeaderChanges: s.guard.LeaderChanges,
	})
	s.metrics.WatchStore(s.store.V2Stats)
}

// proposalFailed tells a proposal raft dropped from one it committed,
// whatever the store made of it.
func proposalFailed(err error) bool {
	return errors.Is(err, raft.NotLeaderError) || errors.Is(err, raft.StopError)
}

// writesIn is the number of store writes a proposal of them carries.
func writesIn(cmd raft.Command) int {
	if batch, ok := cmd.(*BatchCommand); ok {
		return len(batch.Writes)
	}
	return 1
}

// countRequests counts the requests of the key space for /metrics, by
// method and status, as etcd's v2 API did: watches, which take as long as
// nothing changes, are left out.
func (h *clientHandlers) countRequests(next http.Handler) http.Handler {
	requests := h.raft.metrics.Requests
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method, counted := requestLabel(r)
		if !counted {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		requests.Done(method, sw.status, time.Since(start))
	})
}

// requestLabel is the method label of a request of the key space, QGET
// for a read through the log, and false for any other request.
func requestLabel(r *http.Request) (string, bool) {
	p := r.URL.Path
	v2 := p == v2KeysPrefix || strings.HasPrefix(p, v2KeysPrefix+"/")
	if !v2 && !strings.HasPrefix(p, keysPrefix+"/") {
		return "", false
	}
	if r.Method != http.MethodGet || r.URL.RawQuery == "" {
		return r.Method, true
	}
	q := r.URL.Query()
	switch {
	case v2 && q.Get("wait") == "true":
		return "", false
	case q.Get("consistent") == "true" || (v2 && q.Get("quorum") == "true"):
		return "QGET", true
	}
	return r.Method, true
}
