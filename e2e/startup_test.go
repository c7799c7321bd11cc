package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIGHUPDuringStartUp: SIGHUP reloads the certificates; sent while a
// node is still starting (here: trying to join), it must not kill it.
func TestSIGHUPDuringStartUp(t *testing.T) {
	base := t.TempDir()
	nowhere := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := newNode(t, "hup", freePort(t), freePort(t), filepath.Join(base, "hup.etcd"), base, "-C", nowhere, "-r", "3")
	n.start()
	waitFor(t, 10*time.Second, "the node to try to join", func() (bool, string) {
		out := n.log.String()
		return strings.Contains(out, "cannot join through"), out
	})
	n.process().Signal(syscall.SIGHUP)
	if code := n.waitExit(30 * time.Second); code != 1 || !strings.Contains(n.lastLogLine(), "cannot join the cluster") {
		t.Fatalf("after a SIGHUP during start-up the node exited with %d (%v): %q; want it to go on until its join fails",
			code, n.exitError(), n.lastLogLine())
	}
}
