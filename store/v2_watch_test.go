package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// TestGetV2 follows V2-API.md §5's listing rules and §9's errors.
func TestGetV2(t *testing.T) {
	s := New(10)
	applyAll(t, s,
		v2Set("/dir/b", "2"),          // 1
		v2Set("/dir/a", "1"),          // 2
		v2Set("/dir/sub/c", "3"),      // 3
		v2Set("/dir/_hidden", "h"),    // 4
		v2Mkdir("/dir/empty"),         // 5
		v2Set("/_etcd/machines", "m"), // 6
		v2Set("/f", "v"),              // 7
		v2Set("/dir/_hdir/x", "y"),    // 8
	)
	tests := []struct {
		key               string
		recursive, sorted bool
		want              string
		wantCode          int
		wantCause         string
	}{
		{key: "/dir/a", want: `{"action":"get","node":{"key":"/dir/a","value":"1","modifiedIndex":2,"createdIndex":2}}`},
		{key: "/dir", sorted: true, want: `{"action":"get","node":{"key":"/dir","dir":true,"nodes":[` +
			`{"key":"/dir/a","value":"1","modifiedIndex":2,"createdIndex":2},` +
			`{"key":"/dir/b","value":"2","modifiedIndex":1,"createdIndex":1},` +
			`{"key":"/dir/empty","dir":true,"modifiedIndex":5,"createdIndex":5},` +
			`{"key":"/dir/sub","dir":true,"modifiedIndex":3,"createdIndex":3}],` +
			`"modifiedIndex":1,"createdIndex":1}}`},
		{key: "/dir", recursive: true, sorted: true, want: `{"action":"get","node":{"key":"/dir","dir":true,"nodes":[` +
			`{"key":"/dir/a","value":"1","modifiedIndex":2,"createdIndex":2},` +
			`{"key":"/dir/b","value":"2","modifiedIndex":1,"createdIndex":1},` +
			`{"key":"/dir/empty","dir":true,"modifiedIndex":5,"createdIndex":5},` +
			`{"key":"/dir/sub","dir":true,"nodes":[{"key":"/dir/sub/c","value":"3","modifiedIndex":3,"createdIndex":3}],"modifiedIndex":3,"createdIndex":3}],` +
			`"modifiedIndex":1,"createdIndex":1}}`},
		// The root has no indexes (its key "/" the HTTP layer leaves out) and
		// hides /_etcd.
		{key: "", sorted: true, want: `{"action":"get","node":{"key":"/","dir":true,"nodes":[` +
			`{"key":"/dir","dir":true,"modifiedIndex":1,"createdIndex":1},` +
			`{"key":"/f","value":"v","modifiedIndex":7,"createdIndex":7}]}}`},
		// Listing inside a hidden directory works, and so does a direct read.
		{key: "/_etcd", want: `{"action":"get","node":{"key":"/_etcd","dir":true,"nodes":[{"key":"/_etcd/machines","value":"m","modifiedIndex":6,"createdIndex":6}],"modifiedIndex":6,"createdIndex":6}}`},
		{key: "/dir/_hidden", want: `{"action":"get","node":{"key":"/dir/_hidden","value":"h","modifiedIndex":4,"createdIndex":4}}`},
		{key: "/dir/empty", recursive: true, want: `{"action":"get","node":{"key":"/dir/empty","dir":true,"modifiedIndex":5,"createdIndex":5}}`},
		{key: "/no/such/deep", wantCode: etcderr.KeyNotFound, wantCause: "/no"},
		{key: "/dir/nokey", wantCode: etcderr.KeyNotFound, wantCause: "/dir/nokey"},
		{key: "/f/child", wantCode: etcderr.NotDir, wantCause: "/f"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s recursive=%v sorted=%v", tt.key, tt.recursive, tt.sorted), func(t *testing.T) {
			e, err := s.GetV2(tt.key, tt.recursive, tt.sorted)
			if tt.wantCode != 0 {
				checkError(t, err, tt.wantCode, tt.wantCause)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := v2JSON(t, e); got != tt.want {
				t.Errorf("GetV2\n got %s\nwant %s", got, tt.want)
			}
			if e.Index != s.Index() {
				t.Errorf("Index = %d, want the store's %d", e.Index, s.Index())
			}
		})
	}
	// Without sorted, the same children, in some order.
	e, _ := s.GetV2("/dir", true, false)
	if n := len(e.V2.Node.Nodes); n != 4 {
		t.Errorf("unsorted listing has %d nodes, want 4", n)
	}
}

// TestV2DirectoryIndexes: directories made on the way to a key take its
// index, and a directory's modifiedIndex does not follow its children
// (V2-API.md §5).
func TestV2DirectoryIndexes(t *testing.T) {
	s := New(10)
	applyAll(t, s,
		v2Set("/x", "1"),                             // 1
		v2Post("/queue", "job1"),                     // 2
		v2Set("/a/b/c", "v"),                         // 3
		v2Set("/a/b/d", "v"),                         // 4
		v2Delete("/a/b/c", false, false),             // 5
		Write{Op: OpSet, Key: "/a/b/e", Value: "v1"}, // 6
	)
	for key, want := range map[string]string{
		"/queue": `"modifiedIndex":2,"createdIndex":2`,
		"/a":     `"modifiedIndex":3,"createdIndex":3`,
		"/a/b":   `"modifiedIndex":3,"createdIndex":3`,
	} {
		e, err := s.GetV2(key, false, false)
		if err != nil {
			t.Fatal(err)
		}
		e.V2.Node.Nodes = nil
		if got := v2JSON(t, e); got != `{"action":"get","node":{"key":"`+key+`","dir":true,`+want+`}}` {
			t.Errorf("GetV2(%s) = %s, want %s", key, got, want)
		}
	}
}

// TestV1WritesSeenByV2 checks the v2 view of each v1 write: a set makes a
// fresh node, a test-and-set is a compareAndSwap (a create when it made
// the key), an expiry an expire.
func TestV1WritesSeenByV2(t *testing.T) {
	s := New(10)
	tests := []struct {
		op   op
		want string
	}{
		{set("/k", "one"), `{"action":"set","node":{"key":"/k","value":"one","modifiedIndex":1,"createdIndex":1}}`},
		{set("/k", "two"), `{"action":"set","node":{"key":"/k","value":"two","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/k","value":"one","modifiedIndex":1,"createdIndex":1}}`},
		{testAndSet("/k", "two", "three"), `{"action":"compareAndSwap","node":{"key":"/k","value":"three","modifiedIndex":3,"createdIndex":2},"prevNode":{"key":"/k","value":"two","modifiedIndex":2,"createdIndex":2}}`},
		{testAndSet("/new", "", "n"), `{"action":"create","node":{"key":"/new","value":"n","modifiedIndex":4,"createdIndex":4}}`},
		{del("/new"), `{"action":"delete","node":{"key":"/new","modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/new","value":"n","modifiedIndex":4,"createdIndex":4}}`},
		{setTTL("/exp", "bye", t0), `{"action":"set","node":{"key":"/exp","value":"bye","expiration":` + t0JSON + `,"modifiedIndex":6,"createdIndex":6}}`},
		{expire("/exp", t0), `{"action":"expire","node":{"key":"/exp","modifiedIndex":7,"createdIndex":6},"prevNode":{"key":"/exp","value":"bye","expiration":` + t0JSON + `,"modifiedIndex":6,"createdIndex":6}}`},
	}
	for i, tt := range tests {
		w, err := s.WatchV2("/", true, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		e, err := tt.op(s, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if got := v2JSON(t, e); got != tt.want {
			t.Errorf("write %d\n got %s\nwant %s", i+1, got, tt.want)
		}
		if got, _ := received(w); got != e {
			t.Errorf("write %d: v2 watcher got %v, want the event", i+1, got)
		}
	}
}

// TestV2DirectoryExpiry: a directory's expiry removes its subtree in one
// expire event, which wakes the watchers below it (V2-API.md §8, §11),
// through Expired and Expire as the leader's expiry loop calls them.
func TestV2DirectoryExpiry(t *testing.T) {
	s := New(10)
	applyAll(t, s,
		v2MkdirTTL("/dir", t0),                         // 1
		v2SetTTL("/dir/x/y", "v", t0.Add(time.Second)), // 2
		v2Set("/dir/z", "v"),                           // 3
		v2Set("/other", "v"),                           // 4
	)
	below, _ := s.WatchV2("/dir/x/y", false, false, 0)
	belowV1 := mustWatch(t, s, "/dir/x", 0)
	missing, _ := s.WatchV2("/dir/nothing/here", false, false, 0)
	beside, _ := s.WatchV2("/other", true, false, 0)
	if next, ok := s.NextExpiration(); !ok || !next.Equal(t0) {
		t.Fatalf("NextExpiration() = %v, %v; want the directory's %v", next, ok, t0)
	}
	due := s.Expired(t0.Add(time.Hour), 10)
	if len(due) != 2 || due[0].Key != "/dir" || due[1].Key != "/dir/x/y" {
		t.Fatalf("Expired = %v, want /dir then /dir/x/y", due)
	}
	e, err := s.Expire(due[0].Key, due[0].Expiration, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"expire","node":{"key":"/dir","dir":true,"modifiedIndex":5,"createdIndex":1},` +
		`"prevNode":{"key":"/dir","dir":true,"expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`
	if got := v2JSON(t, e); got != want {
		t.Errorf("expire event\n got %s\nwant %s", got, want)
	}
	if got, want := marshal(t, e), `{"action":"DELETE","key":"/dir","dir":true,"expiration":`+t0JSON+`,"index":5}`; got != want {
		t.Errorf("v1 view\n got %s\nwant %s", got, want)
	}
	for name, w := range map[string]*Watcher{"v2 below": below, "v1 below": belowV1, "v2 on a missing key below": missing} {
		if got, _ := received(w); got != e {
			t.Errorf("%s: watcher got %v, want the expire event", name, got)
		}
	}
	if got, _ := received(beside); got != nil {
		t.Errorf("watcher beside got %v", got)
	}
	if _, err := s.GetV2("/dir/z", false, false); err == nil {
		t.Error("/dir/z outlived its directory")
	}
	// The file below went with its directory: its own expiry is a no-op.
	if e, err := s.Expire(due[1].Key, due[1].Expiration, 6); e != nil || err != nil {
		t.Errorf("Expire of a file gone with its directory = %v, %v", e, err)
	}
	if next, ok := s.NextExpiration(); ok {
		t.Errorf("NextExpiration() = %v after the subtree went", next)
	}
	if got := s.V2Stats().ExpireCount; got != 1 {
		t.Errorf("expireCount = %d, want 1", got)
	}
}

// TestWatchV2Matching follows V2-API.md §11's matching rules: an event is
// delivered when it is at the watched key, below it for a recursive
// watcher unless below a hidden component under it, or the removal of a
// directory above it. v1 watchers keep v1's rules, plus that last one.
func TestWatchV2Matching(t *testing.T) {
	tests := []struct {
		name      string
		setup     []Write
		key       string
		recursive bool
		write     Write
		fires     bool
	}{
		{"exact", nil, "/k", false, v2Set("/k", "v"), true},
		{"child, not recursive", []Write{v2Mkdir("/d")}, "/d", false, v2Set("/d/x", "v"), false},
		{"child, recursive", []Write{v2Mkdir("/d")}, "/d", true, v2Set("/d/x/y", "v"), true},
		{"sibling prefix", nil, "/foo", true, v2Set("/foobar", "v"), false},
		{"own delete, not recursive", []Write{v2Mkdir("/d")}, "/d", false, v2Delete("/d", true, false), true},
		{"directory delete above", []Write{v2Set("/wdir/x/y", "v")}, "/wdir/x/y", false, v2Delete("/wdir", false, true), true},
		{"directory delete above a missing key", []Write{v2Mkdir("/wdir")}, "/wdir/x", false, v2Delete("/wdir", true, false), true},
		{"file delete is no directory", []Write{v2Set("/f", "v")}, "/f/x", true, v2Delete("/f", false, false), false},
		{"hidden child, recursive", nil, "/", true, v2Set("/_h", "v"), false},
		{"below hidden, recursive", nil, "/a", true, v2Set("/a/_h/x", "v"), false},
		{"hidden key itself", nil, "/_h", false, v2Set("/_h", "v"), true},
		{"below the hidden key watched", nil, "/_h", true, v2Set("/_h/x", "v"), true},
		{"hidden above the watched key", nil, "/_h/a", true, v2Set("/_h/a/b", "v"), true},
		{"refresh", []Write{v2SetTTL("/k", "v", t0)}, "/k", false, v2Refresh(OpV2Update, "/k", t0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(10)
			applyAll(t, s, tt.setup...)
			w, err := s.WatchV2(tt.key, tt.recursive, false, 0)
			if err != nil {
				t.Fatal(err)
			}
			e, err := apply(s, tt.write)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := received(w)
			if fired := got != nil; fired != tt.fires || (fired && got != e) {
				t.Errorf("live watcher got %v, want fires=%v", got, tt.fires)
			}
			// A watch from the history finds the same.
			h, err := s.WatchV2(tt.key, tt.recursive, false, e.Index)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := received(h); (got != nil) != tt.fires || (got != nil && got != e) {
				t.Errorf("watch from history got %v, want fires=%v", got, tt.fires)
			}
			w.Remove()
			h.Remove()
		})
	}
}

// TestWatchV2History: the first matching event at or after waitIndex, 401
// with [oldest/requested] for one no longer held, and a wait for a future
// one (V2-API.md §11).
func TestWatchV2History(t *testing.T) {
	s := New(3)
	applyAll(t, s,
		v2Set("/a", "1"), // 1
		v2Set("/b", "1"), // 2
		v2Set("/a", "2"), // 3
		v2Set("/b", "2"), // 4
		v2Set("/c", "1"), // 5
	)
	w, err := s.WatchV2("/a", false, false, 3)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := received(w); e == nil || e.Index != 3 {
		t.Errorf("watch /a from 3 got %v", e)
	}
	_, err = s.WatchV2("/", true, false, 2)
	checkError(t, err, etcderr.EventIndexCleared, "the requested history has been cleared [3/2]")
	w, err = s.WatchV2("/a", false, false, 4)
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := received(w); e != nil {
		t.Fatalf("watch /a from 4 got %v at once", e)
	}
	applyAll(t, s, v2Set("/b", "3"), v2Set("/a", "3"))
	if e, _ := received(w); e == nil || e.Index != 7 {
		t.Errorf("watch /a from 4 got %v, want the set at 7", e)
	}
	future, _ := s.WatchV2("/a", false, false, 9)
	applyAll(t, s, v2Set("/a", "4"))
	if e, _ := received(future); e != nil {
		t.Errorf("watch from 9 got the event at 8: %v", e)
	}
}

// TestWatchV2Stream: a stream watcher receives every event, those from the
// history first and then the later ones (3.5 stops after the history's),
// and is dropped, its channel closed, when it falls more than 100 behind
// (V2-API.md §11).
func TestWatchV2Stream(t *testing.T) {
	s := New(1000)
	applyAll(t, s, v2Set("/s/a", "1"), v2Set("/other", "1"), v2Set("/s/b", "1"))
	w, err := s.WatchV2("/s", true, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, s, v2Set("/s/c", "1"), v2Refresh(OpV2Update, "/s/c", t0), v2Set("/other", "2"), v2Delete("/s", false, true))
	var got []uint64
	for e, _ := received(w); e != nil; e, _ = received(w) {
		got = append(got, e.Index)
	}
	if fmt.Sprint(got) != "[1 3 4 7]" {
		t.Errorf("stream got the events at %v, want [1 3 4 7]", got)
	}
	if s.V2Stats().Watchers != 1 {
		t.Errorf("stream watcher not registered after its events")
	}

	for i := range streamBuffer {
		applyAll(t, s, v2Set(fmt.Sprintf("/s/%d", i), "v"))
	}
	if n := len(w.EventChan()); n != streamBuffer {
		t.Fatalf("%d events buffered, want %d", n, streamBuffer)
	}
	applyAll(t, s, v2Set("/s/overflow", "v"))
	for range streamBuffer {
		if e, closed := received(w); e == nil || closed {
			t.Fatalf("buffered event lost: %v, closed %v", e, closed)
		}
	}
	if _, closed := received(w); !closed {
		t.Error("overflowed stream watcher's channel not closed")
	}
	if n := s.V2Stats().Watchers; n != 0 {
		t.Errorf("Watchers = %d after the overflow", n)
	}
	w.Remove()

	// More than a buffer in the history: dropped at once.
	w, err = s.WatchV2("/s", true, true, 1)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(w.EventChan()); n != streamBuffer {
		t.Errorf("%d events from the history, want %d", n, streamBuffer)
	}
	for range streamBuffer {
		<-w.EventChan()
	}
	if _, closed := received(w); !closed {
		t.Error("stream watcher a buffer behind in the history not closed")
	}
}

// TestRecoverClosesV2Watchers: Recover clears stream watchers as it does
// one-shot ones.
func TestRecoverClosesV2Watchers(t *testing.T) {
	s := New(10)
	w, _ := s.WatchV2("/", true, true, 0)
	state, _ := New(10).Save()
	if err := s.Recover(state); err != nil {
		t.Fatal(err)
	}
	if _, closed := received(w); !closed {
		t.Error("stream watcher not closed by Recover")
	}
	w.Remove()
}
