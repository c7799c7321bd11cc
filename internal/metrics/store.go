package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/etcd-recreation/etcd/store"
)

// storeCollector shows the store's own counters (store.V2Stats, which count
// both APIs' operations by their v2 action) under etcd's v2 store metric
// names, read when scraped: the store is not instrumented.
// Reads and writes are labelled by the actions the store reports, so that
// a new action shows with no change here.
type storeCollector struct {
	stats                func() store.V2Stats
	reads, readsFailed   *prometheus.Desc
	writes, writesFailed *prometheus.Desc
	expires, watchers    *prometheus.Desc
}

// WatchStore adds the counters stats returns, read when scraped.
func (n *Node) WatchStore(stats func() store.V2Stats) {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("etcd_debugging_store_"+name, help, labels, nil)
	}
	n.registry.MustRegister(&storeCollector{
		stats:        stats,
		reads:        desc("reads_total", "Store reads on this member by action, failed ones included.", "action"),
		readsFailed:  desc("reads_failed_total", "Store reads on this member that failed, by action.", "action"),
		writes:       desc("writes_total", "Store writes this member applied by action, failed ones included.", "action"),
		writesFailed: desc("writes_failed_total", "Store writes this member applied that failed, by action.", "action"),
		expires:      desc("expires_total", "Keys removed because their TTL ran out."),
		watchers:     desc("watchers", "Watches waiting now."),
	})
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.reads, c.readsFailed, c.writes, c.writesFailed, c.expires, c.watchers} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	for _, a := range st.ByAction() {
		total, failed := c.writes, c.writesFailed
		if a.Read {
			total, failed = c.reads, c.readsFailed
		}
		ch <- prometheus.MustNewConstMetric(total, prometheus.CounterValue, float64(a.Total), a.Action)
		ch <- prometheus.MustNewConstMetric(failed, prometheus.CounterValue, float64(a.Failed), a.Action)
	}
	ch <- prometheus.MustNewConstMetric(c.expires, prometheus.CounterValue, float64(st.ExpireCount))
	ch <- prometheus.MustNewConstMetric(c.watchers, prometheus.GaugeValue, float64(st.Watchers))
}
