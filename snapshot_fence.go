package main

import (
	"errors"
	"io"
	"log"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goraft/raft"
)

// snapshotFence orders the one write goraft makes to a peer's mark (its
// prevLogIndex: how much of the log goraft believes the peer holds)
// without the peer's lock with every read of that mark.
//
// After a snapshot transfer succeeds, goraft's heartbeat goroutine for the
// peer sets the mark to the snapshot's last index with no lock, right after
// the transporter returns (peer.go, sendSnapshotRecoveryRequest), and then
// queues the answer to its event loop. That loop reads every peer's mark
// (under the peer's lock) on each successful append answer it handles, and
// in every conf write; nothing orders those reads with the write until the
// loop reaches the queued answer, so the answers of other peers queued
// before it raced with the write (-race reported it under load). The lock
// cannot be held across the return: goraft takes it itself before the write.
//
// So the transporter, before it returns a transfer's success, opens a
// window for the peer and runs a barrier through the loop: a command whose
// encoding, which goraft does in its loop, lets the transporter return, then
// waits until the window closes, and fails, so that nothing is appended.
// The window closes at the peer goroutine's next call of the transporter,
// which follows the write in that goroutine. Every read the loop made before
// the barrier happens before the return, and so before the write; every
// read after it, after the next call, and so after the write. A round trip
// through the loop (as raftguard's position makes) would order only the
// reads before it: the loop must be held until the write is done.
//
// goraft's TakeSnapshot reads the marks outside the loop: it runs while
// pause holds, which waits for every window to close and lets none open.
type snapshotFence struct {
	mu   sync.Mutex
	cond *sync.Cond
	// open holds, per peer whose transfer returned, a channel closed at
	// the peer goroutine's next call. Keyed by goraft's peer object: only
	// its heartbeat goroutine sends appends and snapshots with it.
	open   map[*raft.Peer]chan struct{}
	opened atomic.Int32 // len(open), read without the lock
	paused bool
	// barrierWait is the longest the loop waits for a window to close
	// (the next call comes within goraft's tick): past it the loop goes
	// on rather than stall the leader, unordered, and says so in the log.
	barrierWait time.Duration
}

func newSnapshotFence(barrierWait time.Duration) *snapshotFence {
	f := &snapshotFence{open: make(map[*raft.Peer]chan struct{}), barrierWait: barrierWait}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// transferSucceeded is called by the transporter as it is about to return
// a successful snapshot transfer to peer, from the peer's heartbeat
// goroutine. It returns once goraft's loop holds the barrier, or once
// goraft has begun to stop the peer's heartbeat, which it does first thing
// when this node steps down or stops, and as it removes the peer: goraft
// clears the peer's last activity, then waits for the peer goroutine, which
// orders the loop's next reads after the write; a removed peer's mark is
// read no more. The window then closes at once: the peer goroutine may end
// without calling again, and a barrier taken later has nothing to wait for.
func (f *snapshotFence) transferSucceeded(srv raft.Server, peer *raft.Peer) {
	written := make(chan struct{})
	f.mu.Lock()
	for f.paused {
		f.cond.Wait()
	}
	f.open[peer] = written
	f.opened.Add(1)
	f.mu.Unlock()

	b := &fenceBarrier{entered: make(chan struct{}), written: written, wait: f.barrierWait, peer: peer.Name}
	go srv.Do(b)
	stopCheck := time.NewTicker(time.Millisecond)
	defer stopCheck.Stop()
	for {
		select {
		case <-b.entered:
			return
		case <-stopCheck.C:
			if peer.LastActivity().IsZero() {
				f.closeWindow(peer)
				return
			}
		}
	}
}

// closeWindow closes peer's window, if open. The transporter calls it
// first thing in every append and snapshot announcement to peer: these come
// from the peer's heartbeat goroutine, after goraft handled the last answer.
func (f *snapshotFence) closeWindow(peer *raft.Peer) {
	if f.opened.Load() == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if written, ok := f.open[peer]; ok {
		close(written)
		delete(f.open, peer)
		f.opened.Add(-1)
		f.cond.Broadcast()
	}
}

// pause waits until no window is open and keeps new ones from opening
// until release is called; it gives up after timeout.
func (f *snapshotFence) pause(timeout time.Duration) (release func(), ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	timer := time.AfterFunc(timeout, func() {
		f.mu.Lock()
		f.cond.Broadcast()
		f.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	for f.paused || len(f.open) > 0 {
		if time.Now().After(deadline) {
			return nil, false
		}
		f.cond.Wait()
	}
	f.paused = true
	return func() {
		f.mu.Lock()
		f.paused = false
		f.cond.Broadcast()
		f.mu.Unlock()
	}, true
}

// errFenceBarrier is what the barrier's encoding always fails with: goraft
// then appends nothing and answers the Do with it.
var errFenceBarrier = errors.New("snapshot fence barrier: never appended")

// fenceBarrier is the command snapshotFence runs through goraft's loop. A
// leader's loop encodes a command as it takes it; other states refuse it
// without encoding.
type fenceBarrier struct {
	entered chan struct{}
	written chan struct{}
	wait    time.Duration
	peer    string
}

func (*fenceBarrier) CommandName() string { return "etcd:snapshotFence" }

// Encode runs in goraft's loop: see snapshotFence.
func (b *fenceBarrier) Encode(io.Writer) error {
	close(b.entered)
	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	select {
	case <-b.written:
	case <-timer.C:
		log.Printf("raft: %s's heartbeat did not call again within %v of a snapshot transfer; goraft's loop goes on", b.peer, b.wait)
	}
	return errFenceBarrier
}

func (*fenceBarrier) Decode(io.Reader) error { return errFenceBarrier }
