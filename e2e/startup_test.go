package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestSIGHUPDuringStartUp: SIGHUP reloads the certificates; sent while a
// node is still starting (here: trying to join), it must not kill it.
func TestSIGHUPDuringStartUp(t *testing.T) {
	base := t.TempDir()
	nowhere := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := newNode(t, "hup", freePort(t), freePort(t), filepath.Join(base, "hup.etcd"), base, "-C", nowhere, "-r", "3")
	n.start()
	testnode.WaitFor(t, 10*time.Second, "the node to try to join", func() (bool, string) {
		out := n.log.String()
		return strings.Contains(out, "cannot join through"), out
	})
	n.process().Signal(syscall.SIGHUP)
	if code := n.waitExit(30 * time.Second); code != 1 || !strings.Contains(n.lastLogLine(), "cannot join the cluster") {
		t.Fatalf("after a SIGHUP during start-up the node exited with %d (%v): %q; want it to go on until its join fails",
			code, n.exitError(), n.lastLogLine())
	}
}

// TestSIGTERMDuringStartUp: SIGTERM stops a node that is still starting
// (here: trying to join) at once, and says so; the same handler, in place
// from the start, lets a SIGTERM that comes as the node begins to serve
// stop it cleanly instead of killing it.
func TestSIGTERMDuringStartUp(t *testing.T) {
	base := t.TempDir()
	nowhere := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := newNode(t, "term", freePort(t), freePort(t), filepath.Join(base, "term.etcd"), base, "-C", nowhere, "-r", "100")
	n.start()
	testnode.WaitFor(t, 10*time.Second, "the node to try to join", func() (bool, string) {
		out := n.log.String()
		return strings.Contains(out, "cannot join through"), out
	})
	n.process().Signal(syscall.SIGTERM)
	if code := n.waitExit(10 * time.Second); code != 1 || !strings.Contains(n.lastLogLine(), "received terminated while starting") {
		t.Fatalf("after a SIGTERM during start-up the node exited with %d (%v): %q; want status 1 and the signal named",
			code, n.exitError(), n.lastLogLine())
	}
}
