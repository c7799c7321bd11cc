package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/etcd-recreation/etcd/store"
)

// gather reads n's metrics as a scrape would, by family name.
func gather(t *testing.T, n *Node) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := n.registry.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range families {
		out[f.GetName()] = f
	}
	return out
}

// series is each series of family name, by its labels' values joined
// with commas in label-name order, with its value (a histogram's count).
func series(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		key := ""
		for i, l := range m.GetLabel() {
			if i > 0 {
				key += ","
			}
			key += l.GetValue()
		}
		switch {
		case m.Counter != nil:
			out[key] = m.Counter.GetValue()
		case m.Gauge != nil:
			out[key] = m.Gauge.GetValue()
		case m.Histogram != nil:
			out[key] = float64(m.Histogram.GetSampleCount())
		}
	}
	return out
}

func sameSeries(t *testing.T, name string, got, want map[string]float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: series %v, want %v", name, got, want)
		return
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s: series %v, want %v", name, got, want)
			return
		}
	}
}

// TestRequestsByMethodAndCode: every request counts as received by its
// method; those answered 400 to 599 count as failed by method and code,
// the others in the duration histogram; a method the API does not serve
// counts as OTHER.
func TestRequestsByMethodAndCode(t *testing.T) {
	n := New()
	n.Requests.Done("GET", http.StatusOK, time.Millisecond)
	n.Requests.Done("GET", http.StatusNotFound, time.Millisecond)
	n.Requests.Done("QGET", http.StatusOK, time.Millisecond)
	n.Requests.Done("PUT", http.StatusTemporaryRedirect, time.Millisecond)
	n.Requests.Done("POST", http.StatusBadRequest, time.Millisecond)
	n.Requests.Done("POST", http.StatusBadRequest, time.Millisecond)
	n.Requests.Done("POST", http.StatusInternalServerError, time.Millisecond)
	n.Requests.Done("BREW", http.StatusMethodNotAllowed, time.Millisecond)
	f := gather(t, n)
	sameSeries(t, "etcd_http_received_total", series(f["etcd_http_received_total"]),
		map[string]float64{"GET": 2, "QGET": 1, "PUT": 1, "POST": 3, "OTHER": 1})
	sameSeries(t, "etcd_http_failed_total", series(f["etcd_http_failed_total"]),
		map[string]float64{"404,GET": 1, "400,POST": 2, "500,POST": 1, "405,OTHER": 1})
	sameSeries(t, "etcd_http_successful_duration_seconds", series(f["etcd_http_successful_duration_seconds"]),
		map[string]float64{"GET": 1, "QGET": 1, "PUT": 1})
}

// TestStoreByAction: the store's counters show by the actions it reports,
// reads and writes apart, with its expiries and watchers.
func TestStoreByAction(t *testing.T) {
	n := New()
	st := store.New(10)
	n.WatchStore(st.V2Stats)
	st.Set("/a", "1", time.Time{}, 1)
	st.TestAndSet("/a", "0", "2", time.Time{}, 2)
	st.Get("/a")
	st.Get("/missing")
	w, err := st.Watch("/a", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Remove()
	expires := time.Now().Add(time.Hour).Round(0)
	st.Set("/b", "1", expires, 3)
	st.Expire("/b", expires, 4)
	f := gather(t, n)
	sameSeries(t, "etcd_debugging_store_reads_total", series(f["etcd_debugging_store_reads_total"]), map[string]float64{"get": 2})
	sameSeries(t, "etcd_debugging_store_reads_failed_total", series(f["etcd_debugging_store_reads_failed_total"]), map[string]float64{"get": 1})
	sameSeries(t, "etcd_debugging_store_writes_total", series(f["etcd_debugging_store_writes_total"]),
		map[string]float64{"set": 2, "compareAndSwap": 1, "delete": 0, "update": 0, "create": 0, "compareAndDelete": 0})
	sameSeries(t, "etcd_debugging_store_writes_failed_total", series(f["etcd_debugging_store_writes_failed_total"]),
		map[string]float64{"set": 0, "compareAndSwap": 1, "delete": 0, "update": 0, "create": 0, "compareAndDelete": 0})
	sameSeries(t, "etcd_debugging_store_expires_total", series(f["etcd_debugging_store_expires_total"]), map[string]float64{"": 1})
	sameSeries(t, "etcd_debugging_store_watchers", series(f["etcd_debugging_store_watchers"]), map[string]float64{"": 1})
}

// TestRaftReadWhenScraped: the raft metrics are what the functions given
// say at the time of the scrape.
func TestRaftReadWhenScraped(t *testing.T) {
	n := New()
	commit, leader := uint64(7), true
	n.WatchRaft(Raft{
		CommitIndex:   func() uint64 { return commit },
		Pending:       func() int { return 3 },
		HasLeader:     func() bool { return leader },
		IsLeader:      func() bool { return leader },
		LeaderChanges: func() uint64 { return 2 },
	})
	commit, leader = 9, false
	f := gather(t, n)
	for name, want := range map[string]float64{
		"etcd_server_proposals_committed_total": 9,
		"etcd_server_proposals_applied_total":   9,
		"etcd_server_proposals_pending":         3,
		"etcd_server_has_leader":                0,
		"etcd_server_is_leader":                 0,
		"etcd_server_leader_changes_seen_total": 2,
	} {
		sameSeries(t, name, series(f[name]), map[string]float64{"": want})
	}
}

// TestPeerRTTForgetsRemovedPeers: a removed member's histogram goes.
func TestPeerRTTForgetsRemovedPeers(t *testing.T) {
	n := New()
	n.PeerRTT.For("node2").Observe(0.001)
	n.PeerRTT.For("node3").Observe(0.002)
	n.PeerRTT.Forget("node2")
	sameSeries(t, "etcd_network_peer_round_trip_time_seconds",
		series(gather(t, n)["etcd_network_peer_round_trip_time_seconds"]), map[string]float64{"node3": 1})
}

// TestHandlerServesTextFormat: a plain scrape gets Prometheus's text
// format, the Go runtime's and the process's metrics in it.
func TestHandlerServesTextFormat(t *testing.T) {
	rec := httptest.NewRecorder()
	New().Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); rec.Code != http.StatusOK || !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %q, want 200 in the text format", rec.Code, ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if families[name] == nil {
			t.Errorf("no %s in the scrape", name)
		}
	}
}
