package main

import (
	"runtime"
	"testing"
	"time"
)

// TestIdleNodeRunsOnOneP: an idle member spent most of its CPU on the
// scheduler waking spare threads for nothing; it runs on one P until a
// request comes, which brings every P back.
func TestIdleNodeRunsOnOneP(t *testing.T) {
	n := startTestNode(t)
	if !procs.active.Load() {
		t.Skip("GOMAXPROCS is set in the environment, or the process has one P anyway")
	}
	for range 3 {
		waitFor(t, 5*procsQuiet, "an idle node to run on one P", func() bool { return runtime.GOMAXPROCS(0) == 1 })
		n.set("busy", "v")
		waitFor(t, 5*time.Second, "a request to bring back every P", func() bool { return runtime.GOMAXPROCS(0) > 1 })
	}
}
