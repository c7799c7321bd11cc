package store

import (
	"fmt"
	"time"
)

// Op is the kind of a Write.
type Op uint8

// The writes a log entry can hold.
const (
	OpSet        Op = iota + 1 // Set
	OpTestAndSet               // TestAndSet
	OpDelete                   // Delete
	OpExpire                   // Expire
)

// Write is one change to the store, as Set, TestAndSet, Delete or Expire
// make it, or one of the v2 API's (see v2_write.go). Expiration is when the
// node expires for the writes that set one (the zero time for never), and
// the expiration the leader saw for OpExpire; PrevValue is the value
// OpTestAndSet, OpV2CompareAndSwap and OpV2CompareAndDelete compare.
type Write struct {
	Op         Op
	Key        string
	Value      string
	PrevValue  string
	Expiration time.Time
	V2         V2Write // the v2 ops' conditions and flags
	// At is when the node that accepted the write took it, the zero time
	// if unknown (v1's commands carry none). The write's event keeps it
	// (V2Event.At); an OpExpire's time is the expiration it ends.
	At time.Time
}

// Result is what one Write gave: what the method of its Op returns.
type Result struct {
	Event *Event
	Err   error
}

// Apply applies writes, in order, as the log entry at position, and returns
// the result of each. An entry may hold several writes, sent together to
// make one log append and one sync serve many clients: they take
// consecutive indexes, and the next entry's first write the index after.
// Every position passed over (an entry that wrote nothing) takes one index
// too, so that a log of single writes gives each write the index of its
// position. The whole entry is applied under one lock, so a snapshot holds
// all of it or none.
//
// An entry at or before the last position applied changes nothing and
// gives ErrAlreadyApplied.
func (s *Store) Apply(position uint64, writes []Write) ([]Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.advance(position) {
		return nil, ErrAlreadyApplied
	}
	results := make([]Result, len(writes))
	for i, w := range writes {
		if i > 0 {
			s.index++
		}
		results[i].Event, results[i].Err = s.write(w)
	}
	return results, nil
}

// applyOne applies an entry of one write through Apply, the one path by
// which writes reach the store and take their indexes.
func (s *Store) applyOne(position uint64, w Write) (*Event, error) {
	results, err := s.Apply(position, []Write{w})
	if err != nil {
		return nil, err
	}
	return results[0].Event, results[0].Err
}

// write makes one change at the store's current index, and counts it.
func (s *Store) write(w Write) (*Event, error) {
	key := normalize(w.Key)
	s.writeTime = stripMonotonic(w.At)
	if w.Op == OpExpire {
		s.writeTime = stripMonotonic(w.Expiration)
	}
	var (
		e   *Event
		err error
	)
	switch w.Op {
	case OpSet:
		e, err = s.set(key, w.Value, w.Expiration, V2Set, true)
		count(&s.counters.sets, &s.counters.setsFail, err)
		s.v2Counters.sets.count(err)
	case OpTestAndSet:
		e, err = s.testAndSet(key, w.PrevValue, w.Value, w.Expiration)
		count(&s.counters.testAndSets, &s.counters.testAndSetsFail, err)
		s.v2Counters.compareAndSwaps.count(err)
	case OpDelete:
		e, err = s.delete(key)
		count(&s.counters.deletes, &s.counters.deletesFail, err)
		s.v2Counters.deletes.count(err)
	case OpExpire:
		e = s.expire(key, w.Expiration)
	case OpV2Set:
		e, err = s.v2Set(key, w)
		s.v2Counters.sets.count(err)
	case OpV2Create:
		e, err = s.v2Create(key, w)
		s.v2Counters.creates.count(err)
	case OpV2CreateInOrder:
		e, err = s.v2Create(inOrderKey(key, s.index), w)
		s.v2Counters.creates.count(err)
	case OpV2Update:
		e, err = s.v2Update(key, w)
		s.v2Counters.updates.count(err)
	case OpV2CompareAndSwap:
		e, err = s.v2CompareAndSwap(key, w)
		s.v2Counters.compareAndSwaps.count(err)
	case OpV2Delete:
		e, err = s.v2Delete(key, w)
		s.v2Counters.deletes.count(err)
	case OpV2CompareAndDelete:
		e, err = s.v2CompareAndDelete(key, w)
		s.v2Counters.compareAndDeletes.count(err)
	default:
		// Deterministic all the same: every member refuses it at this index.
		err = fmt.Errorf("store: unknown write %d on %q", w.Op, w.Key)
	}
	return e, err
}
