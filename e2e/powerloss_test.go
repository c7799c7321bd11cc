package e2e

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/powerloss"
)

// The power-loss tests run nodes under strace, cut the power (SIGKILL, then
// throw away everything the node had not made durable, as computed from the
// trace by package powerloss), restart the nodes on what is left, and check
// that every acknowledged write is still there. A plain SIGKILL keeps the
// page cache and so cannot catch a missing fsync; this can.
//
// strace slows the node down (it stops it at every traced call): the write
// counts are modest.
const (
	powerLossWrites  = 200 // per test, from powerLossWorkers clients
	powerLossWorkers = 4
	// The power goes while the writers are still writing.
	powerLossCutAfter = 150
)

// TestPowerLossSingleNode cuts the power of a lone node in the middle of
// concurrent writes.
func TestPowerLossSingleNode(t *testing.T) {
	t.Parallel()
	straceBin := requireStrace(t)
	n := launchTraced(t, straceBin, t.TempDir(), "powerloss")
	acks := writeAndCutPower(t, []*node{n}, nil, func(progress func(int)) []ack {
		return writeKeys(t, n, "/powerloss", powerLossWrites, powerLossWorkers, progress)
	})
	restoreAfterPowerCut(t, n)
	n.restart()
	checkAcked(t, n, acks, false)
}

// TestPowerLossCluster cuts the power of every member of a 3-member cluster
// at once, in the middle of concurrent writes.
func TestPowerLossCluster(t *testing.T) {
	t.Parallel()
	straceBin := requireStrace(t)
	c := newCluster(t)
	first := launchTraced(t, straceBin, c.base, "node1")
	c.members = append(c.members, first)
	for _, name := range []string{"node2", "node3"} {
		c.members = append(c.members, launchTraced(t, straceBin, c.base, name, "-C", first.raftAddr()))
	}
	c.waitLeader(readyTimeout)
	stop := make(chan struct{})
	acks := writeAndCutPower(t, c.members, stop, func(progress func(int)) []ack {
		return c.writeKeys("/powerloss", powerLossWorkers, powerLossWrites, stop, progress)
	})
	for _, m := range c.members {
		restoreAfterPowerCut(t, m)
	}
	c.restartAll()
	for _, m := range c.members {
		checkAcked(t, m, acks, false)
	}
}

// writeAndCutPower runs write (concurrent writers that report every
// acknowledgement to progress) and cuts the power of nodes once
// powerLossCutAfter writes are acknowledged, then closes stop (if not nil)
// for writers that would otherwise retry. It returns the acknowledged
// writes.
func writeAndCutPower(t *testing.T, nodes []*node, stop chan struct{}, write func(progress func(acked int)) []ack) []ack {
	t.Helper()
	reached := make(chan struct{})
	var once sync.Once
	writersDone := make(chan []ack, 1)
	go func() {
		writersDone <- write(func(acked int) {
			if acked >= powerLossCutAfter {
				once.Do(func() { close(reached) })
			}
		})
	}()
	select {
	case <-reached:
	case acks := <-writersDone:
		t.Fatalf("the writers stopped after %d of %d writes", len(acks), powerLossWrites)
	case <-time.After(60 * time.Second):
		t.Fatalf("fewer than %d writes acknowledged within 60 s", powerLossCutAfter)
	}
	cutPower(t, nodes...)
	if stop != nil {
		close(stop)
	}
	var acks []ack
	select {
	case acks = <-writersDone:
	case <-time.After(2 * requestTimeout):
		t.Fatal("the writers did not stop after the power cut")
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d writes acknowledged before the power cut", len(acks))
	return acks
}

func requireStrace(t *testing.T) string {
	t.Helper()
	p, err := powerloss.Strace()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// launchTraced starts a node with a new data directory base/NAME.etcd under
// strace, which writes its trace to base/NAME.strace, and waits until it
// serves clients.
func launchTraced(t *testing.T, straceBin, base, name string, flags ...string) *node {
	t.Helper()
	return launchNodeWith(t, base, name, func(n *node) {
		n.wrapper = append([]string{straceBin}, powerloss.StraceArgs(tracePath(n))...)
		// Killing strace would leave etcd running, detached: kill etcd.
		t.Cleanup(func() {
			if n.wrapper != nil && n.running() {
				if pid, err := tracedPID(n); err == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		})
	}, flags...)
}

func tracePath(n *node) string {
	return strings.TrimSuffix(n.dataDir, ".etcd") + ".strace"
}

// tracedPID is the pid of the etcd process strace runs for n.
func tracedPID(n *node) (int, error) {
	return powerloss.TracedPID(n.process().Pid())
}

// cutPower freezes every node's etcd at once (SIGSTOP), waits until strace
// has seen every thread stop, so that nothing is in flight, then kills them
// and waits for the strace watching each to exit. The moment of the freeze
// is the power cut.
func cutPower(t *testing.T, nodes ...*node) {
	t.Helper()
	var pids []int
	for _, n := range nodes {
		pid, err := tracedPID(n)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("stop %d: %v", pid, err)
		}
	}
	for i, n := range nodes {
		if err := powerloss.WaitStopped(pids[i], tracePath(n), exitTimeout); err != nil {
			t.Fatalf("node %s: %v", n.name, err)
		}
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %d: %v", pid, err)
		}
	}
	for _, n := range nodes {
		if n.process().Wait(exitTimeout) != nil {
			n.fatalf("strace for node %s did not exit within %v of the kill", n.name, exitTimeout)
		}
		n.transport.CloseIdleConnections()
	}
}

// restoreAfterPowerCut replaces n's data directory with what the power cut
// left of it, computed from n's trace, and makes n start without strace
// from now on. The directory as the kill left it is kept beside it, as
// NAME.etcd.killed, for a look after a failure.
func restoreAfterPowerCut(t *testing.T, n *node) {
	t.Helper()
	f, err := os.Open(tracePath(n))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	model, err := powerloss.Replay(f, n.dataDir)
	if err != nil {
		t.Fatalf("node %s: replaying %s: %v", n.name, tracePath(n), err)
	}
	// The model must agree with the directory the kill left (the page
	// cache survives a kill), or its image of the power cut means nothing.
	if err := model.Verify(n.dataDir); err != nil {
		t.Fatalf("node %s: %v", n.name, err)
	}
	killed := n.dataDir + ".killed"
	if err := os.Rename(n.dataDir, killed); err != nil {
		t.Fatal(err)
	}
	if err := model.Materialize(n.dataDir); err != nil {
		t.Fatalf("node %s: %v", n.name, err)
	}
	if losses := model.Losses(); len(losses) > 0 {
		t.Logf("node %s: the power cut loses what was not made durable:\n\t%s", n.name, strings.Join(losses, "\n\t"))
	} else {
		t.Logf("node %s: the power cut loses nothing", n.name)
	}
	n.wrapper = nil
}
