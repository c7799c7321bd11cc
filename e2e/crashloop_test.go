package e2e

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestCrashLoop kills or stops a node again and again while clients write
// and while it snapshots and compacts its log (every 100 writes), and checks
// after every restart that no acknowledged write of any round was lost.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	n := startNode(t, "loop", "-snapshotCount", "100")
	var all []ack
	var lastIndex uint64
	snapshots := func() map[string]bool {
		names, _ := filepath.Glob(filepath.Join(n.dataDir, "snapshot", "*.ss"))
		set := map[string]bool{}
		for _, name := range names {
			set[filepath.Base(name)] = true
		}
		return set
	}
	for round := range 6 {
		before := snapshots()
		var acked atomic.Int64
		done := make(chan []ack, 1)
		go func() {
			done <- writeKeys(t, n, fmt.Sprintf("/loop/r%d", round), 100000, 4, func(c int) { acked.Store(int64(c)) })
		}()
		// Even rounds crash the node (SIGKILL) as soon as a new snapshot file
		// appears, likely while the log behind it is being compacted; odd
		// rounds stop it (SIGTERM, which must exit 0) after some writes.
		if round%2 == 0 {
			testnode.WaitFor(t, 15*time.Second, "a new snapshot file", func() (bool, string) {
				now := snapshots()
				for name := range now {
					if !before[name] {
						return true, ""
					}
				}
				return false, fmt.Sprintf("snapshots %v, %d writes acknowledged", now, acked.Load())
			})
		} else {
			want := int64(100 + 70*round)
			testnode.WaitFor(t, 15*time.Second, fmt.Sprintf("%d acknowledged writes", want), func() (bool, string) {
				return acked.Load() >= want, fmt.Sprintf("%d", acked.Load())
			})
		}
		if round%2 == 0 {
			n.crash()
		} else {
			n.stop()
		}
		var acks []ack
		select {
		case acks = <-done:
		case <-time.After(2 * requestTimeout):
			t.Fatalf("round %d: the writers did not stop after the crash", round)
		}
		if t.Failed() {
			t.FailNow()
		}
		if len(acks) == 0 {
			t.Fatalf("round %d: no write acknowledged", round)
		}
		for _, a := range acks {
			if a.index <= lastIndex {
				t.Fatalf("round %d: %s acknowledged at index %d, not above the previous round's last %d", round, a.key, a.index, lastIndex)
			}
		}
		for _, a := range acks {
			lastIndex = max(lastIndex, a.index)
		}
		all = append(all, acks...)
		n.restart()
		checkAcked(t, n, all, false)
		t.Logf("round %d: %d writes acknowledged, %d in all, all present after the restart", round, len(acks), len(all))
	}
}
