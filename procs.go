package main

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The Go scheduler wakes a spare thread whenever a goroutine becomes
// runnable while a P is idle; the thread finds nothing to steal and sleeps
// again. On an idle member a heartbeat readies a handful of goroutines in
// turn (HTTP, goraft's event loop, the fsync), and those wake-ups cost more
// CPU than the heartbeat's own work. So a member that serves no requests
// runs on one P, and takes back the default as soon as a request arrives.
// GOMAXPROCS set in the environment is obeyed as it is.

// procsQuiet is how long a member must go without a request before it
// runs on one P.
const procsQuiet = time.Second

// procs governs GOMAXPROCS for every node in the process: it is a
// property of the process.
var procs = &procGovernor{wake: make(chan struct{}, 1)}

type procGovernor struct {
	once sync.Once
	// requests counts the requests that do work.
	requests atomic.Uint64
	// low is set while the process runs on one P.
	low  atomic.Bool
	wake chan struct{}
	// active is set once governing has begun.
	active atomic.Bool
}

// start begins governing, once per process, unless the environment sets
// GOMAXPROCS or there is only one P anyway.
func (g *procGovernor) start() {
	g.once.Do(func() {
		if os.Getenv("GOMAXPROCS") != "" || runtime.GOMAXPROCS(0) == 1 {
			return
		}
		g.active.Store(true)
		go g.run()
	})
}

// busy records a request that does work: a client request, or a peer's
// append with entries, snapshot or join. Idle heartbeats are not.
func (g *procGovernor) busy() {
	g.requests.Add(1)
	if g.low.Load() {
		tell(g.wake)
	}
}

func (g *procGovernor) run() {
	quiet := time.NewTicker(procsQuiet)
	defer quiet.Stop()
	seen := g.requests.Load()
	for {
		<-quiet.C
		if n := g.requests.Load(); n != seen {
			seen = n
			continue
		}
		// Drop the wake-up of a request counted above, so that the next
		// one is fresh.
		select {
		case <-g.wake:
		default:
		}
		g.low.Store(true)
		// A request counted after the load above but before low was set
		// sent no wake-up: look once more.
		if g.requests.Load() != seen {
			g.low.Store(false)
			continue
		}
		quiet.Stop()
		runtime.GOMAXPROCS(1)
		<-g.wake
		runtime.SetDefaultGOMAXPROCS()
		g.low.Store(false)
		seen = g.requests.Load()
		quiet.Reset(procsQuiet)
	}
}
