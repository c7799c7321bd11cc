package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape is one reading of a member's /metrics, parsed by Prometheus's own
// text parser.
type scrape map[string]*dto.MetricFamily

func (n *node) scrape() scrape {
	n.t.Helper()
	r := n.do(http.MethodGet, "/metrics", nil)
	if r.Status != http.StatusOK {
		n.fatalf("%v: want 200", r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		n.fatalf("GET /metrics: Content-Type %q, want Prometheus's text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		n.fatalf("GET /metrics: not Prometheus's text format: %v\n%s", err, r.Body)
	}
	return families
}

// metric finds the series of family name whose labels include labels
// (name, value pairs); nil when there is none.
func (s scrape) metric(name string, labels ...string) *dto.Metric {
	f := s[name]
	if f == nil {
		return nil
	}
	for _, m := range f.Metric {
		if hasLabels(m, labels) {
			return m
		}
	}
	return nil
}

func hasLabels(m *dto.Metric, labels []string) bool {
	for i := 0; i+1 < len(labels); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// value is a counter's or a gauge's value, 0 for a series not shown yet
// (a labelled counter appears once it counts something).
func (s scrape) value(name string, labels ...string) float64 {
	m := s.metric(name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// histogram is a histogram's count and sum; zeros when not shown yet.
func (s scrape) histogram(name string, labels ...string) (count uint64, sum float64) {
	m := s.metric(name, labels...)
	if m == nil || m.Histogram == nil {
		return 0, 0
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
}

// TestMetricsOfAClusterUnderWrites scrapes /metrics from every member of a
// three-member cluster before and after a known set of requests, and
// checks that each metric moved by what was done.
func TestMetricsOfAClusterUnderWrites(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 3, "-snapshotCount", "100")
	leader := c.waitMembership(readyTimeout)
	followers := c.others(leader)
	before := map[*node]scrape{}
	for _, m := range c.members {
		before[m] = m.scrape()
	}

	// Known writes, each answered before the next is sent, to the leader.
	const sets = 20
	for i := range sets {
		leader.set(fmt.Sprintf("/metrics/seq%02d", i), "v")
	}
	leader.set("/metrics/seq00", "w", "prevValue", "v")
	expectError(t, leader.do(http.MethodPost, "/v1/keys/metrics/seq00", form("value", "x", "prevValue", "nope")), http.StatusBadRequest, 101)
	expectEvent(t, leader.do(http.MethodDelete, "/v1/keys/metrics/seq01", nil))
	leader.get("/metrics/seq02")
	expectError(t, leader.do(http.MethodGet, "/v1/keys/metrics/missing", nil), http.StatusNotFound, 100)
	leader.set("/metrics/brief", "v", "ttl", "1")

	// Concurrent writes, which the leader groups into shared log entries.
	const clients, perClient = 8, 25
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				r, err := leader.request(ctx, http.MethodPut, fmt.Sprintf("/v1/keys/metrics/burst/%d-%d", w, i), form("value", "v"))
				cancel()
				if err != nil || r.Status != http.StatusOK {
					t.Errorf("concurrent write: %v %v", r, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	const burst = clients * perClient
	posts := sets + 3 // the sets, both test-and-sets and the key with a TTL
	// Store writes as every member applies them: the expiry is the leader's
	// proposal, the only write no client sent.
	storeSets := float64(sets + 1 + burst)
	proposedWrites := float64(sets + 2 + 1 + 1 + burst + 1)

	// A watch on a follower, to be counted while it waits.
	ctx, cancel := context.WithCancel(context.Background())
	watched := followers[0].watch(ctx, "/metrics/watched", nil)
	testnode.WaitFor(t, readyTimeout, followers[0].name+" to count the watcher", func() (bool, string) {
		v := followers[0].scrape().value("etcd_debugging_store_watchers")
		return v == 1, fmt.Sprint("etcd_debugging_store_watchers ", v)
	})
	cancel()
	<-watched

	after := map[*node]scrape{}
	for _, m := range c.members {
		testnode.WaitFor(t, readyTimeout, m.name+" to apply every write and the expiry", func() (bool, string) {
			after[m] = m.scrape()
			sets := after[m].value("etcd_debugging_store_writes_total", "action", "set") - before[m].value("etcd_debugging_store_writes_total", "action", "set")
			expires := after[m].value("etcd_debugging_store_expires_total") - before[m].value("etcd_debugging_store_expires_total")
			return sets >= storeSets && expires >= 1, fmt.Sprintf("%v sets, %v expiries applied", sets, expires)
		})
	}
	delta := func(m *node, name string, labels ...string) float64 {
		return after[m].value(name, labels...) - before[m].value(name, labels...)
	}

	leaders := 0
	for _, m := range c.members {
		a := after[m]
		if v := a.value("etcd_server_has_leader"); v != 1 {
			t.Errorf("%s: etcd_server_has_leader %v, want 1", m.name, v)
		}
		if v := a.value("etcd_server_is_leader"); v == 1 {
			leaders++
			if m != leader {
				t.Errorf("%s: etcd_server_is_leader 1, but %s leads", m.name, leader.name)
			}
		}
		if v := a.value("etcd_server_leader_changes_seen_total"); v < 1 {
			t.Errorf("%s: etcd_server_leader_changes_seen_total %v, want at least 1", m.name, v)
		}
		// Every write sent alone is an entry of its own.
		if d := delta(m, "etcd_server_proposals_committed_total"); d < sets {
			t.Errorf("%s: etcd_server_proposals_committed_total rose by %v, want at least %d", m.name, d, sets)
		}
		if d := delta(m, "etcd_server_proposals_applied_total"); d < sets {
			t.Errorf("%s: etcd_server_proposals_applied_total rose by %v, want at least %d", m.name, d, sets)
		}
		if a.metric("etcd_server_proposals_failed_total") == nil || a.metric("etcd_server_proposals_pending") == nil {
			t.Errorf("%s: no etcd_server_proposals_failed_total or etcd_server_proposals_pending", m.name)
		}
		if d := delta(m, "etcd_server_proposals_failed_total"); d != 0 {
			t.Errorf("%s: etcd_server_proposals_failed_total rose by %v while every write succeeded", m.name, d)
		}
		for action, want := range map[string]float64{"set": storeSets, "compareAndSwap": 2, "delete": 1} {
			if d := delta(m, "etcd_debugging_store_writes_total", "action", action); d != want {
				t.Errorf("%s: etcd_debugging_store_writes_total{action=%q} rose by %v, want %v", m.name, action, d, want)
			}
		}
		if d := delta(m, "etcd_debugging_store_writes_failed_total", "action", "compareAndSwap"); d != 1 {
			t.Errorf("%s: etcd_debugging_store_writes_failed_total{action=\"compareAndSwap\"} rose by %v, want 1", m.name, d)
		}
		if d := delta(m, "etcd_debugging_store_expires_total"); d != 1 {
			t.Errorf("%s: etcd_debugging_store_expires_total rose by %v, want 1", m.name, d)
		}
		if v := a.value("etcd_debugging_store_watchers"); v != 0 {
			t.Errorf("%s: etcd_debugging_store_watchers %v after the watch ended, want 0", m.name, v)
		}
		if a.metric("go_goroutines") == nil || a.metric("process_resident_memory_bytes") == nil {
			t.Errorf("%s: the Go runtime's and the process's metrics are missing", m.name)
		}
	}
	if leaders != 1 {
		t.Errorf("%d members report etcd_server_is_leader 1, want 1", leaders)
	}

	// The leader: reads, client requests, its disk, its peers, its batches.
	if d := delta(leader, "etcd_debugging_store_reads_total", "action", "get"); d != 2 {
		t.Errorf("leader: etcd_debugging_store_reads_total{action=\"get\"} rose by %v, want 2", d)
	}
	if d := delta(leader, "etcd_debugging_store_reads_failed_total", "action", "get"); d != 1 {
		t.Errorf("leader: etcd_debugging_store_reads_failed_total{action=\"get\"} rose by %v, want 1", d)
	}
	for method, want := range map[string]float64{"POST": float64(posts), "PUT": burst, "DELETE": 1, "GET": 2} {
		if d := delta(leader, "etcd_http_received_total", "method", method); d != want {
			t.Errorf("leader: etcd_http_received_total{method=%q} rose by %v, want %v", method, d, want)
		}
	}
	for _, f := range []struct {
		method, code string
	}{{"POST", "400"}, {"GET", "404"}} {
		if d := delta(leader, "etcd_http_failed_total", "method", f.method, "code", f.code); d != 1 {
			t.Errorf("leader: etcd_http_failed_total{method=%q,code=%q} rose by %v, want 1", f.method, f.code, d)
		}
	}
	countOf := func(s scrape, name string, labels ...string) uint64 {
		n, _ := s.histogram(name, labels...)
		return n
	}
	for method, want := range map[string]uint64{"POST": uint64(posts - 1), "PUT": burst, "DELETE": 1, "GET": 1} {
		name := "etcd_http_successful_duration_seconds"
		if d := countOf(after[leader], name, "method", method) - countOf(before[leader], name, "method", method); d != want {
			t.Errorf("leader: %s{method=%q} counted %v more, want %v", name, method, d, want)
		}
	}
	if d := countOf(after[leader], "etcd_disk_wal_fsync_duration_seconds") - countOf(before[leader], "etcd_disk_wal_fsync_duration_seconds"); d == 0 {
		t.Errorf("leader: etcd_disk_wal_fsync_duration_seconds counted no fsync during %v writes", proposedWrites)
	}
	for _, f := range followers {
		if n := countOf(after[leader], "etcd_network_peer_round_trip_time_seconds", "To", f.name); n == 0 {
			t.Errorf("leader: no etcd_network_peer_round_trip_time_seconds{To=%q}", f.name)
		}
	}
	entriesBefore, writesBefore := before[leader].histogram("etcd01_server_writes_per_entry")
	entries, writes := after[leader].histogram("etcd01_server_writes_per_entry")
	if writes-writesBefore != proposedWrites {
		t.Errorf("leader: etcd01_server_writes_per_entry sums %v more writes, want %v", writes-writesBefore, proposedWrites)
	}
	if n := entries - entriesBefore; n < sets || float64(n) > proposedWrites {
		t.Errorf("leader: etcd01_server_writes_per_entry counts %d more entries, want between %d and %v", n, sets, proposedWrites)
	}

	// More than -snapshotCount entries went through: every member saves a
	// snapshot within a second or so.
	for _, m := range c.members {
		testnode.WaitFor(t, readyTimeout, m.name+" to save a snapshot", func() (bool, string) {
			n, _ := m.scrape().histogram("etcd_debugging_snap_save_total_duration_seconds")
			return n > 0, fmt.Sprint("etcd_debugging_snap_save_total_duration_seconds count ", n)
		})
	}
}
