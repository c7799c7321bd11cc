package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/metrics"
	"github.com/etcd-recreation/etcd/internal/raftdisk"
)

// TestSnapshotTransferIsOrderedWithTheLeadersReads: after a snapshot
// transfer succeeds, goraft sets the peer's mark (prevLogIndex) without the
// peer's lock, while its event loop reads every peer's mark on each append
// answer of another peer. Here a real goraft leader with this node's
// transporter and two scripted followers has its loop held from before the
// transfer returns until goraft has passed the write (or, with the fence,
// for a while), with another peer's answer queued: without the fence that
// answer was handled unordered with the write, and -race reported it in
// every run. It needs -race to fail; without it, it checks that transfers
// and a stop during one still go through.
func TestSnapshotTransferIsOrderedWithTheLeadersReads(t *testing.T) {
	accepting := &acceptingFollower{}
	fast := httptest.NewServer(accepting)
	defer fast.Close()
	lag := newLaggingFollower()
	lagServer := httptest.NewServer(lag)
	defer lagServer.Close()

	stopped := make(chan struct{})
	members := newMemberRegistry()
	members.add("fast", member{RaftURL: fast.URL})
	members.add("lag", member{RaftURL: lagServer.URL})
	tr := &capturingTransporter{transporter: &transporter{
		client:      &http.Client{Transport: newPeerTransport(time.Second, nil, noIdentity())},
		rpcTimeout:  time.Second,
		snapTimeout: 10 * time.Second,
		stats:       newRaftStats(metrics.New().PeerRTT),
		gate:        newPeerGate(),
		guard:       &recordingGuard{},
		members:     members,
		replicator: &replicator{
			news:          &leaderNews{},
			terms:         quietTerms{},
			leadership:    &leadership{},
			idleHeartbeat: time.Millisecond,
			stopped:       stopped,
			syncAhead:     func(uint64, uint64) {},
		},
		fence: newSnapshotFence(time.Second),
	}}
	srv, err := raft.NewServer("node1", t.TempDir(), tr, emptyState{}, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetHeartbeatInterval(replicationTick)
	srv.SetElectionTimeout(time.Hour)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	defer close(stopped)
	defer lag.close()
	for _, join := range []*raft.DefaultJoinCommand{{Name: "node1"}, {Name: "fast", ConnectionString: fast.URL}, {Name: "lag", ConnectionString: lagServer.URL}} {
		if _, err := srv.Do(join); err != nil {
			t.Fatalf("join %s: %v", join.Name, err)
		}
	}
	// goraft compacts all but the last 200 entries: "lag", which refuses
	// every append, then falls behind the log's start.
	for range 250 {
		if _, err := srv.Do(raft.NOPCommand{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := srv.TakeSnapshot(); err != nil {
		t.Fatal(err)
	}
	snapshotIndex := srv.CommitIndex()

	for round := range 3 {
		var req *raft.SnapshotRecoveryRequest
		select {
		case req = <-lag.recoveries:
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: no snapshot was sent to the lagging peer", round)
		}
		if req.LastIndex != snapshotIndex {
			t.Fatalf("round %d: snapshot sent up to %d, want %d", round, req.LastIndex, snapshotIndex)
		}
		peer := tr.lagPeer.Load()
		blocked, unblock := make(chan struct{}), make(chan struct{})
		go srv.Do(&loopBlocker{blocked: blocked, unblock: unblock})
		<-blocked
		// fast's heartbeat goroutine queues each answer before it sends
		// again: after two more requests, one answer waits in the loop.
		seen := accepting.requests.Load()
		waitFor(t, 5*time.Second, "two more appends to fast", func() bool { return accepting.requests.Load() >= seen+2 })

		lag.holdAppends()
		before := peer.LastActivity()
		lag.answer <- struct{}{}
		// goraft records the peer's activity as the transfer returns, and
		// writes the mark right after: the fence keeps that return until
		// the loop takes its barrier, so this gives up waiting.
		deadline := time.Now().Add(500 * time.Millisecond)
		for !peer.LastActivity().After(before) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		close(unblock)

		if prev := lag.nextAppend(t); prev != snapshotIndex {
			t.Fatalf("round %d: the append after the snapshot starts at %d, want %d", round, prev, snapshotIndex)
		}
		lag.refuseAppends()
	}
	if _, err := srv.Do(raft.NOPCommand{}); err != nil {
		t.Fatalf("a write after the transfers: %v", err)
	}

	// A leader that stops while a transfer returns: goraft's loop then
	// either takes the barrier or waits for the peer goroutine to stop.
	select {
	case <-lag.recoveries:
	case <-time.After(10 * time.Second):
		t.Fatal("no snapshot was sent to the lagging peer")
	}
	blocked, unblock := make(chan struct{}), make(chan struct{})
	go srv.Do(&loopBlocker{blocked: blocked, unblock: unblock})
	<-blocked
	stoppedRaft := make(chan struct{})
	go func() {
		srv.Stop()
		close(stoppedRaft)
	}()
	lag.answer <- struct{}{}
	lag.close() // goraft waits for a transfer under way before it stops
	close(unblock)
	select {
	case <-stoppedRaft:
	case <-time.After(10 * time.Second):
		t.Fatal("goraft did not stop while a snapshot transfer returned")
	}
	if open := tr.fence.opened.Load(); open != 0 {
		t.Fatalf("%d fence windows left open after goraft stopped", open)
	}
}

// capturingTransporter keeps goraft's peer object of the lagging peer.
type capturingTransporter struct {
	*transporter
	lagPeer atomic.Pointer[raft.Peer]
}

func (c *capturingTransporter) SendSnapshotRecoveryRequest(srv raft.Server, peer *raft.Peer, req *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	c.lagPeer.Store(peer)
	return c.transporter.SendSnapshotRecoveryRequest(srv, peer, req)
}

type quietTerms struct{}

func (quietTerms) TermSeen() uint64            { return 0 }
func (quietTerms) TermRaised() <-chan struct{} { return nil }

type emptyState struct{}

func (emptyState) Save() ([]byte, error) { return []byte("{}"), nil }
func (emptyState) Recovery([]byte) error { return nil }

// loopBlocker holds goraft's event loop, which encodes a leader's commands
// as it takes them, until unblock is closed; it is never appended.
type loopBlocker struct{ blocked, unblock chan struct{} }

func (*loopBlocker) CommandName() string { return "test:loopBlocker" }
func (b *loopBlocker) Encode(io.Writer) error {
	close(b.blocked)
	<-b.unblock
	return errors.New("never appended")
}
func (*loopBlocker) Decode(io.Reader) error { return errors.New("never appended") }

// acceptingFollower accepts every append.
type acceptingFollower struct{ requests atomic.Int64 }

func (f *acceptingFollower) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := &raft.AppendEntriesRequest{}
	if _, err := req.Decode(r.Body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.requests.Add(1)
	writeMessage(w, raftdisk.AppendResponse(req.Term, req.PrevLogIndex+uint64(len(req.Entries)), req.CommitIndex, true))
}

// laggingFollower refuses appends as holding nothing, or holds them, and
// takes snapshots when the test answers.
type laggingFollower struct {
	recoveries chan *raft.SnapshotRecoveryRequest
	answer     chan struct{}
	held       chan uint64 // prevLogIndex of the appends held
	closing    chan struct{}
	closeOnce  sync.Once

	mu      sync.Mutex
	holding chan struct{} // closed to let held appends go; nil: refuse at once
}

func newLaggingFollower() *laggingFollower {
	return &laggingFollower{
		recoveries: make(chan *raft.SnapshotRecoveryRequest, 1),
		answer:     make(chan struct{}),
		held:       make(chan uint64, 16),
		closing:    make(chan struct{}),
	}
}

func (l *laggingFollower) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case appendEntriesPath:
		req := &raft.AppendEntriesRequest{}
		if _, err := req.Decode(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.mu.Lock()
		holding := l.holding
		l.mu.Unlock()
		if holding != nil {
			l.held <- req.PrevLogIndex
			select {
			case <-holding:
			case <-l.closing:
			}
		} else {
			time.Sleep(2 * time.Millisecond) // not a busy loop
		}
		writeMessage(w, raftdisk.AppendResponse(req.Term, 0, 0, false))
	case snapshotPath:
		writeMessage(w, &raft.SnapshotResponse{Success: true})
	case snapshotRecoveryPath:
		req := &raft.SnapshotRecoveryRequest{}
		if _, err := req.Decode(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case l.recoveries <- req:
		case <-l.closing:
			http.Error(w, "closing", http.StatusServiceUnavailable)
			return
		}
		select {
		case <-l.answer:
			writeMessage(w, &raft.SnapshotRecoveryResponse{Term: req.LastTerm, Success: true, CommitIndex: req.LastIndex})
		case <-l.closing:
			http.Error(w, "closing", http.StatusServiceUnavailable)
		}
	default:
		http.NotFound(w, r)
	}
}

func (l *laggingFollower) holdAppends() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.holding = make(chan struct{})
}

// refuseAppends lets the held appends go, refused, as are the next ones.
func (l *laggingFollower) refuseAppends() {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.holding)
	l.holding = nil
}

// nextAppend is where the next held append starts.
func (l *laggingFollower) nextAppend(t *testing.T) uint64 {
	t.Helper()
	select {
	case prev := <-l.held:
		return prev
	case <-time.After(10 * time.Second):
		t.Fatal("no append after the snapshot")
		return 0
	}
}

func (l *laggingFollower) close() { l.closeOnce.Do(func() { close(l.closing) }) }
