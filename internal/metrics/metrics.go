// Package metrics is what a node shows at /metrics in Prometheus's text
// format: etcd's own metric names where the concept is the same, and this
// node's own, which etcd has no name for, under the prefix etcd01_.
//
// Each node has a registry of its own (tests run several nodes in one
// process). What the hot paths update (histograms, counters) is lock-free
// once bound to its labels; the rest is read when scraped.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// OwnPrefix starts the names of this node's own metrics, which etcd does
// not have.
const OwnPrefix = "etcd01_"

// Node holds one node's metrics.
type Node struct {
	registry *prometheus.Registry

	// WALFsync times each fsync of the raft log this node makes itself.
	WALFsync prometheus.Histogram
	// SnapshotSave times each save of the store for a snapshot.
	SnapshotSave prometheus.Histogram
	// ProposalsFailed counts proposals that timed out or that raft
	// refused once proposed.
	ProposalsFailed prometheus.Counter
	// WritesPerEntry observes the number of store writes in each log
	// entry the leader proposes (the group commit's batch size).
	WritesPerEntry prometheus.Histogram
	// PeerRTT times the round trips of appends to each peer.
	PeerRTT *PeerRTT
	// Requests counts client requests as etcd's v2 HTTP API did.
	Requests *Requests
}

// New returns a node's metrics, with the Go runtime's and the process's.
func New() *Node {
	n := &Node{
		registry: prometheus.NewRegistry(),
		WALFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_wal_fsync_duration_seconds",
			Help: "Seconds each fsync of the raft log this node made took.",
			// 1 ms to 8 s, as etcd's.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		SnapshotSave: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcd_debugging_snap_save_total_duration_seconds",
			Help:    "Seconds each save of the store's state for a snapshot took, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		ProposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_failed_total",
			Help: "Proposals that timed out or that raft dropped.",
		}),
		WritesPerEntry: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: OwnPrefix + "server_writes_per_entry",
			Help: "Store writes in each log entry this node proposed as leader (the group commit's batches).",
			// 1 to 512, the most one entry holds.
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
		PeerRTT:  newPeerRTT(),
		Requests: newRequests(),
	}
	n.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		n.WALFsync, n.SnapshotSave, n.ProposalsFailed, n.WritesPerEntry,
		n.PeerRTT.vec, n.Requests, n.Requests.durations,
	)
	return n
}

// Raft is what the node's raft server shows, read when scraped.
type Raft struct {
	CommitIndex   func() uint64 // the commit index, which goraft applies as it commits
	Pending       func() int    // proposals waiting for raft
	HasLeader     func() bool   // a leader is known and was heard from lately
	IsLeader      func() bool
	LeaderChanges func() uint64 // changes to a new known leader seen
}

// WatchRaft adds the metrics read from r when scraped.
func (n *Node) WatchRaft(r Raft) {
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	n.registry.MustRegister(
		// etcd shows both as gauges, despite their names.
		gauge("etcd_server_proposals_committed_total", "The raft commit index.",
			func() float64 { return float64(r.CommitIndex()) }),
		gauge("etcd_server_proposals_applied_total", "The last log index applied (goraft applies each entry as it commits it).",
			func() float64 { return float64(r.CommitIndex()) }),
		gauge("etcd_server_proposals_pending", "Proposals handed to raft and not committed yet.",
			func() float64 { return float64(r.Pending()) }),
		gauge("etcd_server_has_leader", "1 while a leader is known and was heard from within an election timeout, else 0.",
			func() float64 { return flag(r.HasLeader()) }),
		gauge("etcd_server_is_leader", "1 while this member leads, else 0.",
			func() float64 { return flag(r.IsLeader()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "etcd_server_leader_changes_seen_total",
			Help: "New leaders this member learned of.",
		}, func() float64 { return float64(r.LeaderChanges()) }),
	)
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Handler serves the metrics in Prometheus's exposition formats.
func (n *Node) Handler() http.Handler {
	return promhttp.HandlerFor(n.registry, promhttp.HandlerOpts{})
}
