package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Go's collector lets the heap grow to twice what is live before it
// collects (GOGC=100), and gives freed memory back to the system slowly.
// The store is almost all of what is live, about 230 bytes a key, so a
// large store doubles its footprint for nothing: a million keys took 520
// MB where 260 MB were live. The node holds the Go runtime's memory to
// what is live plus heapHeadroom, through the runtime's soft memory limit,
// which makes it collect sooner and return freed memory at once. A small
// heap still grows by GOGC's rule, which then comes first.
const heapHeadroom = 96 << 20

// memoryLimitFor is the memory limit for a live heap of live bytes.
func memoryLimitFor(live uint64) int64 { return int64(live) + heapHeadroom }

// boundHeapGrowth follows the live heap, once a second, and sets the
// memory limit from it, unless the GOGC or GOMEMLIMIT environment variable
// says how to collect.
func boundHeapGrowth() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	for range time.Tick(time.Second) {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return
		}
		debug.SetMemoryLimit(memoryLimitFor(sample[0].Value.Uint64()))
	}
}
