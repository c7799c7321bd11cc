package store

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// received returns the event waiting on w's channel, or nil if there is
// none; closed reports whether the channel was closed instead.
func received(w *Watcher) (e *Event, closed bool) {
	select {
	case e, ok := <-w.EventChan():
		return e, !ok
	default:
		return nil, false
	}
}

func mustWatch(t *testing.T, s *Store, prefix string, sinceIndex uint64) *Watcher {
	t.Helper()
	w, err := s.Watch(prefix, sinceIndex)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, sinceIndex, err)
	}
	return w
}

func TestWatchLive(t *testing.T) {
	s := New(10)
	w := mustWatch(t, s, "foo", 0)
	if e, _ := received(w); e != nil {
		t.Fatalf("watcher fired before any write: %v", e)
	}
	s.Set("/foo/foo", "barbar", time.Time{}, 7)
	e, _ := received(w)
	want := `{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":7}`
	if got := marshal(t, e); got != want {
		t.Fatalf("event = %s, want %s", got, want)
	}
	s.Set("/foo/foo", "again", time.Time{}, 8)
	if e, closed := received(w); e != nil || closed {
		t.Fatalf("one-shot watcher received again: %v, closed %v", e, closed)
	}
	if n := s.Stats().Watchers; n != 0 {
		t.Errorf("Watchers = %d after firing, want 0", n)
	}
}

func TestWatchPrefix(t *testing.T) {
	tests := []struct {
		prefix, key string
		fires       bool
	}{
		{"/foo", "/foo", true},
		{"/foo", "/foo/x", true},
		{"/foo", "/foo/x/y", true},
		{"foo/", "/foo/x", true},
		{"/foo", "/foobar", false},
		{"/foo", "/fo", false},
		{"/foo/x", "/foo", false},
		{"/foo/x", "/foo/xy", false},
		{"/", "/foobar", true},
		{"", "/a/b/c", true},
		{"/a/b", "/a/b/c", true},
		{"/a/c", "/a/b/c", false},
	}
	for _, tt := range tests {
		for _, live := range []bool{true, false} {
			s := New(10)
			var w *Watcher
			if live {
				w = mustWatch(t, s, tt.prefix, 0)
			}
			s.Set(tt.key, "v", time.Time{}, 1)
			if !live {
				var err error
				if w, err = s.Watch(tt.prefix, 1); err != nil {
					t.Fatal(err)
				}
			}
			e, _ := received(w)
			if (e != nil) != tt.fires {
				t.Errorf("watch %q (live %v), set %q: fired %v, want %v", tt.prefix, live, tt.key, e != nil, tt.fires)
			}
			w.Remove()
		}
	}
}

func TestWatchEvents(t *testing.T) {
	// Every successful write is an event; failures and no-op expiries are not.
	s := New(10)
	s.Set("/k", "v", t0, 1)
	writes := []struct {
		op   op
		want string
	}{
		{set("/k/x", "v"), ""},
		{del("/nothing"), ""},
		{testAndSet("/k", "wrong", "v"), ""},
		{expire("/k", t0.Add(time.Second)), ""},
		{testAndSet("/k", "v", "w"), `{"action":"SET","key":"/k","prevValue":"v","value":"w","index":6}`},
		{setTTL("/k", "x", t0), `{"action":"SET","key":"/k","prevValue":"w","value":"x","expiration":` + t0JSON + `,"index":7}`},
		{expire("/k", t0), `{"action":"DELETE","key":"/k","prevValue":"x","expiration":` + t0JSON + `,"index":8}`},
		{set("/k", "y"), `{"action":"SET","key":"/k","value":"y","newKey":true,"index":9}`},
		{del("/k"), `{"action":"DELETE","key":"/k","prevValue":"y","index":10}`},
	}
	for i, write := range writes {
		w := mustWatch(t, s, "/k", 0)
		index := uint64(i + 2)
		write.op(s, index)
		e, _ := received(w)
		if e == nil {
			if write.want != "" {
				t.Errorf("write at %d: no event, want %s", index, write.want)
			}
			w.Remove()
			continue
		}
		if got := marshal(t, e); got != write.want {
			t.Errorf("write at %d: event %s, want %q", index, got, write.want)
		}
	}
}

func TestWatchManyWatchers(t *testing.T) {
	s := New(10)
	prefixes := []string{"/", "/a", "/a/b", "/a/b/c", "/a/b/c", "/a/bc", "/b"}
	var watchers []*Watcher
	for _, p := range prefixes {
		watchers = append(watchers, mustWatch(t, s, p, 0))
	}
	s.Set("/a/b/c", "v", time.Time{}, 1)
	for i, w := range watchers {
		e, _ := received(w)
		wantFired := i < 5
		if (e != nil) != wantFired {
			t.Errorf("watcher on %q fired %v, want %v", prefixes[i], e != nil, wantFired)
		}
	}
	if n := s.Stats().Watchers; n != 2 {
		t.Errorf("Watchers = %d, want 2", n)
	}
}

func TestWatchSinceIndex(t *testing.T) {
	s := New(10)
	s.Set("/foo/a", "1", time.Time{}, 3)
	s.Set("/bar", "1", time.Time{}, 5)
	s.Delete("/foo/a", 6)
	s.Set("/foo/b", "1", time.Time{}, 8)

	tests := []struct {
		prefix    string
		since     uint64
		wantIndex uint64 // 0: the watcher must wait
	}{
		{"/foo", 1, 3},
		{"/foo", 3, 3},
		{"/foo", 4, 6},
		{"/foo/a", 4, 6},
		{"/foo/b", 1, 8},
		{"/foo", 8, 8},
		{"/foo", 9, 0},
		{"/bar", 6, 0},
		{"/", 4, 5}, // the root matches from the history too
		{"/", 1, 3},
		{"/foo", 0, 0},
		{"/baz", 1, 0},
	}
	for _, tt := range tests {
		w := mustWatch(t, s, tt.prefix, tt.since)
		e, _ := received(w)
		switch {
		case tt.wantIndex == 0 && e != nil:
			t.Errorf("Watch(%q, %d) got event %d, want to wait", tt.prefix, tt.since, e.Index)
		case tt.wantIndex != 0 && e == nil:
			t.Errorf("Watch(%q, %d) waits, want event %d", tt.prefix, tt.since, tt.wantIndex)
		case e != nil && e.Index != tt.wantIndex:
			t.Errorf("Watch(%q, %d) got event %d, want %d", tt.prefix, tt.since, e.Index, tt.wantIndex)
		}
		w.Remove()
	}
	if n := s.Stats().Watchers; n != 0 {
		t.Errorf("Watchers = %d after removing all, want 0", n)
	}
}

func TestWatchFutureIndex(t *testing.T) {
	s := New(10)
	s.Set("/foo", "1", time.Time{}, 1)
	w := mustWatch(t, s, "/foo", 5)
	s.Set("/foo", "2", time.Time{}, 2)
	s.Set("/foo", "3", time.Time{}, 4)
	if e, _ := received(w); e != nil {
		t.Fatalf("got event %d before index 5", e.Index)
	}
	s.Set("/foo", "4", time.Time{}, 6)
	if e, _ := received(w); e == nil || e.Index != 6 {
		t.Fatalf("got %v, want the event at 6", e)
	}
}

func TestWatchHistoryCleared(t *testing.T) {
	s := New(2)
	for i := uint64(1); i <= 4; i++ {
		s.Set(fmt.Sprintf("/k%d", i), "v", time.Time{}, i*10)
	}
	// The history holds the events at 30 and 40; 10 and 20 were evicted.
	tests := []struct {
		prefix    string
		since     uint64
		wantCause string
		wantIndex uint64
	}{
		{"/k3", 1, "the requested history has been cleared [30/1]", 0},
		{"/k4", 20, "the requested history has been cleared [30/20]", 0},
		{"/k9", 11, "the requested history has been cleared [30/11]", 0},
		{"/k3", 21, "", 30},
		{"/", 21, "", 30},
		{"/k4", 21, "", 40},
		{"/k1", 21, "", 0},
	}
	for _, tt := range tests {
		w, err := s.Watch(tt.prefix, tt.since)
		if tt.wantCause != "" {
			checkError(t, err, etcderr.EventIndexCleared, tt.wantCause)
			if w != nil {
				t.Errorf("Watch(%q, %d) returned a watcher with its error", tt.prefix, tt.since)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Watch(%q, %d): %v", tt.prefix, tt.since, err)
		}
		e, _ := received(w)
		if tt.wantIndex == 0 && e != nil || tt.wantIndex != 0 && (e == nil || e.Index != tt.wantIndex) {
			t.Errorf("Watch(%q, %d) got %v, want event %d", tt.prefix, tt.since, e, tt.wantIndex)
		}
		w.Remove()
	}
	if n := s.Stats().Watchers; n != 0 {
		t.Errorf("failed watches left %d watchers", n)
	}
}

func TestWatchNoHistory(t *testing.T) {
	for _, size := range []int{0, -1} {
		s := New(size)
		s.Set("/k", "v", time.Time{}, 1)
		s.Set("/k", "v", time.Time{}, 2)
		s.Delete("/x", 3) // fails, no event
		_, err := s.Watch("/k", 2)
		checkError(t, err, etcderr.EventIndexCleared, "the requested history has been cleared [4/2]")
		w := mustWatch(t, s, "/k", 3)
		s.Set("/k", "v", time.Time{}, 4)
		if e, _ := received(w); e == nil || e.Index != 4 {
			t.Errorf("New(%d): watch from 3 got %v, want the event at 4", size, e)
		}
	}
}

func TestWatcherRemove(t *testing.T) {
	s := New(10)
	w1 := mustWatch(t, s, "/a", 0)
	w2 := mustWatch(t, s, "/a", 0)
	w3 := mustWatch(t, s, "/b", 0)
	if n := s.Stats().Watchers; n != 3 {
		t.Fatalf("Watchers = %d, want 3", n)
	}
	w1.Remove()
	w1.Remove()
	w3.Remove()
	if n := s.Stats().Watchers; n != 1 {
		t.Fatalf("Watchers = %d, want 1", n)
	}
	s.Set("/a", "v", time.Time{}, 1)
	s.Set("/b", "v", time.Time{}, 2)
	if e, _ := received(w1); e != nil {
		t.Error("removed watcher fired")
	}
	if e, _ := received(w3); e != nil {
		t.Error("removed watcher fired")
	}
	if e, _ := received(w2); e == nil {
		t.Error("remaining watcher did not fire")
	}
	w2.Remove() // after firing
	if n := s.Stats().Watchers; n != 0 {
		t.Errorf("Watchers = %d, want 0", n)
	}
	if len(s.watchers.byPrefix) != 0 {
		t.Errorf("hub keeps empty prefixes: %v", s.watchers.byPrefix)
	}
}

func TestWatchRecover(t *testing.T) {
	s := New(10)
	s.Set("/a", "v", time.Time{}, 1)
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	fired := mustWatch(t, s, "/a", 1)
	pending := mustWatch(t, s, "/a", 0)
	if err := s.Recover(state); err != nil {
		t.Fatal(err)
	}
	if e, closed := received(pending); e != nil || !closed {
		t.Errorf("pending watcher after Recover: event %v, closed %v; want closed", e, closed)
	}
	if e, closed := received(fired); e == nil || closed {
		t.Errorf("fired watcher after Recover: event %v, closed %v; want its event", e, closed)
	}
	pending.Remove()
	if n := s.Stats().Watchers; n != 0 {
		t.Errorf("Watchers = %d after Recover, want 0", n)
	}
	later := mustWatch(t, s, "/a", 0)
	s.Set("/a", "w", time.Time{}, 2)
	if e, _ := received(later); e == nil || e.Index != 2 {
		t.Errorf("watcher registered after Recover got %v", e)
	}
}

// TestWatchConcurrent runs writers and watchers together, for the race
// detector, and checks that a client following the events with
// sinceIndex = last + 1, as go-etcd does, sees every write exactly once.
func TestWatchConcurrent(t *testing.T) {
	const writes = 400
	s := New(writes)
	var applyMu sync.Mutex
	var next uint64
	apply := func(key string) {
		// Raft hands the store one write at a time, in index order.
		applyMu.Lock()
		defer applyMu.Unlock()
		next++
		s.Set(key, "v", time.Time{}, next)
	}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range writes / 4 {
				apply(fmt.Sprintf("/dir%d/k%d", w%2, i%7))
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for range 50 {
				s.Get("/dir0")
				w, err := s.Watch("/dir1", 0)
				if err != nil {
					t.Error(err)
					return
				}
				w.Remove()
			}
		})
	}
	seen := make(chan []uint64)
	for range 2 {
		go func() {
			var indexes []uint64
			for since := uint64(1); since <= writes; {
				w, err := s.Watch("/", since)
				if err != nil {
					t.Error(err)
					break
				}
				e := <-w.EventChan()
				indexes = append(indexes, e.Index)
				since = e.Index + 1
			}
			seen <- indexes
		}()
	}
	wg.Wait()
	for range 2 {
		indexes := <-seen
		if len(indexes) != writes {
			t.Fatalf("follower saw %d events, want %d", len(indexes), writes)
		}
		for i, index := range indexes {
			if index != uint64(i+1) {
				t.Fatalf("follower's event %d has index %d", i, index)
			}
		}
	}
	if n := s.Stats().Watchers; n != 0 {
		t.Errorf("Watchers = %d at the end, want 0", n)
	}
}
