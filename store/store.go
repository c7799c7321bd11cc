// Package store is the replicated state of etcd: an in-memory tree of
// directories and files holding string values, with watches, a
// bounded history of changes, expiring files and directories, and the
// views of both the v1 and the v2 API.
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
// are the same key "/foo", and "" is the root "/". Setting "/a/b/c"
// creates the directories "/a" and "/a/b"; emptying a directory does not
// remove it. Only the v2 writes make a directory by itself, delete one or
// give one an expiration.
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
	// expiryWake is closed when a node may expire earlier than the
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
		root:     newDir("/", 0),
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
		return s.set(key, value, expiration, V2Create, false)
	case n.isDir():
		return nil, etcderr.New(etcderr.NotFile, "set: "+key)
	case n.value != prevValue:
		return nil, etcderr.Newf(etcderr.TestFailed, "TestAndSet: %s!=%s", n.value, prevValue)
	}
	return s.set(key, value, expiration, V2CompareAndSwap, false)
}

// set sets the normalised key as v1 does and records the event, which v2
// shows with the action v2Action. fresh makes an existing file a new node
// for v2, as its set does, rather than a modified one.
func (s *Store) set(key, value string, expiration time.Time, v2Action string, fresh bool) (*Event, error) {
	if key == "/" {
		return nil, etcderr.New(etcderr.NotFile, "set: /")
	}
	dir, name, blocker := makeParents(s.root, key, s.index)
	if blocker != nil {
		return nil, etcderr.New(etcderr.NotFile, "set: "+key)
	}
	n := dir.children.get(name)
	switch {
	case n == nil:
		return s.add(dir, key, false, value, expirationOf(expiration), nil, v2Action), nil
	case n.isDir():
		return nil, etcderr.New(etcderr.NotFile, "set: "+key)
	}
	return s.modify(n, value, expirationOf(expiration), fresh, false, v2Action), nil
}

// expirationOf returns a write's expiration as nodes hold it: nil for the
// zero time, which means none.
func expirationOf(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = stripMonotonic(t)
	return &t
}

// setExpiration gives n the expiration exp (nil for none), keeping the
// expiry heap in step, and wakes whoever expires nodes if n is now due
// first.
func (s *Store) setExpiration(n *node, exp *time.Time) {
	s.expiries.setExpiration(n, exp)
	if exp != nil && n.ttl.heapIndex == 0 {
		s.wakeExpiry()
	}
}

// add makes a new node at key in dir, a directory or a file holding value,
// replacing the file prev (nil if none), and records the event.
func (s *Store) add(dir *node, key string, makeDir bool, value string, exp *time.Time, prev *node, v2Action string) *Event {
	c := newChange(s.index, v2Action, prev)
	if prev != nil {
		dir.children.remove(prev.name())
		s.expiries.forget(prev)
	}
	var n *node
	if makeDir {
		n = newDir(key, s.index)
	} else {
		n = newFile(key, value, s.index)
	}
	dir.children.add(n)
	s.setExpiration(n, exp)
	e := c.put(n)
	s.record(e)
	return e
}

// modify changes the existing node n in place, its value (a file's only),
// expiration and modifiedIndex, and records the event. fresh makes it a
// new node for v2, with a new createdIndex too. A refresh's event goes into
// the history but wakes no watcher, and watches skip it there.
func (s *Store) modify(n *node, value string, exp *time.Time, fresh, refresh bool, v2Action string) *Event {
	c := newChange(s.index, v2Action, n)
	if !n.isDir() {
		n.value = value
	}
	created := n.createdIndex()
	if fresh {
		created = s.index
	}
	n.setIndexes(created, s.index)
	s.setExpiration(n, exp)
	e := c.put(n)
	e.refresh = refresh
	s.record(e)
	return e
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
	return s.remove(parent, n, V2Delete), nil
}

// Expire deletes the node key, a file or a directory with everything below
// it, if its expiration equals expiration. Otherwise the node was set again
// or deleted after the leader chose to expire it, and Expire does nothing
// and returns (nil, nil). Either way the write takes its index.
func (s *Store) Expire(key string, expiration time.Time, position uint64) (*Event, error) {
	return s.applyOne(position, Write{Op: OpExpire, Key: key, Expiration: expiration})
}

func (s *Store) expire(key string, expiration time.Time) *Event {
	parent, n := find(s.root, key)
	if n == nil || n.expiration() == nil || !n.expiration().Equal(expiration) {
		return nil
	}
	s.counters.expires.Add(1)
	return s.remove(parent, n, V2Expire)
}

// remove deletes n, and everything below it, from parent and records the
// event, which v2 shows with the action v2Action.
func (s *Store) remove(parent, n *node, v2Action string) *Event {
	c := newChange(s.index, v2Action, n)
	parent.children.remove(n.name())
	s.forgetTree(n)
	e := c.removed(n)
	s.record(e)
	return e
}

// forgetTree takes n and every node below it out of the expiry heap.
func (s *Store) forgetTree(n *node) {
	if !n.isDir() || len(s.expiries) == 0 {
		s.expiries.forget(n)
		return
	}
	nodes := []*node{n}
	for len(nodes) > 0 {
		n := nodes[len(nodes)-1]
		nodes = nodes[:len(nodes)-1]
		s.expiries.forget(n)
		if n.isDir() {
			n.children.each(func(child *node) { nodes = append(nodes, child) })
		}
	}
}

// record keeps the event of a successful write and delivers it to the
// watchers that want it.
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
	s.v2Counters.gets.count(err)
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
// asks for the next event. The removal of a directory by a v2 write is an
// event for every key below it too; a v2 refresh is no event.
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
	return s.watch(&Watcher{
		eventChan:  make(chan *Event, 1),
		prefix:     normalize(prefix),
		sinceIndex: sinceIndex,
		store:      s,
		recursive:  true,
	})
}

// watch answers w from the history, or registers it, as Watch and WatchV2
// describe. A stream watcher receives every event of the history it wants,
// and is registered for the later ones too.
func (s *Store) watch(w *Watcher) (*Watcher, error) {
	// The write lock keeps the history check and the registration together,
	// so no write can fall between them.
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.sinceIndex > 0 {
		if w.sinceIndex <= s.history.evictedIndex {
			oldest, ok := s.history.oldestIndex()
			if !ok {
				oldest = s.index + 1
			}
			return nil, etcderr.Newf(etcderr.EventIndexCleared,
				"the requested history has been cleared [%d/%d]", oldest, w.sinceIndex)
		}
		for i := s.history.from(w.sinceIndex); i < s.history.len(); i++ {
			e := s.history.at(i)
			switch {
			case !w.matches(e):
				continue
			case !w.stream:
				w.eventChan <- e
				return w, nil
			case len(w.eventChan) == cap(w.eventChan):
				// More than a buffer behind already: dropped at once.
				close(w.eventChan)
				return w, nil
			}
			w.eventChan <- e
		}
	}
	s.watchers.add(w)
	return w, nil
}

// NextExpiration returns the earliest expiration among the nodes that have
// one, and false if none has.
func (s *Store) NextExpiration() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.expiries) == 0 {
		return time.Time{}, false
	}
	return *s.expiries[0].ttl.at, true
}

// ExpiryChanged returns a channel closed once a node may expire earlier
// than NextExpiration said after this call: a node given an expiration
// before the earliest, or a store recovered from a snapshot. Whoever
// expires nodes sleeps until then or until the earliest expiration.
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

// Expired returns up to limit nodes, files or directories, whose expiration
// is at or before now, earliest first (ties by key). It does not remove
// them: the leader proposes their expiry through the log, and Expire
// applies it.
func (s *Store) Expired(now time.Time, limit int) []Expiry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.expiries.due(stripMonotonic(now), limit)
}
