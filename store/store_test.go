package store

import (
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// pacific is a fixed zone with the offset of the original's examples, so
// that tests notice an expiration losing its offset.
var pacific = time.FixedZone("", -7*3600)

// t0 is an expiration as the original's README showed one.
var t0 = time.Date(2013, 7, 11, 20, 31, 12, 156146039, pacific)

const t0JSON = `"2013-07-11T20:31:12.156146039-07:00"`

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal(%#v): %v", v, err)
	}
	return string(b)
}

// checkError fails t unless err is an *etcderr.Error with the given code
// and cause.
func checkError(t *testing.T, err error, code int, cause string) {
	t.Helper()
	var e *etcderr.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v, want etcd error %d %q", err, code, cause)
	}
	if e.Code != code || e.Cause != cause {
		t.Fatalf("error = %d %q, want %d %q", e.Code, e.Cause, code, cause)
	}
}

// op is one write applied at the given index.
type op func(s *Store, index uint64) (*Event, error)

func set(key, value string) op {
	return setTTL(key, value, time.Time{})
}

func setTTL(key, value string, expiration time.Time) op {
	return func(s *Store, index uint64) (*Event, error) { return s.Set(key, value, expiration, index) }
}

func testAndSet(key, prevValue, value string) op {
	return func(s *Store, index uint64) (*Event, error) {
		return s.TestAndSet(key, prevValue, value, time.Time{}, index)
	}
}

func del(key string) op {
	return func(s *Store, index uint64) (*Event, error) { return s.Delete(key, index) }
}

func expire(key string, expiration time.Time) op {
	return func(s *Store, index uint64) (*Event, error) { return s.Expire(key, expiration, index) }
}

// writeTest applies setup at indexes 1, 2, ..., which must all succeed,
// then the op under test at the next index, checking its event's JSON
// ("null" for no event) or its error.
type writeTest struct {
	name      string
	setup     []op
	op        op
	want      string
	wantCode  int
	wantCause string
}

func runWriteTests(t *testing.T, tests []writeTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(10)
			for i, setup := range tt.setup {
				if _, err := setup(s, uint64(i+1)); err != nil {
					t.Fatalf("setup %d: %v", i, err)
				}
			}
			index := uint64(len(tt.setup) + 1)
			e, err := tt.op(s, index)
			if tt.wantCode != 0 {
				checkError(t, err, tt.wantCode, tt.wantCause)
				if e != nil {
					t.Errorf("event = %s, want nil with an error", marshal(t, e))
				}
			} else if err != nil {
				t.Fatalf("unexpected error: %v", err)
			} else if got := marshal(t, e); got != tt.want {
				t.Errorf("event\n got %s\nwant %s", got, tt.want)
			}
			if got := s.Index(); got != index {
				t.Errorf("Index() = %d, want %d", got, index)
			}
		})
	}
}

func TestSet(t *testing.T) {
	runWriteTests(t, []writeTest{
		{
			name: "new key",
			op:   set("message", "Hello world"),
			want: `{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":1}`,
		},
		{
			name:  "existing key",
			setup: []op{set("message", "Hello world")},
			op:    set("/message", "Hello etcd"),
			want:  `{"action":"SET","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":2}`,
		},
		{
			name: "with expiration",
			op:   setTTL("/foo", "bar", t0),
			want: `{"action":"SET","key":"/foo","value":"bar","newKey":true,"expiration":` + t0JSON + `,"index":1}`,
		},
		{
			name:  "expiration replaced",
			setup: []op{setTTL("/foo", "bar", t0)},
			op:    setTTL("/foo", "baz", t0.Add(time.Second)),
			want:  `{"action":"SET","key":"/foo","prevValue":"bar","value":"baz","expiration":"2013-07-11T20:31:13.156146039-07:00","index":2}`,
		},
		{
			name:  "made permanent again",
			setup: []op{setTTL("/foo", "bar", t0)},
			op:    set("/foo", "baz"),
			want:  `{"action":"SET","key":"/foo","prevValue":"bar","value":"baz","index":2}`,
		},
		{
			name: "trailing slash and dots normalised",
			op:   set("a/./b/../c/", "v"),
			want: `{"action":"SET","key":"/a/c","value":"v","newKey":true,"index":1}`,
		},
		{
			name: "parents created",
			op:   set("/a/b/c", "v"),
			want: `{"action":"SET","key":"/a/b/c","value":"v","newKey":true,"index":1}`,
		},
		{
			name: "html escaped",
			op:   set("/x", "<&>"),
			want: `{"action":"SET","key":"/x","value":"\u003c\u0026\u003e","newKey":true,"index":1}`,
		},
		{
			name:      "directory",
			setup:     []op{set("/a/b", "v")},
			op:        set("/a/", "v"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /a",
		},
		{
			name:      "root",
			op:        set("/", "v"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /",
		},
		{
			name:      "empty key is root",
			op:        set("", "v"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /",
		},
		{
			name:      "through a file",
			setup:     []op{set("/a", "v")},
			op:        set("/a/b/c", "v"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /a/b/c",
		},
	})
}

func TestSetThroughFileCreatesNothing(t *testing.T) {
	s := New(10)
	s.Set("/a/b", "v", time.Time{}, 1)
	if _, err := s.Set("/a/b/c/d", "v", time.Time{}, 2); err == nil {
		t.Fatal("Set below a file succeeded")
	}
	events, _, err := s.Get("/a")
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"action":"GET","key":"/a/b","value":"v","index":2}]`
	if got := marshal(t, events); got != want {
		t.Errorf("Get(/a) = %s, want %s", got, want)
	}
}

func TestTestAndSet(t *testing.T) {
	runWriteTests(t, []writeTest{
		{
			name:  "equal",
			setup: []op{set("/foo", "one")},
			op:    testAndSet("foo", "one", "two"),
			want:  `{"action":"SET","key":"/foo","prevValue":"one","value":"two","index":2}`,
		},
		{
			name:      "different",
			setup:     []op{set("/foo", "one")},
			op:        testAndSet("/foo", "two", "three"),
			wantCode:  etcderr.TestFailed,
			wantCause: "TestAndSet: one!=two",
		},
		{
			name:      "empty prevValue on existing key",
			setup:     []op{set("/foo", "one")},
			op:        testAndSet("/foo", "", "two"),
			wantCode:  etcderr.TestFailed,
			wantCause: "TestAndSet: one!=",
		},
		{
			name: "missing key, empty prevValue creates",
			op:   testAndSet("foo", "", "one"),
			want: `{"action":"SET","key":"/foo","value":"one","newKey":true,"index":1}`,
		},
		{
			name:      "missing key",
			op:        testAndSet("foo/", "one", "two"),
			wantCode:  etcderr.KeyNotFound,
			wantCause: "TestAndSet: key not found and previousValue is not empty /foo:one",
		},
		{
			name:      "directory",
			setup:     []op{set("/foo/bar", "one")},
			op:        testAndSet("/foo", "one", "two"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /foo",
		},
		{
			name:      "root",
			op:        testAndSet("/", "", "two"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /",
		},
		{
			name:      "below a file, empty prevValue",
			setup:     []op{set("/foo", "one")},
			op:        testAndSet("/foo/bar", "", "two"),
			wantCode:  etcderr.NotFile,
			wantCause: "set: /foo/bar",
		},
		{
			name:      "below a file",
			setup:     []op{set("/foo", "one")},
			op:        testAndSet("/foo/bar", "one", "two"),
			wantCode:  etcderr.KeyNotFound,
			wantCause: "TestAndSet: key not found and previousValue is not empty /foo/bar:one",
		},
		{
			name:  "with expiration",
			setup: []op{set("/foo", "one")},
			op: func(s *Store, index uint64) (*Event, error) {
				return s.TestAndSet("/foo", "one", "two", t0, index)
			},
			want: `{"action":"SET","key":"/foo","prevValue":"one","value":"two","expiration":` + t0JSON + `,"index":2}`,
		},
	})
}

func TestDelete(t *testing.T) {
	runWriteTests(t, []writeTest{
		{
			name:  "file",
			setup: []op{set("/message", "Hello etcd")},
			op:    del("message"),
			want:  `{"action":"DELETE","key":"/message","prevValue":"Hello etcd","index":2}`,
		},
		{
			name:  "file with expiration",
			setup: []op{setTTL("/foo", "bar", t0)},
			op:    del("/foo"),
			want:  `{"action":"DELETE","key":"/foo","prevValue":"bar","expiration":` + t0JSON + `,"index":2}`,
		},
		{
			name:      "missing",
			op:        del("/foo"),
			wantCode:  etcderr.KeyNotFound,
			wantCause: "delete: /foo",
		},
		{
			name:      "below a file",
			setup:     []op{set("/foo", "bar")},
			op:        del("/foo/bar"),
			wantCode:  etcderr.KeyNotFound,
			wantCause: "delete: /foo/bar",
		},
		{
			name:      "directory",
			setup:     []op{set("/foo/bar", "v")},
			op:        del("/foo"),
			wantCode:  etcderr.NotFile,
			wantCause: "delete: /foo",
		},
		{
			name:      "root",
			op:        del(""),
			wantCode:  etcderr.NotFile,
			wantCause: "delete: /",
		},
		{
			name:      "twice",
			setup:     []op{set("/foo", "bar"), del("/foo")},
			op:        del("/foo"),
			wantCode:  etcderr.KeyNotFound,
			wantCause: "delete: /foo",
		},
	})
}

func TestExpire(t *testing.T) {
	runWriteTests(t, []writeTest{
		{
			name:  "due",
			setup: []op{setTTL("/foo", "bar", t0)},
			op:    expire("foo", t0),
			want:  `{"action":"DELETE","key":"/foo","prevValue":"bar","expiration":` + t0JSON + `,"index":2}`,
		},
		{
			name:  "same instant in another zone",
			setup: []op{setTTL("/foo", "bar", t0)},
			op:    expire("/foo", t0.UTC()),
			want:  `{"action":"DELETE","key":"/foo","prevValue":"bar","expiration":` + t0JSON + `,"index":2}`,
		},
		{
			name:  "set again since",
			setup: []op{setTTL("/foo", "bar", t0), setTTL("/foo", "bar", t0.Add(time.Second))},
			op:    expire("/foo", t0),
			want:  "null",
		},
		{
			name:  "made permanent since",
			setup: []op{setTTL("/foo", "bar", t0), set("/foo", "bar")},
			op:    expire("/foo", t0),
			want:  "null",
		},
		{
			name:  "deleted since",
			setup: []op{setTTL("/foo", "bar", t0), del("/foo")},
			op:    expire("/foo", t0),
			want:  "null",
		},
		{
			name:  "directory",
			setup: []op{set("/foo/bar", "v")},
			op:    expire("/foo", t0),
			want:  "null",
		},
		{
			name: "root",
			op:   expire("/", t0),
			want: "null",
		},
	})
}

func TestDirectoriesStay(t *testing.T) {
	s := New(10)
	s.Set("/a/b/c", "v", t0, 1)
	s.Expire("/a/b/c", t0, 2)
	s.Set("/d/e", "v", time.Time{}, 3)
	s.Delete("/d/e", 4)
	for _, key := range []string{"/a/b", "/d"} {
		events, dir, err := s.Get(key)
		if err != nil || !dir || events == nil || len(events) != 0 {
			t.Errorf("Get(%s) = %v, %v, %v; want an empty, non-nil listing", key, events, dir, err)
		}
	}
	events, _, _ := s.Get("/")
	want := `[{"action":"GET","key":"/a","dir":true,"index":4},{"action":"GET","key":"/d","dir":true,"index":4}]`
	if got := marshal(t, events); got != want {
		t.Errorf("Get(/) = %s, want %s", got, want)
	}
}

func TestGet(t *testing.T) {
	s := New(10)
	s.Set("/foo/foo", "barbar", time.Time{}, 1)
	s.Set("/foo/foo_dir/x", "y", time.Time{}, 2)
	s.Set("/foo/bar", "b", t0, 3)
	s.Set("/foo/a", "a", time.Time{}, 4)
	s.Set("/message", "Hello world", time.Time{}, 5)
	s.Delete("/nothing", 7) // fails, but still moves the index

	tests := []struct {
		key       string
		want      string
		wantDir   bool
		wantCause string
	}{
		{key: "message", want: `[{"action":"GET","key":"/message","value":"Hello world","index":7}]`},
		{key: "/message/", want: `[{"action":"GET","key":"/message","value":"Hello world","index":7}]`},
		{key: "/foo/bar", want: `[{"action":"GET","key":"/foo/bar","value":"b","expiration":` + t0JSON + `,"index":7}]`},
		{
			key:     "/foo",
			wantDir: true,
			want: `[{"action":"GET","key":"/foo/a","value":"a","index":7},` +
				`{"action":"GET","key":"/foo/bar","value":"b","expiration":` + t0JSON + `,"index":7},` +
				`{"action":"GET","key":"/foo/foo","value":"barbar","index":7},` +
				`{"action":"GET","key":"/foo/foo_dir","dir":true,"index":7}]`,
		},
		{
			key:     "",
			wantDir: true,
			want:    `[{"action":"GET","key":"/foo","dir":true,"index":7},{"action":"GET","key":"/message","value":"Hello world","index":7}]`,
		},
		{key: "/nothing", wantCause: "get: /nothing"},
		{key: "/message/x", wantCause: "get: /message/x"},
		{key: "/foo/nothing/x", wantCause: "get: /foo/nothing/x"},
	}
	for _, tt := range tests {
		events, dir, err := s.Get(tt.key)
		if tt.wantCause != "" {
			checkError(t, err, etcderr.KeyNotFound, tt.wantCause)
			continue
		}
		if err != nil {
			t.Errorf("Get(%q): %v", tt.key, err)
			continue
		}
		if got := marshal(t, events); got != tt.want || dir != tt.wantDir {
			t.Errorf("Get(%q) =\n %s, %v\nwant\n %s, %v", tt.key, got, dir, tt.want, tt.wantDir)
		}
	}
}

func TestEventFieldOrder(t *testing.T) {
	e := &Event{
		Action:     ActionSet,
		Key:        "/k",
		Dir:        true,
		PrevValue:  "old",
		Value:      "new",
		NewKey:     true,
		Expiration: &t0,
		TTL:        4,
		Index:      9,
	}
	want := `{"action":"SET","key":"/k","dir":true,"prevValue":"old","value":"new","newKey":true,` +
		`"expiration":` + t0JSON + `,"ttl":4,"index":9}`
	if got := marshal(t, e); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got, want := marshal(t, &Event{}), `{"action":"","key":"","index":0}`; got != want {
		t.Errorf("zero event = %s, want %s", got, want)
	}
}

func TestWithTTL(t *testing.T) {
	tests := []struct {
		name       string
		action     string
		expiration *time.Time
		now        time.Time
		want       int64
	}{
		{"no expiration", ActionGet, nil, t0, 0},
		{"just under five seconds", ActionGet, &t0, t0.Add(-5*time.Second + time.Millisecond), 4},
		{"exactly five seconds", ActionSet, &t0, t0.Add(-5 * time.Second), 5},
		{"exactly one second", ActionGet, &t0, t0.Add(-time.Second), 1},
		{"under one second", ActionGet, &t0, t0.Add(-999 * time.Millisecond), 0},
		{"now", ActionGet, &t0, t0, 0},
		{"past", ActionGet, &t0, t0.Add(3 * time.Second), 0},
		{"now in another zone", ActionGet, &t0, t0.Add(-100 * time.Second).UTC(), 100},
		{"deletion", ActionDelete, &t0, t0.Add(-100 * time.Second), 0},
	}
	for _, tt := range tests {
		e := &Event{Action: tt.action, Key: "/k", Expiration: tt.expiration, TTL: 77, Index: 1}
		got := e.WithTTL(tt.now)
		if got.TTL != tt.want {
			t.Errorf("%s: TTL = %d, want %d", tt.name, got.TTL, tt.want)
		}
		if got == e || e.TTL != 77 {
			t.Errorf("%s: WithTTL changed its receiver", tt.name)
		}
		if got.Expiration != tt.expiration || got.Key != e.Key || got.Index != e.Index {
			t.Errorf("%s: WithTTL changed more than TTL: %+v", tt.name, got)
		}
	}
}

func TestWithTTLMonotonic(t *testing.T) {
	// The handler computes expirations from time.Now, which carries a
	// monotonic reading; the store must not let it change the answer.
	now := time.Now()
	s := New(0)
	e, err := s.Set("/k", "v", now.Add(5*time.Second), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.WithTTL(now).TTL; got != 5 {
		t.Errorf("TTL = %d, want 5", got)
	}
	if got := e.WithTTL(now.Add(time.Nanosecond)).TTL; got != 4 {
		t.Errorf("TTL = %d, want 4", got)
	}
}

func TestIndex(t *testing.T) {
	s := New(10)
	if got := s.Index(); got != 0 {
		t.Fatalf("new store Index() = %d", got)
	}
	s.Set("/a", "1", time.Time{}, 3)
	s.TestAndSet("/a", "wrong", "2", time.Time{}, 5) // fails
	if got := s.Index(); got != 5 {
		t.Fatalf("Index() = %d, want 5", got)
	}
	before := s.Stats()
	applied := []op{
		set("/a", "x"), set("/b", "x"), testAndSet("/a", "1", "x"), del("/a"), expire("/a", t0),
	}
	for _, index := range []uint64{5, 4, 0} {
		for i, write := range applied {
			e, err := write(s, index)
			if e != nil || err != ErrAlreadyApplied {
				t.Errorf("write %d at index %d = %v, %v; want ErrAlreadyApplied", i, index, e, err)
			}
		}
	}
	if got := s.Index(); got != 5 {
		t.Errorf("Index() = %d after refused writes, want 5", got)
	}
	if events, _, _ := s.Get("/a"); events[0].Value != "1" {
		t.Errorf("refused writes changed /a to %q", events[0].Value)
	}
	if _, _, err := s.Get("/b"); err == nil {
		t.Errorf("refused Set created /b")
	}
	after := s.Stats()
	after.Gets, after.GetsFail = before.Gets, before.GetsFail
	if after != before {
		t.Errorf("refused writes changed stats from %+v to %+v", before, after)
	}
	if _, err := s.Expire("/nothing", t0, 6); err != nil || s.Index() != 6 {
		t.Errorf("no-op Expire: err %v, Index() %d; want nil, 6", err, s.Index())
	}
}

func TestStats(t *testing.T) {
	s := New(10)
	s.Set("/a", "1", t0, 1)
	s.Set("/a/b", "1", time.Time{}, 2) // fails
	s.TestAndSet("/a", "1", "2", t0, 3)
	s.TestAndSet("/a", "1", "2", t0, 4) // fails
	s.Get("/a")
	s.Get("/x") // fails
	s.Get("/")
	s.Delete("/x", 5) // fails
	s.Expire("/a", t0, 6)
	s.Expire("/a", t0, 7) // no-op
	s.Set("/b", "1", time.Time{}, 8)
	s.Delete("/b", 9)
	w, _ := s.Watch("/", 0)
	s.Watch("/z", 0)
	s.Watch("/", 1) // answered from history, never registered

	want := Stats{
		Gets: 3, GetsFail: 1,
		Sets: 3, SetsFail: 1,
		Deletes: 2, DeletesFail: 1,
		TestAndSets: 2, TestAndSetsFail: 1,
		Expires:  1,
		Watchers: 2,
	}
	if got := s.Stats(); got != want {
		t.Errorf("Stats() = %+v\nwant %+v", got, want)
	}
	wantJSON := `{"gets":3,"getsFail":1,"sets":3,"setsFail":1,"deletes":2,"deletesFail":1,` +
		`"testAndSets":2,"testAndSetsFail":1,"expires":1,"watchers":2}`
	if got := marshal(t, s.Stats()); got != wantJSON {
		t.Errorf("Stats JSON = %s\nwant %s", got, wantJSON)
	}
	w.Remove()
	if got := s.Stats().Watchers; got != 1 {
		t.Errorf("Watchers = %d after Remove, want 1", got)
	}
}

// TestDeepKey guards against costs quadratic in a key's depth, which a
// single request with a long key could otherwise impose on every member.
func TestDeepKey(t *testing.T) {
	const depth = 20000
	key := strings.Repeat("/d", depth) + "/f"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s := New(4)
	if _, err := s.Set(key, "v", t0, 1); err != nil {
		t.Fatal(err)
	}
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	r := New(4)
	if err := r.Recover(state); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	// The two trees take under 1 KB per level; copying each directory's key
	// would take 20 KB per level on average.
	if used := after.TotalAlloc - before.TotalAlloc; used > 4000*depth {
		t.Errorf("a key %d deep took %d bytes", depth, used)
	}
	events, dir, err := r.Get(key[:len(key)-2])
	if err != nil || !dir || len(events) != 1 || events[0].Key != key {
		t.Errorf("Get of the deepest directory = %v, %v, %v", events, dir, err)
	}
	if _, err := r.Delete(key, 2); err != nil {
		t.Error(err)
	}
}
