package metrics

import "github.com/prometheus/client_golang/prometheus"

// PeerRTT is the round-trip time of appends (heartbeats included) to each
// peer, by the peer's name.
type PeerRTT struct {
	vec *prometheus.HistogramVec
}

func newPeerRTT() *PeerRTT {
	return &PeerRTT{vec: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "etcd_network_peer_round_trip_time_seconds",
		Help: "Seconds from sending an append (or heartbeat) to a peer to its answer, by peer name.",
		// 0.1 ms to 3.3 s, as etcd's.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
	}, []string{"To"})}
}

// For is peer's histogram. Finding it takes a lock: keep it.
func (p *PeerRTT) For(peer string) prometheus.Observer { return p.vec.WithLabelValues(peer) }

// Forget drops a removed member's histogram.
func (p *PeerRTT) Forget(peer string) { p.vec.DeleteLabelValues(peer) }
