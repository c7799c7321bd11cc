package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestManyIdleWatchersAndConnections holds 10,000 pending watches and 1,000
// idle connections on one node, and checks that it keeps serving writes and
// reads promptly, that a write wakes its watchers, and that everything is
// released when the clients go away.
func TestManyIdleWatchersAndConnections(t *testing.T) {
	const (
		watchers = 10000
		idle     = 1000
		hotKey   = 500 // watchers of the key that is written
	)
	n := startNode(t, "limits")
	var conns []net.Conn
	t.Cleanup(func() { closeAll(conns) })
	dial := func() net.Conn {
		c := dialClient(t, n)
		conns = append(conns, c)
		return c
	}
	for i := range watchers {
		key := fmt.Sprintf("idle/%d", i)
		if i < hotKey {
			key = "hot"
		}
		c := dial()
		if _, err := fmt.Fprintf(c, "GET /v1/watch/%s HTTP/1.1\r\nHost: etcd\r\n\r\n", key); err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
	}
	for range idle {
		dial()
	}
	n.waitWatchers(watchers, 60*time.Second)

	start := time.Now()
	set := n.set("/hot", "news")
	if got := n.get("/hot"); got.Value != "news" {
		t.Fatalf("GET hot = %+v", got)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("a write and a read took %v with %d watchers pending", took, watchers)
	}
	for i := range hotKey {
		conns[i].SetReadDeadline(time.Now().Add(10 * time.Second))
		status, err := bufio.NewReader(conns[i]).ReadString('\n')
		if err != nil || !strings.Contains(status, "200") {
			t.Fatalf("watcher %d of the written key: %q, %v", i, status, err)
		}
	}
	n.waitWatchers(watchers-hotKey, 10*time.Second)
	rss := residentMB(t, n)
	if rss > 1024 {
		t.Errorf("resident memory %d MB with %d watchers", rss, watchers)
	}
	t.Logf("%d watchers and %d idle connections: write, read and wake-ups in %v (index %d), %d MB resident",
		watchers, idle, time.Since(start), set.Index, rss)

	closeAll(conns)
	conns = nil
	n.waitWatchers(0, 30*time.Second)
	if got := n.do(http.MethodGet, "/version", nil); got.Status != http.StatusOK {
		t.Fatalf("after the clients left: /version %v", got)
	}
}

// dialClient opens a raw connection to the node's client port.
func dialClient(t *testing.T, n *node) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(n.clientPort)), 5*time.Second)
	if err != nil {
		t.Fatalf("connect to the client port: %v", err)
	}
	return c
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// residentMB is the node's resident memory, from /proc.
func residentMB(t *testing.T, n *node) int {
	t.Helper()
	pid := n.process().Pid()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the node's memory use: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// TestSlowClientsDoNotStallWrites holds requests that never finish sending
// their bodies, and watches whose answers are never read, while other
// clients write: the state machine never waits for a client.
func TestSlowClientsDoNotStallWrites(t *testing.T) {
	n := startNode(t, "slow")
	var conns []net.Conn
	t.Cleanup(func() { closeAll(conns) })
	for i := range 100 {
		c := dialClient(t, n)
		conns = append(conns, c)
		if i%2 == 0 {
			// A body promised and never sent.
			fmt.Fprintf(c, "POST /v1/keys/slow/%d HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nvalue=", i)
		} else {
			// A watch on the key written below, whose answer nobody reads.
			fmt.Fprintf(c, "GET /v1/watch/busy HTTP/1.1\r\nHost: x\r\n\r\n")
		}
	}
	n.waitWatchers(50, 10*time.Second)
	start := time.Now()
	var last testnode.Event
	for i := range 200 {
		last = n.set("/busy", strconv.Itoa(i))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("200 writes took %v beside slow clients", took)
	}
	if got := n.get("/busy"); got.Value != "199" || got.Index != last.Index {
		t.Fatalf("GET /busy = %+v after the writes, want value 199 at index %d", got, last.Index)
	}
}

// TestPeerLimitsDoNotDependOnClientFlags starts a leader that takes larger
// request bodies than its followers: what it accepts from a client
// replicates to them all the same, later writes go on, and no member calls
// an election. A peer's append limit once followed the member's own
// -maxbody, and a follower with the default refused the entry for good.
func TestPeerLimitsDoNotDependOnClientFlags(t *testing.T) {
	t.Parallel()
	// goraft decodes an entry's command while it holds its log, which the
	// leader's heartbeats wait for: the entry below takes about 200 ms to
	// decode here, as long as the default election timeout. What a large
	// entry costs is not what this test is about.
	c := newCluster(t, "-election", "1s")
	leader := c.add("node1", "-maxbody", "20000000")
	c.add("node2", "-C", leader.raftAddr())
	c.add("node3", "-C", leader.raftAddr())
	if got := c.waitLeader(readyTimeout); got != leader {
		t.Fatalf("the leader is %s, want the founder node1", got.name)
	}
	before := terms(t, c)

	// 3 MiB, within the leader's -maxbody and over the followers'. Each '<'
	// takes 6 bytes in the log entry (JSON's \u003c): an entry of 18 MiB.
	value := strings.Repeat("<", 3<<20)
	big := leader.set("/big", value)
	for _, m := range c.members {
		testnode.WaitFor(t, readyTimeout, m.name+" to hold /big", func() (bool, string) {
			status, body := m.peek("/v1/keys/big")
			return status == http.StatusOK, fmt.Sprintf("%d %.200s", status, body)
		})
		if got := m.get("/big"); got.Value != value || got.Index < big.Index {
			t.Fatalf("%s: /big is %d bytes at index %d, want the %d bytes written at index %d", m.name, len(got.Value), got.Index, len(value), big.Index)
		}
	}
	for i, m := range c.members {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		r, err := c.follow(ctx, m, http.MethodPost, fmt.Sprintf("/v1/keys/after/%d", i), form("value", "small"))
		cancel()
		if err != nil {
			t.Fatalf("a write through %s after the large one: %v", m.name, err)
		}
		if e := expectEvent(t, r); e.Index <= big.Index {
			t.Fatalf("a write through %s after the large one: index %d, want above %d", m.name, e.Index, big.Index)
		}
	}
	if after := terms(t, c); !reflect.DeepEqual(after, before) {
		t.Fatalf("raft terms went from %v to %v: a member called an election", before, after)
	}
}

// terms is each running member's raft term, from GET /term on its peer port.
func terms(t *testing.T, c *cluster) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, m := range c.running() {
		var pos struct {
			Term uint64 `json:"term"`
		}
		if err := json.Unmarshal([]byte(m.peerText("/term")), &pos); err != nil {
			t.Fatalf("%s: GET /term: %v", m.name, err)
		}
		out[m.name] = pos.Term
	}
	return out
}
