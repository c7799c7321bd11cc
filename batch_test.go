package main

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/store"
)

// stalledProposer holds every proposal until released, and records them,
// answering each write with an event for its key.
type stalledProposer struct {
	release  chan struct{}
	mu       sync.Mutex
	proposed []raft.Command
}

func (p *stalledProposer) propose(cmd raft.Command) (any, error) {
	p.mu.Lock()
	p.proposed = append(p.proposed, cmd)
	entry := uint64(len(p.proposed))
	p.mu.Unlock()
	<-p.release
	switch c := cmd.(type) {
	case *SetCommand:
		return &store.Event{Key: c.Key, Index: entry * 100}, nil
	case *BatchCommand:
		results := make([]store.Result, len(c.Writes))
		for i, w := range c.Writes {
			results[i].Event = &store.Event{Key: w.Set.Key, Index: entry*100 + uint64(i)}
		}
		return results, nil
	}
	return nil, fmt.Errorf("unexpected %T", cmd)
}

func (p *stalledProposer) commands() []raft.Command {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]raft.Command(nil), p.proposed...)
}

// waitProposed waits until p has been handed n proposals.
func waitProposed(t *testing.T, p *stalledProposer, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(p.commands()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d proposals, want %d", len(p.commands()), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// waitQueued waits until n writes wait in b's queue.
func waitQueued(t *testing.T, b *writeBatcher, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b.mu.Lock()
		queued := len(b.queue)
		b.mu.Unlock()
		if queued == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// The writes that arrive while others are proposed go in one entry, and
// each hears its own outcome.
func TestBatcherGivesEachWriteItsOwnResult(t *testing.T) {
	p := &stalledProposer{release: make(chan struct{})}
	b := &writeBatcher{propose: p.propose}
	const waiting = 10
	results := make(chan proposed, maxProposing+waiting)
	write := func(key string) {
		out := b.write(&SetCommand{Key: key, Value: "v"}, time.Minute)
		if out.event == nil || out.event.Key != key {
			out.err = errors.Join(out.err, fmt.Errorf("the write of %s heard %+v", key, out.event))
		}
		results <- out
	}
	// The first proposals stall; the writes after them queue.
	for i := range maxProposing {
		go write(fmt.Sprintf("/first%d", i))
	}
	waitProposed(t, p, maxProposing)
	for i := range waiting {
		go write(fmt.Sprintf("/k%d", i))
	}
	waitQueued(t, b, waiting)
	close(p.release)
	for range maxProposing + waiting {
		if out := <-results; out.err != nil {
			t.Fatal(out.err)
		}
	}
	var batches int
	for _, cmd := range p.commands() {
		if batch, ok := cmd.(*BatchCommand); ok {
			batches++
			if len(batch.Writes) != waiting {
				t.Errorf("a batch of %d writes, want the %d that waited", len(batch.Writes), waiting)
			}
		}
	}
	if batches != 1 {
		t.Errorf("%d batches proposed, want 1", batches)
	}
}

// A write that waits longer than its timeout behind others is dropped: it
// is told so, as a write never proposed, and never proposed later.
func TestBatcherDropsWritesThatWaitedTooLong(t *testing.T) {
	p := &stalledProposer{release: make(chan struct{})}
	b := &writeBatcher{propose: p.propose}
	done := make(chan proposed, maxProposing)
	for i := range maxProposing {
		go func() { done <- b.write(&SetCommand{Key: fmt.Sprintf("/first%d", i)}, time.Minute) }()
	}
	// Each stalled proposal holds its turn; the next write must wait.
	waitProposed(t, p, maxProposing)
	out := b.write(&SetCommand{Key: "/late"}, 20*time.Millisecond)
	if !errors.Is(out.err, errQueuedTooLong) || !notProposed(out.err) {
		t.Fatalf("a write that waited past its timeout heard %+v, want errQueuedTooLong (not proposed)", out)
	}
	close(p.release)
	for range maxProposing {
		<-done
	}
	for _, cmd := range p.commands() {
		if set, ok := cmd.(*SetCommand); ok && set.Key == "/late" {
			t.Fatal("the dropped write was proposed after all")
		}
	}
}
