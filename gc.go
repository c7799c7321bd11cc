package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Go's collector lets the heap grow to twice what is live before it
// collects (GOGC=100). The store is almost all of what is live, about
// 250 bytes a key, so a large store doubles its footprint for nothing: a
// million keys took 500 MB where 250 MB were live. Past heapHeadroom of
// live heap the growth is held to heapHeadroom instead, down to
// minGCPercent: collections then come more often, each costing about what
// it did. Below it nothing changes.
const (
	heapHeadroom = 128 << 20
	minGCPercent = 25
)

// gcPercentFor is the GOGC that lets a heap with live bytes live grow by
// heapHeadroom, within [minGCPercent, 100].
func gcPercentFor(live uint64) int {
	if live <= heapHeadroom {
		return 100
	}
	return max(minGCPercent, int(100*heapHeadroom/live))
}

// boundHeapGrowth follows the live heap, once a second, and sets GOGC from
// it, unless the GOGC environment variable set it already.
func boundHeapGrowth() {
	if os.Getenv("GOGC") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	current := 100
	for range time.Tick(time.Second) {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		if p := gcPercentFor(sample[0].Value.Uint64()); p != current {
			debug.SetGCPercent(p)
			current = p
		}
	}
}
