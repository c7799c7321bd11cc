package raftguard

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/raftdisk"
)

// These tests run real goraft servers in one process, each behind its own
// Guard, over a network in memory that can drop messages one way: a
// message from A to B reaches B only if A may send to B, and B's answer
// reaches A only if B may send to A.

const (
	testElection  = 150 * time.Millisecond
	testHeartbeat = 30 * time.Millisecond
)

func init() { raft.RegisterCommand(&testJoin{}) }

// testJoin adds a member, as the node's own join command does.
type testJoin struct {
	Name string `json:"name"`
}

func (c *testJoin) CommandName() string { return "test:join" }
func (c *testJoin) NodeName() string    { return c.Name }

func (c *testJoin) Apply(ctx raft.Context) (any, error) {
	if err := ctx.Server().AddPeer(c.Name, ""); err != nil {
		return nil, err
	}
	ctx.Server().Context().(*memNode).guard.MemberAdded(c.Name)
	return nil, nil
}

// nopState is a state machine with nothing in it.
type nopState struct{}

func (nopState) Save() ([]byte, error) { return []byte("{}"), nil }
func (nopState) Recovery([]byte) error { return nil }

type memNode struct {
	name  string
	dir   string
	net   *memNet
	srv   raft.Server
	disk  *raftdisk.Dir
	guard *Guard
}

type memNet struct {
	t     *testing.T
	mu    sync.Mutex
	nodes map[string]*memNode
	cut   map[[2]string]bool // from, to
}

func newMemNet(t *testing.T) *memNet {
	return &memNet{t: t, nodes: make(map[string]*memNode), cut: make(map[[2]string]bool)}
}

// start builds, starts and guards a node over a new data directory.
func (n *memNet) start(name string) *memNode {
	n.t.Helper()
	node := &memNode{name: name, dir: n.t.TempDir(), net: n}
	n.open(node)
	return node
}

// open builds and starts node over its data directory.
func (n *memNet) open(node *memNode) {
	n.t.Helper()
	disk, err := raftdisk.Open(node.dir)
	if err != nil {
		n.t.Fatal(err)
	}
	srv, err := raft.NewServer(node.name, node.dir, memTransporter{node}, nopState{}, node, "")
	if err != nil {
		n.t.Fatal(err)
	}
	srv.SetHeartbeatInterval(testHeartbeat)
	node.srv, node.disk = srv, disk
	node.guard = New(Config{Raft: srv, Disk: disk, Transport: memTransporter{node}, ElectionTimeout: testElection})
	if err := srv.Init(); err != nil {
		n.t.Fatal(err)
	}
	if err := disk.Attach(srv); err != nil {
		n.t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		n.t.Fatal(err)
	}
	node.guard.Start()
	n.mu.Lock()
	n.nodes[node.name] = node
	n.mu.Unlock()
	n.t.Cleanup(node.stop)
}

func (node *memNode) stop() {
	if node.srv.State() == raft.Stopped {
		return
	}
	node.guard.Stop()
	node.srv.Stop()
	node.disk.Close()
}

// found makes a cluster of nodes: the first founds it, the others join.
func (n *memNet) found(names ...string) []*memNode {
	n.t.Helper()
	nodes := make([]*memNode, len(names))
	for i, name := range names {
		nodes[i] = n.start(name)
	}
	if _, err := nodes[0].srv.Do(&testJoin{Name: names[0]}); err != nil {
		n.t.Fatal(err)
	}
	for _, name := range names[1:] {
		if _, err := nodes[0].srv.Do(&testJoin{Name: name}); err != nil {
			n.t.Fatal(err)
		}
	}
	for _, node := range nodes {
		n.waitFor(5*time.Second, node.name+" applies every join", func() bool {
			for _, name := range names {
				if !node.guard.quorum.isMember(name) {
					return false
				}
			}
			return true
		})
	}
	return nodes
}

func (n *memNet) node(name string) *memNode {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nodes[name]
}

// reaches reports whether a message from one node gets to the other.
func (n *memNet) reaches(from, to string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.cut[[2]string{from, to}]
}

// cutOff drops every message from one node to the other (one way).
func (n *memNet) cutOff(from, to string) {
	n.mu.Lock()
	n.cut[[2]string{from, to}] = true
	n.mu.Unlock()
}

// isolate cuts name off from every other node, both ways.
func (n *memNet) isolate(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for other := range n.nodes {
		if other != name {
			n.cut[[2]string{name, other}] = true
			n.cut[[2]string{other, name}] = true
		}
	}
}

func (n *memNet) heal() {
	n.mu.Lock()
	n.cut = make(map[[2]string]bool)
	n.mu.Unlock()
}

// deliver finds the node a message goes to, if it gets there.
func (n *memNet) deliver(from, to string) (*memNode, bool) {
	if !n.reaches(from, to) {
		return nil, false
	}
	node := n.node(to)
	return node, node != nil
}

func (n *memNet) waitFor(timeout time.Duration, what string, cond func() bool) {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			n.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaders lists the nodes that are leaders now, with their terms.
func (n *memNet) leaders() map[string]uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]uint64)
	for name, node := range n.nodes {
		if node.srv.State() == raft.Leader {
			out[name] = node.srv.Term()
		}
	}
	return out
}

// oneLeader waits until exactly one node leads, and returns it.
func (n *memNet) oneLeader(timeout time.Duration, except ...string) *memNode {
	n.t.Helper()
	var leader string
	n.waitFor(timeout, "one leader", func() bool {
		ls := n.leaders()
		for _, e := range except {
			delete(ls, e)
		}
		if len(ls) != 1 {
			return false
		}
		for name := range ls {
			leader = name
		}
		return true
	})
	return n.node(leader)
}

// memTransporter carries one node's messages, through the receivers'
// guards as the node's peer handlers do. Like the node's HTTP transporter,
// it gives up on a call that takes longer than two election timeouts: two
// leaders stepping down at once each wait for a heartbeat that waits for
// the other's event loop.
type memTransporter struct{ from *memNode }

// call runs send, and reports false when it takes too long.
func call[T any](send func() (T, error)) (T, bool) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := send()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err == nil
	case <-time.After(2 * testElection):
		var zero T
		return zero, false
	}
}

var errUnreachable = errors.New("unreachable")

func (t memTransporter) SendVoteRequest(_ raft.Server, peer *raft.Peer, req *raft.RequestVoteRequest) *raft.RequestVoteResponse {
	denial := &raft.RequestVoteResponse{Term: req.Term}
	g := t.from.guard
	if err := g.BeforeVoteRequest(req); err != nil {
		return denial
	}
	to, ok := t.from.net.deliver(t.from.name, peer.Name)
	if !ok {
		return denial
	}
	resp, ok := call(func() (*raft.RequestVoteResponse, error) { return to.guard.Vote(req) })
	if !ok || !t.from.net.reaches(peer.Name, t.from.name) {
		return denial
	}
	g.VoteAnswered(peer.Name, resp)
	return resp
}

func (t memTransporter) SendAppendEntriesRequest(_ raft.Server, peer *raft.Peer, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	to, ok := t.from.net.deliver(t.from.name, peer.Name)
	if !ok {
		time.Sleep(testHeartbeat)
		return nil
	}
	resp, ok := call(func() (*raft.AppendEntriesResponse, error) { return to.guard.Append(req) })
	if !ok || !t.from.net.reaches(peer.Name, t.from.name) {
		return nil
	}
	t.from.guard.AppendAnswered(peer.Name, req, resp)
	return resp
}

func (t memTransporter) SendSnapshotRequest(_ raft.Server, peer *raft.Peer, req *raft.SnapshotRequest) *raft.SnapshotResponse {
	to, ok := t.from.net.deliver(t.from.name, peer.Name)
	if !ok {
		return nil
	}
	resp, ok := call(func() (*raft.SnapshotResponse, error) { return to.guard.Snapshot(req) })
	if !ok || !t.from.net.reaches(peer.Name, t.from.name) {
		return nil
	}
	return resp
}

func (t memTransporter) SendSnapshotRecoveryRequest(_ raft.Server, peer *raft.Peer, req *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	to, ok := t.from.net.deliver(t.from.name, peer.Name)
	if !ok {
		return nil
	}
	t.from.guard.SnapshotSendStarts(peer.Name)
	resp, ok := call(func() (*raft.SnapshotRecoveryResponse, error) { return to.guard.InstallSnapshot(req) })
	answered := ok && t.from.net.reaches(peer.Name, t.from.name)
	t.from.guard.SnapshotSendEnds(peer.Name, answered)
	if !answered {
		return nil
	}
	return resp
}

func (t memTransporter) PreVote(member string, req *raft.RequestVoteRequest) (*raft.RequestVoteResponse, error) {
	to, ok := t.from.net.deliver(t.from.name, member)
	if !ok {
		return nil, fmt.Errorf("pre-vote to %s: %w", member, errUnreachable)
	}
	resp, ok := call(func() (*raft.RequestVoteResponse, error) { return to.guard.PreVote(req), nil })
	if !ok || !t.from.net.reaches(member, t.from.name) {
		return nil, fmt.Errorf("pre-vote answer from %s: %w", member, errUnreachable)
	}
	return resp, nil
}
