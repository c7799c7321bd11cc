package main

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/store"
)

// Group commit: a leader has at most maxProposing proposals of store
// writes on their way at once. The writes that arrive while they are wait,
// and the next proposal carries all of them in one log entry
// (BatchCommand), so that one append, one replication round and one sync
// serve every client waiting. A lone client's write is proposed at once, on
// its own, as a plain command.

// The bounds of one batch: it must fit an append request to a follower
// (appendBatchBytes) with room to spare, and its writes are applied
// under the store's lock, which reads wait for.
const (
	maxBatchWrites = 512
	maxBatchBytes  = 256 << 10
)

// maxProposing is how many proposals of store writes may be on their way
// at once. More than one lets the next entry be appended and sent while
// the last is being synced.
const maxProposing = 2

// errQueuedTooLong is a write that waited -timeout behind the ones before
// it without being proposed; it was then dropped, so it never happens.
var errQueuedTooLong = errors.New("raft: the write waited too long behind others and was dropped; nothing was proposed")

// writeBatcher turns the store writes a leader receives into proposals.
type writeBatcher struct {
	// propose hands a command to raft and returns its result, once applied
	// and durable: the next batch gathers the writes that arrive meanwhile,
	// the log's sync included.
	propose func(raft.Command) (any, error)

	mu        sync.Mutex
	proposing int // proposals on their way, each by its own goroutine
	queue     []*queuedWrite
}

type queuedWrite struct {
	cmd  storeCommand
	done chan proposed // buffered: whoever proposes the write never waits
}

// proposed is the outcome of a write: its event or its error.
type proposed struct {
	event *store.Event
	err   error
}

// write proposes cmd, alone when nothing else is being proposed, and
// otherwise in the next batch. It waits at most timeout for its turn.
func (b *writeBatcher) write(cmd storeCommand, timeout time.Duration) proposed {
	b.mu.Lock()
	if b.proposing < maxProposing && len(b.queue) == 0 {
		b.proposing++
		b.mu.Unlock()
		out := b.proposeOne(cmd)
		b.handOver()
		return out
	}
	if len(b.queue) >= maxProposals {
		b.mu.Unlock()
		return proposed{err: errTooManyProposals}
	}
	w := &queuedWrite{cmd: cmd, done: make(chan proposed, 1)}
	b.queue = append(b.queue, w)
	if b.proposing < maxProposing {
		b.proposing++
		go b.drain()
	}
	b.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case out := <-w.done:
		return out
	case <-timer.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if i := slices.Index(b.queue, w); i >= 0 {
		b.queue = slices.Delete(b.queue, i, i+1)
		return proposed{err: errQueuedTooLong}
	}
	// Taken into a batch meanwhile: it may yet commit.
	return proposed{err: errCommandTimeout}
}

// handOver passes a finished proposal's turn to the writes that queued
// meanwhile, proposed by a goroutine of their own, or gives the turn up.
func (b *writeBatcher) handOver() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.proposing--
		return
	}
	go b.drain()
}

// drain proposes the queue, a batch at a time, until it is empty, and then
// gives its turn up.
func (b *writeBatcher) drain() {
	for {
		b.mu.Lock()
		batch := b.take()
		if len(batch) == 0 {
			b.proposing--
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		b.proposeBatch(batch)
	}
}

// take removes the next batch from the queue. The queue gets a new array:
// the batch keeps the old one.
func (b *writeBatcher) take() []*queuedWrite {
	n, size := 0, 0
	for n < len(b.queue) && n < maxBatchWrites {
		w := b.queue[n].cmd.storeWrite()
		size += len(w.Key) + len(w.Value) + len(w.PrevValue) + 64
		if n > 0 && size > maxBatchBytes {
			break
		}
		n++
	}
	batch := b.queue[:n:n]
	b.queue = slices.Clone(b.queue[n:])
	return batch
}

func (b *writeBatcher) proposeOne(cmd storeCommand) proposed {
	v, err := b.propose(cmd)
	event, _ := v.(*store.Event)
	return proposed{event: event, err: err}
}

// proposeBatch proposes batch and tells each write its outcome.
func (b *writeBatcher) proposeBatch(batch []*queuedWrite) {
	if len(batch) == 1 {
		batch[0].done <- b.proposeOne(batch[0].cmd)
		return
	}
	cmd := &BatchCommand{Writes: make([]batchedWrite, len(batch))}
	for i, w := range batch {
		cmd.Writes[i] = w.cmd.inBatch()
	}
	v, err := b.propose(cmd)
	// Without an error, one result for each write (applyWrites).
	results, _ := v.([]store.Result)
	for i, w := range batch {
		out := proposed{err: err}
		if err == nil {
			out.event, out.err = results[i].Event, results[i].Err
		}
		w.done <- out
	}
}
