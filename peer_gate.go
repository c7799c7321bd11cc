package main

import (
	"math"
	"sync"
	"time"
)

// peerGate keeps the leader's heartbeat goroutines from reading goraft's
// current snapshot while TakeSnapshot replaces it; goraft does both without
// a lock. A heartbeat goroutine reads the snapshot only for a peer that is
// behind the start of the log, right before it calls the transporter to
// announce a snapshot and right after that call returns, to send it. So
// the transporter reports every call here, and while a snapshot is taken it
// parks, inside the call, each peer that may read: TakeSnapshot goes ahead
// once every such peer is parked. A peer that is not behind the log's start
// reads nothing and is never held up.
type peerGate struct {
	mu   sync.Mutex
	cond *sync.Cond
	// closed while a snapshot is taken; parked peers wait for it
	snapshotting bool
	// logStart is the index before the log's first entry when the
	// snapshot began: a peer that holds less must be sent a snapshot.
	logStart uint64
	// held is, per peer, the least goraft may believe that peer holds (its
	// prevLogIndex), as learned from the calls it made.
	held   map[string]uint64
	parked map[string]bool
}

func newPeerGate() *peerGate {
	g := &peerGate{held: make(map[string]uint64), parked: make(map[string]bool)}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// appendStarts records an append to peer: goraft sends it from the index
// it believes the peer holds, and reads no snapshot for it.
func (g *peerGate) appendStarts(peer string, prevLogIndex uint64) {
	g.mu.Lock()
	g.held[peer] = prevLogIndex
	g.cond.Broadcast()
	g.mu.Unlock()
}

// snapshotCallStarts is called as goraft announces or sends a snapshot to
// peer, having just read the current snapshot.
func (g *peerGate) snapshotCallStarts(peer string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.parkLocked(peer)
}

// appendEnds is called as an append to peer returns, with the least goraft
// will then believe the peer holds: if that is behind the log's start,
// goraft reads the snapshot next, and must wait for one being taken.
func (g *peerGate) appendEnds(peer string, held uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.held[peer] = held
	g.cond.Broadcast()
	if held < g.logStart {
		g.parkLocked(peer)
	}
}

// snapshotCallEnds is called as a snapshot announcement or transfer to
// peer returns; after a transfer that succeeded the peer holds lastIndex.
// Unless it does, goraft reads the snapshot again next.
func (g *peerGate) snapshotCallEnds(peer string, installed bool, lastIndex uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if installed {
		g.held[peer] = lastIndex
		g.cond.Broadcast()
	}
	if g.held[peer] < g.logStart {
		g.parkLocked(peer)
	}
}

func (g *peerGate) parkLocked(peer string) {
	if !g.snapshotting {
		return
	}
	g.parked[peer] = true
	g.cond.Broadcast()
	for g.snapshotting {
		g.cond.Wait()
	}
	delete(g.parked, peer)
}

// hold starts a snapshot: it waits until each of peers that may read
// goraft's snapshot is parked, and returns a release to call once the
// snapshot is taken, with the log's new start. It gives up after timeout,
// when a peer neither calls nor returns (a slow snapshot transfer).
func (g *peerGate) hold(peers []string, logStart uint64, timeout time.Duration) (release func(logStart uint64), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.snapshotting = true
	g.logStart = logStart
	timer := time.AfterFunc(timeout, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	for !g.quietLocked(peers) {
		if time.Now().After(deadline) {
			g.releaseLocked(logStart)
			return nil, false
		}
		g.cond.Wait()
	}
	return func(logStart uint64) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.releaseLocked(logStart)
	}, true
}

// quietLocked reports whether every peer that may read the snapshot is
// parked. A peer never seen is taken to hold nothing.
func (g *peerGate) quietLocked(peers []string) bool {
	for _, p := range peers {
		if g.held[p] < g.logStart && !g.parked[p] {
			return false
		}
	}
	return true
}

func (g *peerGate) releaseLocked(logStart uint64) {
	g.logStart = logStart
	g.snapshotting = false
	g.cond.Broadcast()
}

// forget drops a removed peer: if its name joins again, its new log starts
// from nothing.
func (g *peerGate) forget(peer string) {
	g.mu.Lock()
	delete(g.held, peer)
	g.mu.Unlock()
}

// leastHeld is the least any of peers holds; a peer never seen holds
// nothing.
func (g *peerGate) leastHeld(peers []string) uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	least := uint64(math.MaxUint64)
	for _, p := range peers {
		least = min(least, g.held[p])
	}
	return least
}
