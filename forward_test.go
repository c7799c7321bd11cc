package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/testnode"
	"github.com/etcd-recreation/etcd/store"
)

// threeNodes starts an in-process cluster of three: node1 founds it and
// leads (the test waits until it does and every member knows every other),
// node2 and node3 join. Each gets the flags common and its own.
func threeNodes(t *testing.T, common []string, own ...[]string) [3]*testNode {
	t.Helper()
	flags := func(i int) []string {
		f := append([]string{}, common...)
		if i < len(own) {
			f = append(f, own[i]...)
		}
		return f
	}
	var nodes [3]*testNode
	nodes[0] = startTestNode(t, flags(0)...)
	nodes[1] = startMember(t, nodes[0], "node2", flags(1)...)
	nodes[2] = startMember(t, nodes[0], "node3", flags(2)...)
	waitFor(t, 10*time.Second, "node1 to lead a cluster of three that every member knows", func() bool {
		for _, n := range nodes {
			if n.e.raft.members.count() != 3 {
				return false
			}
		}
		return nodes[0].e.raft.isLeader()
	})
	return nodes
}

// storeValue is key's value in n's store, "" when it has none.
func storeValue(n *testNode, key string) string {
	events, dir, err := n.e.store.Get(key)
	if err != nil || dir {
		return ""
	}
	return events[0].Value
}

// TestFollowerWriteIsForwardedToTheLeader: a store write given to a
// follower's proposeAnywhere is proposed by the leader, applied on every
// member, and answered with its event once the follower's own store holds
// it; a write the store refuses comes back as the store's error.
func TestFollowerWriteIsForwardedToTheLeader(t *testing.T) {
	nodes := threeNodes(t, nil)
	follower := nodes[1]
	event, err := follower.e.raft.proposeAnywhere(&SetCommand{Key: "/forwarded", Value: "v1"})
	if err != nil {
		t.Fatalf("a write through a follower: %v", err)
	}
	if event.Key != "/forwarded" || event.Value != "v1" || !event.NewKey || event.Index == 0 {
		t.Fatalf("a write through a follower answered %+v, want the new key /forwarded=v1 with its index", event)
	}
	// The answer waited for the follower's own store.
	if got := storeValue(follower, "/forwarded"); got != "v1" {
		t.Fatalf("the follower's store holds %q right after its answer, want v1", got)
	}
	for _, n := range nodes {
		waitFor(t, 5*time.Second, n.e.cfg.Name+" to apply the forwarded write", func() bool { return storeValue(n, "/forwarded") == "v1" })
	}

	_, err = follower.e.raft.proposeAnywhere(&TestAndSetCommand{Key: "/forwarded", Value: "v2", PrevValue: "wrong"})
	var storeErr *etcderr.Error
	if !errors.As(err, &storeErr) || storeErr.Code != etcderr.TestFailed || storeErr.Cause == "" {
		t.Fatalf("a failed test-and-set through a follower: %v, want the store's error 101 with its cause", err)
	}
	if got := storeValue(nodes[0], "/forwarded"); got != "v1" {
		t.Fatalf("the failed test-and-set changed the value to %q", got)
	}
}

// TestForwardThroughAFollowerNotHearingItsLeader: a follower that has not
// heard from its leader for a while (a loaded machine, a slow link) still
// forwards to it, and answers once the leader's appends reach it again.
func TestForwardThroughAFollowerNotHearingItsLeader(t *testing.T) {
	gate := newFaultGate(t)
	common := []string{"-election", "300ms", "-heartbeat", "100ms", "-timeout", "10s"}
	nodes := threeNodes(t, common, nil, gate.flags())
	leader, follower := nodes[0], nodes[1]
	release := gate.holdAppends()
	waitFor(t, 5*time.Second, "node2 to go an election timeout without hearing node1", func() bool {
		_, silent := follower.e.raft.guard.LeaderHeard()
		return silent > 300*time.Millisecond
	})
	done := make(chan error, 1)
	go func() {
		_, err := follower.e.raft.proposeAnywhere(&SetCommand{Key: "/unheard", Value: "x"})
		done <- err
	}()
	waitFor(t, 5*time.Second, "node1 to apply the forwarded write", func() bool {
		select {
		case err := <-done:
			t.Fatalf("a write through a follower that had not heard its leader for a while: %v", err)
		default:
		}
		return storeValue(leader, "/unheard") == "x"
	})
	release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("a write through a follower that had not heard its leader for a while: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("proposeAnywhere did not return within 30s")
	}
	if got := storeValue(follower, "/unheard"); got != "x" {
		t.Fatalf("node2 answered before applying the write: it holds %q", got)
	}
}

// TestForwardToANonLeaderIsRefused: a member that does not lead refuses a
// forwarded write, and does not send it on: a write travels one hop at
// most. A forward without the cluster identity is refused too.
func TestForwardToANonLeaderIsRefused(t *testing.T) {
	nodes := threeNodes(t, nil)
	body, _ := json.Marshal((&SetCommand{Key: "/refused", Value: "x"}).inBatch())
	client := &http.Client{Transport: nodes[1].e.raft.peerTransport, Timeout: 10 * time.Second}
	resp, err := client.Post(nodes[2].peerURL(forwardPath), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var result forwardResult
	if err := json.Unmarshal(answer, &result); err != nil || resp.StatusCode != http.StatusServiceUnavailable || result.RaftError != errNotLeader.Error() {
		t.Fatalf("a forward to a follower: HTTP %d %s, want 503 with raftError %q", resp.StatusCode, answer, errNotLeader.Error())
	}
	if got := remoteRaftError(result.RaftError); !errors.Is(got, errLeaderChanged) || !notProposed(got) {
		t.Fatalf("the refusal reads as %v, want errLeaderChanged, a refusal", got)
	}
	// Nor does the leader take a forward without the cluster's identity.
	resp, err = testClient.Post(nodes[0].peerURL(forwardPath), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatalf("a forward without the cluster identity: HTTP %d %s, want a refusal", resp.StatusCode, answer)
	}
	// A later write through the leader reaches every member: had a
	// refused one been taken, it would be there before it.
	if _, err := nodes[0].e.raft.proposeAnywhere(&SetCommand{Key: "/after", Value: "y"}); err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		waitFor(t, 5*time.Second, n.e.cfg.Name+" to apply the later write", func() bool { return storeValue(n, "/after") == "y" })
		if got := storeValue(n, "/refused"); got != "" {
			t.Fatalf("%s holds the refused write /refused=%q", n.e.cfg.Name, got)
		}
	}
}

// TestForwardedWriteFailsWithoutHanging: a forwarded write the leader
// cannot commit fails with the leader's timeout; one the leader never
// answers fails at the follower's deadline; one whose leader is stopped
// while it proposes it fails when the connection drops. None hangs.
func TestForwardedWriteFailsWithoutHanging(t *testing.T) {
	leaderGate, followerGate := newFaultGate(t), newFaultGate(t)
	common := []string{"-timeout", "2s", "-election", "500ms", "-heartbeat", "100ms"}
	nodes := threeNodes(t, common, leaderGate.flags(), followerGate.flags())
	leader, follower, third := nodes[0], nodes[1], nodes[2]
	// The leader keeps the follower as its quorum, which takes no entry.
	third.e.stop()
	third.e = nil
	followerGate.setStarving(true)

	forward := func(key string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := follower.e.raft.proposeAnywhere(&SetCommand{Key: key, Value: "x"})
			done <- err
		}()
		return done
	}
	outcome := func(what string, done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: proposeAnywhere did not return within 30s", what)
			return nil
		}
	}

	if err := outcome("a write the leader cannot commit", forward("/uncommitted")); !errors.Is(err, errCommandTimeout) {
		t.Fatalf("a forwarded write the leader cannot commit: %v, want the leader's %v", err, errCommandTimeout)
	}

	leaderGate.setHoldingForwards(true)
	if err := outcome("a write the leader never answers", forward("/unanswered")); !errors.Is(err, errLeaderUnreachable) {
		t.Fatalf("a forwarded write the leader never answers: %v, want %v", err, errLeaderUnreachable)
	}
	leaderGate.setHoldingForwards(false)

	proposed := len(leader.e.raft.raft.LogEntries())
	done := forward("/leaderStopped")
	waitFor(t, 10*time.Second, "the leader to propose the forwarded write", func() bool {
		return len(leader.e.raft.raft.LogEntries()) > proposed
	})
	leader.e.stop()
	leader.e = nil
	if err := outcome("a write whose leader stopped", done); !errors.Is(err, errLeaderUnreachable) {
		t.Fatalf("a forwarded write whose leader stopped while proposing it: %v, want %v", err, errLeaderUnreachable)
	}
}

// TestForwardResultKeepsTheV2View: the forwarded answer carries the event's
// V2 view, which v1's JSON of the event leaves out.
func TestForwardResultKeepsTheV2View(t *testing.T) {
	exp := time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("", 3600))
	event := &store.Event{Action: store.ActionSet, Key: "/d/k", Value: "new", Index: 9, V2: &store.V2Event{
		Action:   store.V2CompareAndSwap,
		Node:     &store.NodeView{Key: "/d/k", Value: "new", Expiration: &exp, ModifiedIndex: 9, CreatedIndex: 4},
		PrevNode: &store.NodeView{Key: "/d", Dir: true, Nodes: []*store.NodeView{{Key: "/d/k", Value: "old", ModifiedIndex: 4, CreatedIndex: 4}}},
	}}
	b, err := json.Marshal(forwardResult{Event: event, V2: event.V2, Index: 9})
	if err != nil {
		t.Fatal(err)
	}
	var got forwardResult
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.V2.Node.Expiration.Equal(exp) {
		t.Fatalf("expiration %v, want %v", got.V2.Node.Expiration, exp)
	}
	got.V2.Node.Expiration = &exp
	if !reflect.DeepEqual(got.V2, event.V2) {
		t.Fatalf("V2 view %s after the wire, want the one sent", b)
	}
}

// TestBatchedWriteCommand: a forwarded write is exactly one command.
func TestBatchedWriteCommand(t *testing.T) {
	set := &SetCommand{Key: "/k", Value: "v"}
	if cmd, ok := set.inBatch().command(); !ok || cmd != set {
		t.Fatalf("command of a set: %v %v", cmd, ok)
	}
	for _, b := range []batchedWrite{{}, {Set: set, Delete: &DeleteCommand{Key: "/k"}}} {
		if _, ok := b.command(); ok {
			t.Fatalf("%+v: a command, want none", b)
		}
	}
}

// faultGate serves a member's advertised raft address and passes every
// peer message on to the address it listens on, except what it is told to
// starve or hold.
type faultGate struct {
	listener net.Listener
	target   string
	rp       *httputil.ReverseProxy

	mu       sync.Mutex
	starving bool // appends pass emptied and pointing past the log's end
	holding  bool // forwarded writes are held until the sender gives up
	// appendsHeld, while open, holds appends until it is closed.
	appendsHeld chan struct{}
}

func newFaultGate(t *testing.T) *faultGate {
	l, err := testnode.Listen()
	if err != nil {
		t.Fatal(err)
	}
	g := &faultGate{listener: l, target: "127.0.0.1:" + freePort(t)}
	tr := testnode.NewTransport()
	g.rp = &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: g.target}) },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}
	srv := &http.Server{Handler: g, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return g
}

// flags make a member advertise the gate and listen behind it.
func (g *faultGate) flags() []string {
	return []string{"-s", g.listener.Addr().String(), "-sl", g.target}
}

func (g *faultGate) setStarving(on bool) {
	g.mu.Lock()
	g.starving = on
	g.mu.Unlock()
}

func (g *faultGate) setHoldingForwards(on bool) {
	g.mu.Lock()
	g.holding = on
	g.mu.Unlock()
}

// holdAppends holds appends until the returned function is called.
func (g *faultGate) holdAppends() (release func()) {
	held := make(chan struct{})
	g.mu.Lock()
	g.appendsHeld = held
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.appendsHeld = nil
		g.mu.Unlock()
		close(held)
	}
}

func (g *faultGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	starving, holding, appendsHeld := g.starving, g.holding, g.appendsHeld
	g.mu.Unlock()
	switch {
	case appendsHeld != nil && r.URL.Path == appendEntriesPath:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		select {
		case <-appendsHeld:
		case <-r.Context().Done():
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	case holding && r.URL.Path == forwardPath:
		// net/http notices the sender going away only once the body is
		// read (appends above likewise).
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	case starving && r.URL.Path == appendEntriesPath:
		// The member refuses the append, so it takes no entry, yet it
		// hears from its leader and does not campaign.
		req := &raft.AppendEntriesRequest{}
		if _, err := req.Decode(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Entries = nil
		req.PrevLogIndex = math.MaxInt64
		var body bytes.Buffer
		if _, err := req.Encode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.Body = io.NopCloser(&body)
		r.ContentLength = int64(body.Len())
	}
	g.rp.ServeHTTP(w, r)
}

// TestLinearizableReadOnAFollower: once linearizableRead returns on a
// follower, its store shows every write the leader acknowledged before the
// call; without a leader it fails instead of waiting.
func TestLinearizableReadOnAFollower(t *testing.T) {
	nodes := threeNodes(t, []string{"-timeout", "1s"})
	leader, follower := nodes[0], nodes[1]
	for i := range 20 {
		value := strconv.Itoa(i)
		if _, err := leader.e.raft.dispatch(&SetCommand{Key: "/read", Value: value}); err != nil {
			t.Fatal(err)
		}
		if err := follower.e.raft.linearizableRead(); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if got := storeValue(follower, "/read"); got != value {
			t.Fatalf("read %d: the follower's store holds /read=%q after linearizableRead, want %q, acknowledged before", i, got, value)
		}
	}
	if err := leader.e.raft.linearizableRead(); err != nil {
		t.Fatalf("on the leader: %v", err)
	}

	client := &http.Client{Transport: follower.e.raft.peerTransport, Timeout: 10 * time.Second}
	resp, err := client.Post(nodes[2].peerURL(readIndexPath), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var index readIndexAnswer
	if err := json.Unmarshal(answer, &index); err != nil || resp.StatusCode != http.StatusServiceUnavailable || index.RaftError != errNotLeader.Error() {
		t.Fatalf("a read index asked of a follower: HTTP %d %s, want 503 with raftError %q", resp.StatusCode, answer, errNotLeader.Error())
	}

	// Without the third member no new leader can be elected.
	for _, n := range []*testNode{nodes[2], leader} {
		n.e.stop()
		n.e = nil
	}
	done := make(chan error, 1)
	go func() { done <- follower.e.raft.linearizableRead() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("linearizableRead succeeded on a follower whose leader stopped")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("linearizableRead did not return within 30s after the leader stopped")
	}
}

// TestForwardErrorsArePublic: the failures of a forward are told to
// clients as they are, not as an internal error, and a leader's failure
// named over the peer port is the same error on the follower.
func TestForwardErrorsArePublic(t *testing.T) {
	for _, known := range []error{errLeaderUnreachable, errLeaderChanged, errLeaderFailed, errNotAppliedHere, errCommandTimeout, errNoLeader} {
		err := fmt.Errorf("%w: POST http://10.0.0.1:7001/v2/forward: connection refused", known)
		if got := publicCause(err); got != known.Error() {
			t.Fatalf("publicCause(%v) = %q, want %q", err, got, known.Error())
		}
		if got := remoteRaftError(publicCause(err)); got != known {
			t.Fatalf("remoteRaftError(%q) = %v, want %v", publicCause(err), got, known)
		}
	}
	if !notProposed(errLeaderChanged) || notProposed(errLeaderUnreachable) || notProposed(errNotAppliedHere) {
		t.Fatal("only a refusal by a member that no longer leads says nothing was proposed")
	}
}

// TestForwardOverPeerTLS: with peer TLS, a follower forwards writes and
// asks for read indexes over it, with its own certificate.
func TestForwardOverPeerTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	peerFlags := func(name string) []string {
		cert, key := ca.issue(name)
		return []string{"-serverCert", cert, "-serverKey", key, "-serverCAFile", ca.file}
	}
	nodes := threeNodes(t, nil, peerFlags("node1"), peerFlags("node2"), peerFlags("node3"))
	follower := nodes[2]
	if event, err := follower.e.raft.proposeAnywhere(&SetCommand{Key: "/tls", Value: "v"}); err != nil || event.Value != "v" {
		t.Fatalf("a write through a follower over peer TLS: %+v, %v", event, err)
	}
	if err := follower.e.raft.linearizableRead(); err != nil {
		t.Fatalf("a read index over peer TLS: %v", err)
	}
}
