// Package notify wakes goroutines that wait for something to change.
package notify

import "sync"

// Broadcast wakes every goroutine waiting for the next announcement. The
// zero value is ready to use.
type Broadcast struct {
	mu sync.Mutex
	// next is closed by the next announcement; nil while no one waits, so
	// that an announcement nobody waits for costs no allocation.
	next chan struct{}
}

// Wait returns a channel closed by the next announcement. Take it before
// looking at what the announcement is about, so that no change goes unseen.
func (b *Broadcast) Wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next == nil {
		b.next = make(chan struct{})
	}
	return b.next
}

// Announce wakes everyone waiting.
func (b *Broadcast) Announce() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.next != nil {
		close(b.next)
		b.next = nil
	}
}
