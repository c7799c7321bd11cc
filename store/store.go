// Package store is the replicated state of etcd: an in-memory tree of
// directories and files holding string values, with one-shot watches, a
// bounded history of changes and expiring files.
//
// The store is the state machine of the raft log and knows nothing of raft
// or HTTP. It is deterministic, so that every member applying the same log
// reaches the same state: no method reads the clock (times are passed in),
// and every write carries the log position of the entry applying it, from
// which the store derives the write's index (see Apply).
package store

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// ErrAlreadyApplied is returned by a write whose log position is not past
// the last one applied: its effect is already part of the state, as when the
// log replayed at start overlaps the snapshot the store was recovered from.
var ErrAlreadyApplied = errors.New("store: write already applied")

// Store is a key tree. It is safe for concurrent use. Make one with New.
//
// Keys are normalised as path.Clean("/" + key), so "foo", "/foo" and "foo/"
// are the same key "/foo", and "" is the root "/". Directories exist
// implicitly: setting "/a/b/c" creates "/a" and "/a/b". They are never
// removed, not even when emptied.
type Store struct {
	mu   sync.RWMutex
	root *node
	// index is the index of the last write; position is the log position
	// of the entry that made it. They differ by the extra indexes taken by
	// entries of several writes (see Apply).
	index    uint64
	position uint64
	expiries expiryHeap
	history  eventHistory
	watchers watcherHub
	counters counters
	// v2Counters count every operation by its v2 action; see V2Stats.
	v2Counters v2Counters
	// expiryWake is closed when a file may expire earlier than the
	// earliest expiration did; nil while no one waits.
	expiryWake chan struct{}
	// savedNodes is how many nodes the last SaveTo wrote.
	savedNodes atomic.Int64
}

// New returns an empty store that keeps the last historySize events for
// watches that start from a past index. A historySize of 0 or less keeps
// none.
func New(historySize int) *Store {
	return &Store{
		root:     newDir("/"),
		history:  newEventHistory(historySize),
		watchers: newWatcherHub(),
	}
}

// Index returns the index of the last write applied, successful or not; 0
// for a new store.
func (s *Store) Index() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.index
}

// advance records that the entry at position is being applied, and gives
// its first write its index, reporting false if the entry already was
// applied. Every position passed over, written or not, takes one index, so
// that a log of single writes gives each the index of its position.
func (s *Store) advance(position uint64) bool {
	if position <= s.position {
		return false
	}
	s.index += position - s.position
	s.position = position
	return true
}

// stripMonotonic drops a time's monotonic clock reading, so that times are
// compared by the wall clock, as they are on members that read them from
// the log.
func stripMonotonic(t time.Time) time.Time { return t.Round(0) }

// Set sets the file key to value, creating it and any missing directories
// above it. expiration is when the file expires; the zero time makes it
// permanent. position is the log position of the write; see Apply.
//
// A key that is a directory, or whose path crosses a file, gives error 102
// (etcderr.NotFile) and changes nothing.
func (s *Store) Set(key, value string, expiration time.Time, position uint64) (*Event, error) {
	return s.applyOne(position, Write{Op: OpSet, Key: key, Value: value, Expiration: expiration})
}

// TestAndSet sets key as Set does if its current value is prevValue.
// A missing key is created only when prevValue is empty. Errors are 101
// (etcderr.TestFailed) when the value differs, 100 (etcderr.KeyNotFound) for
// a missing key and a non-empty prevValue, and 102 (etcderr.NotFile) as for
// Set.
func (s *Store) TestAndSet(key, prevValue, value string, expiration time.Time, position uint64) (*Event, error) {
	return s.applyOne(position, Write{Op: OpTestAndSet, Key: key, PrevValue: prevValue, Value: value, Expiration: expiration})
}

func (s *Store) testAndSet(key, prevValue, value string, expiration time.Time) (*Event, error) {
	_, n := find(s.root, key)
	switch {
	case n == nil && prevValue != "":
		return nil, etcderr.Newf(etcderr.KeyNotFound,
			"TestAndSet: key not found and previousValue is not empty %s:%s", key, prevValue)
	case n == nil:
		return s.set(key, value, expiration)
	case n.isDir():
		return nil, etcderr.New(etcderr.NotFile, "set: "+key)
	case n.value != prevValue:
		return nil, etcderr.Newf(etcderr.TestFailed, "TestAndSet: %s!=%s", n.value, prevValue)
	}
	return s.set(key, value, expiration)
}

// set sets the normalised key and records the event.
func (s *Store) set(key, value string, expiration time.Time) (*Event, error) {
	if key == "/" {
		return nil, etcderr.New(etcderr.NotFile, "set: /")
	}
	dir, name, ok := makeParents(s.root, key)
	if !ok {
		return nil, etcderr.New(etcderr.NotFile, "set: "+key)
	}
	n := dir.children.get(name)
	if n != nil && n.isDir() {
		return nil, etcderr.New(etcderr.NotFile, "set: "+key)
	}
	var exp *time.Time
	if !expiration.IsZero() {
		t := stripMonotonic(expiration)
		exp = &t
	}
	e := &Event{Action: ActionSet, Key: key, Value: value, Expiration: exp, Index: s.index}
	if n == nil {
		n = newFile(key, value)
		dir.children.add(n)
		e.NewKey = true
	} else {
		e.PrevValue = n.value
		n.value = value
	}
	s.expiries.setExpiration(n, exp)
	if exp != nil && n.ttl.heapIndex == 0 {
		s.wakeExpiry()
	}
	s.record(e)
	return e, nil
}

// Delete deletes the file key. A missing key gives error 100
// (etcderr.KeyNotFound), a directory error 102 (etcderr.NotFile).
func (s *Store) Delete(key string, position uint64) (*Event, error) {
	return s.applyOne(position, Write{Op: OpDelete, Key: key})
}

func (s *Store) delete(key string) (*Event, error) {
	parent, n := find(s.root, key)
	switch {
	case n == nil:
		return nil, etcderr.New(etcderr.KeyNotFound, "delete: "+key)
	case n.isDir():
		return nil, etcderr.New(etcderr.NotFile, "delete: "+key)
	}
	return s.remove(parent, n), nil
}

// Expire deletes the file key if its expiration equals expiration. Otherwise
// the file was set again or deleted after the leader chose to expire it, and
// Expire does nothing and returns (nil, nil). Either way the write takes its
// index.
func (s *Store) Expire(key string, expiration time.Time, position uint64) (*Event, error) {
	return s.applyOne(position, Write{Op: OpExpire, Key: key, Expiration: expiration})
}

func (s *Store) expire(key string, expiration time.Time) *Event {
	parent, n := find(s.root, key)
	if n == nil || n.expiration() == nil || !n.expiration().Equal(expiration) {
		return nil
	}
	s.counters.expires.Add(1)
	return s.remove(parent, n)
}

// remove deletes file n from parent and records the event.
func (s *Store) remove(parent, n *node) *Event {
	parent.children.remove(n.name())
	s.expiries.forget(n)
	e := &Event{Action: ActionDelete, Key: n.key, PrevValue: n.value, Expiration: n.expiration(), Index: s.index}
	s.record(e)
	return e
}

// record keeps the event of a successful write and delivers it to watchers.
func (s *Store) record(e *Event) {
	s.history.add(e)
	s.watchers.notify(e)
}

// Get reads key. For a file it returns one GET event and dir false. For a
// directory it returns one GET event per direct child, sorted by key, and
// dir true: files with their values, sub-directories with Dir set and no
// value; an empty directory gives an empty, non-nil slice. Every event's
// Index is the store's Index. A missing key, or one whose path crosses a
// file, gives error 100 (etcderr.KeyNotFound).
func (s *Store) Get(key string) (events []*Event, dir bool, err error) {
	key = normalize(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, n := find(s.root, key)
	switch {
	case n == nil:
		err = etcderr.New(etcderr.KeyNotFound, "get: "+key)
	case n.isDir():
		events, dir = s.list(n), true
	default:
		events = []*Event{{Action: ActionGet, Key: n.key, Value: n.value, Expiration: n.expiration(), Index: s.index}}
	}
	count(&s.counters.gets, &s.counters.getsFail, err)
	return events, dir, err
}

// list returns the events of a directory listing.
func (s *Store) list(dir *node) []*Event {
	// One array holds all the events, saving an allocation per child.
	entries := make([]Event, 0, dir.children.len())
	dir.children.each(func(child *node) {
		entries = append(entries, Event{
			Action:     ActionGet,
			Key:        child.key,
			Dir:        child.isDir(),
			Value:      child.value,
			Expiration: child.expiration(),
			Index:      s.index,
		})
	})
	events := make([]*Event, len(entries))
	for i := range entries {
		events[i] = &entries[i]
	}
	slices.SortFunc(events, func(a, b *Event) int { return strings.Compare(a.Key, b.Key) })
	return events
}

// Watch returns a watcher for the first event at or below prefix (by whole
// path segments: "/foo" covers "/foo" and "/foo/x" but not "/foobar"; "/"
// covers every key) whose Index is at least sinceIndex. A sinceIndex of 0
// asks for the next event.
//
// If the history holds such an event, the watcher's channel already holds
// the first of them on return. If events that might match are no longer in
// the history (sinceIndex is at most the index of the newest event
// dropped), Watch fails with error 401 (etcderr.EventIndexCleared) instead,
// so the client knows it missed events; the cause reads "the requested
// history has been cleared [N/M]", N being the oldest index still held (or
// the next index if none is) and M sinceIndex. Otherwise the watcher waits for a
// write; call its Remove method when no longer interested.
func (s *Store) Watch(prefix string, sinceIndex uint64) (*Watcher, error) {
	w := &Watcher{
		eventChan:  make(chan *Event, 1),
		prefix:     normalize(prefix),
		sinceIndex: sinceIndex,
		store:      s,
	}
	// The write lock keeps the history check and the registration together,
	// so no write can fall between them.
	s.mu.Lock()
	defer s.mu.Unlock()
	if sinceIndex > 0 {
		if sinceIndex <= s.history.evictedIndex {
			oldest, ok := s.history.oldestIndex()
			if !ok {
				oldest = s.index + 1
			}
			return nil, etcderr.Newf(etcderr.EventIndexCleared,
				"the requested history has been cleared [%d/%d]", oldest, sinceIndex)
		}
		if e := s.history.find(w.prefix, sinceIndex); e != nil {
			w.eventChan <- e
			return w, nil
		}
	}
	s.watchers.add(w)
	return w, nil
}

// NextExpiration returns the earliest expiration among the files that have
// one, and false if none has.
func (s *Store) NextExpiration() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.expiries) == 0 {
		return time.Time{}, false
	}
	return *s.expiries[0].ttl.at, true
}

// ExpiryChanged returns a channel closed once a file may expire earlier
// than NextExpiration said after this call: a file set with an expiration
// before the earliest, or a store recovered from a snapshot. Whoever
// expires files sleeps until then or until the earliest expiration.
func (s *Store) ExpiryChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.expiryWake == nil {
		s.expiryWake = make(chan struct{})
	}
	return s.expiryWake
}

// wakeExpiry closes the channel of ExpiryChanged; s.mu is held.
func (s *Store) wakeExpiry() {
	if s.expiryWake != nil {
		close(s.expiryWake)
		s.expiryWake = nil
	}
}

// Expired returns up to limit files whose expiration is at or before now,
// earliest first (ties by key). It does not remove them: the leader proposes
// their expiry through the log, and Expire applies it.
func (s *Store) Expired(now time.Time, limit int) []Expiry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.expiries.due(stripMonotonic(now), limit)
}
