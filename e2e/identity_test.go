package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// clusterIDHeader carries a cluster's identity on the peer port.
const clusterIDHeader = "X-Etcd-Cluster-ID"

// raftPosition is GET /term on the peer port.
type raftPosition struct {
	Term   uint64 `json:"term"`
	State  string `json:"state"`
	Leader string `json:"leader"`
}

func (n *node) position() raftPosition {
	n.t.Helper()
	var pos raftPosition
	if err := json.Unmarshal([]byte(n.peerText("/term")), &pos); err != nil {
		n.fatalf("GET /term on the raft port: %v", err)
	}
	return pos
}

// clusterID is the cluster identity n's peer port answers with.
func (n *node) clusterID() string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.raftURL("/version"), nil)
	if err != nil {
		n.fatalf("%v", err)
	}
	r, err := n.send(req)
	if err != nil || r.Status != http.StatusOK {
		n.fatalf("GET /version on the raft port: %v %v", r, err)
	}
	return r.Header.Get(clusterIDHeader)
}

// TestNodeRefusesAnotherClustersLeader: a single node that takes the peer
// port a member of another cluster had keeps its leadership and its data
// when that cluster's leader reaches it, and says why. Before clusters had
// identities, the leader's higher term made the node its follower (seen in
// CI, where a test's node took a port another test's cluster had just
// used), and the leader would have replaced its log with its own.
func TestNodeRefusesAnotherClustersLeader(t *testing.T) {
	c := startCluster(t, 3)
	// A term above the single node's, as the stray leader's was in CI.
	first := c.waitLeader(readyTimeout)
	first.crash()
	leader := c.waitLeader(electionTimeout)
	first.restart()
	leader = c.waitLeader(electionTimeout)
	var gone *node
	for _, m := range c.members {
		if m != leader {
			gone = m
		}
	}
	gone.stop()

	single := newNode(t, "single", freePort(t), gone.raftPort, filepath.Join(t.TempDir(), "single.etcd"), t.TempDir())
	single.start()
	single.mustBeReady()
	single.set("/mine", "kept")
	before := single.position()
	if before.State != "leader" || before.Term >= leader.position().Term {
		t.Fatalf("the single node is at %+v, the other cluster's leader at term %d: want a leader of a lower term", before, leader.position().Term)
	}

	// The other cluster's leader sends to its member's address at every
	// heartbeat, and a candidate there asks it for votes.
	testnode.WaitFor(t, readyTimeout, "the other cluster's leader to reach the single node", func() (bool, string) {
		pos := single.position()
		return pos != before || strings.Contains(single.log.String(), "refused POST"), fmt.Sprintf("%+v", pos)
	})
	if pos := single.position(); pos != before {
		t.Fatalf("the single node was at %+v, and is at %+v once the other cluster's leader %s reached it", before, pos, leader.name)
	}
	if got := single.get("/mine").Value; got != "kept" {
		t.Fatalf("/mine = %q on the single node, want kept", got)
	}
	single.set("/after", "written")
	if got := single.text("/v1/leader"); got != single.raftURL("") {
		t.Fatalf("the single node's leader is %q, want itself", got)
	}

	ours, theirs := single.clusterID(), leader.clusterID()
	if ours == "" || theirs == "" || ours == theirs {
		t.Fatalf("cluster identities: the single node's %q, the other cluster's %q", ours, theirs)
	}
	// The first refusal may come before the node founded its cluster; the
	// next are held back for a while.
	want := "the request comes from cluster " + theirs
	if !strings.Contains(single.log.String(), want) {
		t.Fatalf("the single node does not log %q", want)
	}
	testnode.WaitFor(t, readyTimeout, "the other cluster's leader to log the answer", func() (bool, string) {
		return strings.Contains(leader.log.String(), fmt.Sprintf("belongs to cluster %s, and this node to cluster %s", ours, theirs)), ""
	})
}

// TestDataOfOneClusterPointedAtAnother: a node holding a cluster's data
// that is started with -C naming a member of another cluster stops, and
// says which member, which clusters, and that -f would start it afresh. It
// used to go on in its own cluster as if it had joined the other. Its data
// is left as it was.
func TestDataOfOneClusterPointedAtAnother(t *testing.T) {
	t.Parallel()
	a := startNode(t, "alpha")
	a.set("/a", "1")
	a.stop()
	b := startNode(t, "beta")

	a.start("-C", b.raftAddr())
	if code := a.waitExit(exitTimeout); code != 1 {
		t.Fatalf("exit status %d, want 1", code)
	}
	idA, err := os.ReadFile(filepath.Join(a.dataDir, "cluster_id"))
	if err != nil {
		t.Fatal(err)
	}
	line := a.lastLogLine()
	for _, want := range []string{b.raftURL(""), "belongs to cluster " + b.clusterID(), strings.TrimSpace(string(idA)), "-f", a.dataDir} {
		if !strings.Contains(line, want) {
			t.Fatalf("the message %q does not say %q", line, want)
		}
	}

	a.restart()
	if got := a.get("/a").Value; got != "1" {
		t.Fatalf("/a = %q after the refused start, want 1", got)
	}
	if got := b.text("/v1/machines"); got != b.url("") {
		t.Fatalf("the other cluster's members are %q", got)
	}
}

// TestDataFromBeforeIdentities: members whose data directories were
// written before clusters had identities restart and serve; the first
// leader draws the identity, and every member takes it.
func TestDataFromBeforeIdentities(t *testing.T) {
	c := startCluster(t, 3)
	c.set("/before", "1")
	for _, m := range c.members {
		m.stop()
		if err := os.Remove(filepath.Join(m.dataDir, "cluster_id")); err != nil {
			t.Fatal(err)
		}
	}
	c.restartAll()
	c.set("/after", "2")
	var ids []string
	testnode.WaitFor(t, readyTimeout, "every member to hold one cluster identity", func() (bool, string) {
		ids = ids[:0]
		for _, m := range c.members {
			b, _ := os.ReadFile(filepath.Join(m.dataDir, "cluster_id"))
			ids = append(ids, strings.TrimSpace(string(b)))
		}
		return ids[0] != "" && ids[0] == ids[1] && ids[1] == ids[2], fmt.Sprint(ids)
	})
	for _, m := range c.members {
		if got := m.clusterID(); got != ids[0] {
			t.Fatalf("%s answers as cluster %q, its file says %q", m.name, got, ids[0])
		}
	}
	joiner := c.add("node4", "-C", c.members[0].raftAddr())
	if got := joiner.clusterID(); got != ids[0] {
		t.Fatalf("a new member answers as cluster %q, want %q", got, ids[0])
	}
	if got := joiner.get("/before").Value; got != "1" {
		t.Fatalf("/before = %q on the new member", got)
	}
}
