package e2e

import (
	"strings"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestRejoinLogSaysWhatMinusCIsFor: a member restarted over its data with
// -C does not claim to ignore -C, and when no leader reaches it, the
// addresses it asks to join again through are each named once, though
// -C's address is also a member it knows.
func TestRejoinLogSaysWhatMinusCIsFor(t *testing.T) {
	t.Parallel()
	c := startCluster(t, 2)
	node1, node2 := c.members[0], c.members[1]
	node2.stop()
	node1.stop()
	node2.start() // with its -C: node1's address
	const asking = "asking to join again through "
	var line string
	testnode.WaitFor(t, electionTimeout, "node2 to ask to join again", func() (bool, string) {
		out := node2.log.String()
		out = out[strings.LastIndex(out, "=== run 2"):]
		_, rest, found := strings.Cut(out, asking)
		line, _, _ = strings.Cut(rest, "\n")
		return found, out
	})
	out := node2.log.String()
	out = out[strings.LastIndex(out, "=== run 2"):]
	if strings.Contains(out, "not -C/-CF") {
		t.Fatalf("node2 says it ignores -C, then asks to join through its address; log:\n%s", out)
	}
	if !strings.Contains(out, "-C/-CF") {
		t.Fatalf("node2's log does not say what it does with -C; log:\n%s", out)
	}
	if line != node1.raftURL("") {
		t.Fatalf("node2 asks to join again through %q, want node1's %s once", line, node1.raftURL(""))
	}
	node1.start()
	node1.mustBeReady()
	node2.mustBeReady()
}
