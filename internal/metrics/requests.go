package metrics

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// methods are the method labels of client requests: the HTTP method, QGET
// for a read that goes through the log (as etcd labels a quorum read), and
// OTHER for any method the API does not serve, so that clients cannot make
// up labels.
var methods = [...]string{"GET", "QGET", "HEAD", "POST", "PUT", "DELETE", "OTHER"}

// Failures are answers with a status from 400 to 599.
const (
	firstFailure = 400
	statusEnd    = 600
)

// Requests counts client requests as etcd 2.x's v2 HTTP API did: those
// received, those that failed by status, and how long the others took.
// Counting takes no lock: the counters are atomic, and each method's
// histogram is bound to its label once.
type Requests struct {
	received     [len(methods)]atomic.Uint64
	failed       [len(methods)][statusEnd - firstFailure]atomic.Uint64
	durations    *prometheus.HistogramVec
	bound        [len(methods)]func() prometheus.Observer
	receivedDesc *prometheus.Desc
	failedDesc   *prometheus.Desc
}

func newRequests() *Requests {
	r := &Requests{
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "etcd_http_successful_duration_seconds",
			Help: "Seconds to answer each request of the key space that did not fail, watches aside, by method.",
			// 0.5 ms to 2 s, as etcd's.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 13),
		}, []string{"method"}),
		receivedDesc: prometheus.NewDesc("etcd_http_received_total",
			"Requests of the key space, watches aside, by method.", []string{"method"}, nil),
		failedDesc: prometheus.NewDesc("etcd_http_failed_total",
			"Requests of the key space answered with a status from 400 to 599, watches aside, by method and status.", []string{"method", "code"}, nil),
	}
	for i, m := range methods {
		r.bound[i] = sync.OnceValue(func() prometheus.Observer { return r.durations.WithLabelValues(m) })
	}
	return r
}

// Done counts a request of method (one of methods; any other counts as
// OTHER) answered with status after took.
func (r *Requests) Done(method string, status int, took time.Duration) {
	i := slices.Index(methods[:], method)
	if i < 0 {
		i = len(methods) - 1
	}
	r.received[i].Add(1)
	if status >= firstFailure && status < statusEnd {
		r.failed[i][status-firstFailure].Add(1)
		return
	}
	r.bound[i]().Observe(took.Seconds())
}

// Describe and Collect show the counters; a series appears once it counts
// something, as etcd's do.
func (r *Requests) Describe(ch chan<- *prometheus.Desc) {
	ch <- r.receivedDesc
	ch <- r.failedDesc
}

func (r *Requests) Collect(ch chan<- prometheus.Metric) {
	for i, m := range methods {
		if n := r.received[i].Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(r.receivedDesc, prometheus.CounterValue, float64(n), m)
		}
		for s := range r.failed[i] {
			if n := r.failed[i][s].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(r.failedDesc, prometheus.CounterValue, float64(n), m, strconv.Itoa(firstFailure+s))
			}
		}
	}
}
