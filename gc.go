package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Go's collector lets the heap grow to twice what is live before it
// collects (GOGC=100), and gives freed memory back to the system slowly.
// The store is almost all of what is live, about 230 bytes a key, so a
// large store doubles its footprint for nothing: a million keys took 520
// MB where 260 MB were live. The node holds the Go runtime's memory to
// what is live plus heapHeadroom, through the runtime's soft memory limit,
// which makes it collect sooner and return freed memory at once. A small
// heap still grows by GOGC's rule, which then comes first.
//
// The limit is set again at the end of every GC cycle (by a cleanup that
// the cycle runs), from what that cycle found live, so that it follows the
// heap as it changes. Goroutine stacks count toward the limit and grow
// with the connections, so they are added to the live heap.
//
// A burst that keeps what it allocates (large values arriving, a large
// store loaded at a restart) outgrows such a limit within a cycle: the
// cycle ends with the heap at the limit it started from, and the next one
// starts at once, before the limit can be raised. (Set once a second, the
// limit let cycles run back to back for up to a second.) So when two
// cycles in a row find more than half of what was allocated since the
// cycle before still live, GOGC bounds the heap instead, with no limit:
// GOGC is a share of what is live, which the runtime applies itself as
// each cycle ends, so the headroom follows the growing heap at once. The
// headroom starts at twice heapHeadroom and doubles at each cycle while
// the burst lasts, up to the live heap (GOGC=100): a burst of B bytes
// costs about log2(B / heapHeadroom) cycles rather than B / heapHeadroom.
// The first cycle that finds the heap holding still sets the limit again,
// which returns what the burst freed. A single cycle's growth, such as a
// snapshot's list of nodes, stays under the limit.
const heapHeadroom = 96 << 20

// heapBound bounds the heap after each GC cycle.
type heapBound struct {
	floor uint64 // the headroom while the heap holds still

	mu       sync.Mutex
	stopped  bool
	samples  []metrics.Sample
	last     heapSample // what the last cycle found
	headroom uint64     // the headroom set after the last cycle
	kept     bool       // the last cycle found most of what was allocated before it live
}

// heapSample is what heapBound reads after a cycle.
type heapSample struct {
	live      uint64 // the live heap the cycle found
	allocated uint64 // bytes allocated on the heap since the process started
	stacks    uint64 // goroutine stacks
}

// heapBoundMetrics are the metrics heapBound reads, in the order of
// heapBound.samples.
var heapBoundMetrics = []string{
	"/gc/heap/live:bytes",
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/stacks:bytes",
	"/memory/classes/os-stacks:bytes",
}

// boundHeapGrowth holds the heap to heapHeadroom over what is live, unless
// the GOGC or GOMEMLIMIT environment variable says how to collect.
func boundHeapGrowth() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	startHeapBound(heapHeadroom)
}

// startHeapBound bounds the heap now and after every GC cycle, with a
// headroom of at least floor; stop gives the runtime its defaults back.
func startHeapBound(floor uint64) (stop func()) {
	b := &heapBound{floor: floor, headroom: floor, samples: make([]metrics.Sample, len(heapBoundMetrics))}
	for i, name := range heapBoundMetrics {
		b.samples[i].Name = name
	}
	// What is live already is no growth.
	b.last, _ = b.read()
	b.afterCycle()
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.stopped = true
		debug.SetMemoryLimit(math.MaxInt64)
		debug.SetGCPercent(100)
	}
}

// gcSentinel is an object kept by no one, so that the next GC cycle finds
// it unreachable and runs its cleanup. It holds a pointer so that it is
// never a tiny allocation, whose cleanup could wait for its neighbours.
type gcSentinel struct{ _ *byte }

// afterCycle bounds the heap from what the last GC cycle found live, and
// has the next cycle call it again, until stopped. It stops if the runtime
// does not tell what is live.
func (b *heapBound) afterCycle() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		return
	}
	now, ok := b.read()
	if !ok {
		b.stopped = true
		return
	}
	gcPercent, memoryLimit := b.boundFor(now)
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(memoryLimit)
	runtime.AddCleanup(new(gcSentinel), (*heapBound).afterCycle, b)
}

// read reads what the last cycle found.
func (b *heapBound) read() (heapSample, bool) {
	metrics.Read(b.samples)
	var v [4]uint64
	for i, s := range b.samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return heapSample{}, false
		}
		v[i] = s.Value.Uint64()
	}
	return heapSample{live: v[0], allocated: v[1], stacks: v[2] + v[3]}, true
}

// boundFor is the GOGC and the memory limit (math.MaxInt64: none) after a
// cycle that found now.
func (b *heapBound) boundFor(now heapSample) (gcPercent int, memoryLimit int64) {
	var grown uint64
	if now.live > b.last.live {
		grown = now.live - b.last.live
	}
	kept := grown > (now.allocated-b.last.allocated)/2
	burst := kept && b.kept
	headroom := b.floor
	if burst {
		headroom = max(b.floor, min(2*b.headroom, now.live))
	}
	b.last, b.headroom, b.kept = now, headroom, kept
	if !burst {
		return 100, int64(min(now.live+now.stacks+headroom, math.MaxInt64))
	}
	return gcPercentFor(now.live, headroom), math.MaxInt64
}

// gcPercentFor is the GOGC that lets a heap of live bytes live grow by
// headroom, within [1, 100].
func gcPercentFor(live, headroom uint64) int {
	if live == 0 {
		return 100
	}
	return int(min(100, max(1, math.Ceil(100*float64(headroom)/float64(live)))))
}
