package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// populated returns a store with files, TTLs in several zones, empty and
// nested directories, an evicted history and failed writes.
func populated(t *testing.T) *Store {
	t.Helper()
	s := New(4)
	writes := []op{
		set("/_etcd/machines/node0", "raft=http://127.0.0.1:7001&etcd=http://127.0.0.1:4001"),
		set("/message", "Hello world"),
		setTTL("/foo/bar", "b", t0),
		setTTL("/foo/baz", "z", t0.Add(time.Second).UTC()),
		setTTL("/foo/east", "e", t0.Add(2*time.Second).In(time.FixedZone("", 9*3600))),
		set("/empty/x", "gone"),
		del("/empty/x"),
		set("/a/b/c/d", "deep"),
		set("/message/x", "fails"),
		testAndSet("/message", "Hello world", "Hello etcd"),
		setTTL("/gone", "g", t0),
		expire("/gone", t0),
	}
	for i, write := range writes {
		write(s, uint64(i+3))
	}
	return s
}

// dump describes everything a store's clients can observe, to compare two
// stores.
func dump(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "index %d\n", s.Index())
	var walk func(key string)
	walk = func(key string) {
		events, dir, err := s.Get(key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		fmt.Fprintf(&b, "%s %v %s\n", key, dir, marshal(t, events))
		if dir {
			for _, e := range events {
				if e.Dir {
					walk(e.Key)
				}
			}
		}
	}
	walk("/")
	for since := uint64(1); since <= s.Index(); since++ {
		w, err := s.Watch("/", since)
		if err != nil {
			fmt.Fprintf(&b, "watch %d: %v\n", since, err)
			continue
		}
		if e, _ := received(w); e != nil {
			fmt.Fprintf(&b, "watch %d: %s\n", since, marshal(t, e))
		}
		w.Remove()
	}
	next, ok := s.NextExpiration()
	fmt.Fprintf(&b, "next expiration %v %v\n", next, ok)
	fmt.Fprintf(&b, "expired %v\n", s.Expired(t0.Add(time.Hour), 100))
	return b.String()
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := populated(t)
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	r := New(4)
	if err := r.Recover(state); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, r), dump(t, s); got != want {
		t.Errorf("recovered store differs\n got:\n%s\nwant:\n%s", got, want)
	}
	again, err := r.Save()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, state) {
		t.Errorf("Save after Recover differs\n got %s\nwant %s", again, state)
	}

	events, _, _ := r.Get("/foo")
	wantOffsets := []int{-7 * 3600, 0, 9 * 3600}
	for i, e := range events {
		if _, offset := e.Expiration.Zone(); offset != wantOffsets[i] {
			t.Errorf("%s: expiration %v has offset %d, want %d", e.Key, e.Expiration, offset, wantOffsets[i])
		}
	}
	// The recovered expiry index drives expiries as the original's would.
	if _, err := r.Expire("/foo/bar", t0, r.Index()+1); err != nil {
		t.Fatal(err)
	}
	if next, _ := r.NextExpiration(); !next.Equal(t0.Add(time.Second)) {
		t.Errorf("NextExpiration() = %v after expiring /foo/bar", next)
	}
}

func TestSnapshotFormat(t *testing.T) {
	s := New(1)
	s.Set("/b", "1", time.Time{}, 1)
	s.Set("/a/x", "2", t0, 2)
	s.Set("/c/d", "3", time.Time{}, 3)
	s.Delete("/c/d", 4)
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	// /a is implied by /a/x, made with it; /c, empty, is not.
	want := `{"index":4,"nodes":[` +
		`{"key":"/a/x","value":"2","expiration":` + t0JSON + `,"created":2},` +
		`{"key":"/b","value":"1","created":1},` +
		`{"key":"/c","dir":true,"created":3}],` +
		`"history":[{"action":"DELETE","key":"/c/d","prevValue":"3","index":4,` +
		`"v2":{"action":"delete","node":{"key":"/c/d","modified":4,"created":3},` +
		`"prevNode":{"key":"/c/d","value":"3","modified":3,"created":3}}}],` +
		`"evictedIndex":3}`
	if string(state) != want {
		t.Errorf("Save() =\n%s\nwant\n%s", state, want)
	}
	empty, err := New(1).Save()
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"index":0,"nodes":[],"history":[],"evictedIndex":0}`; string(empty) != want {
		t.Errorf("empty Save() = %s, want %s", empty, want)
	}
}

func TestSnapshotKeepsEvictions(t *testing.T) {
	s := populated(t)
	state, _ := s.Save()
	r := New(4)
	r.Recover(state)
	_, err := r.Watch("/", 9)
	checkError(t, err, etcderr.EventIndexCleared, "the requested history has been cleared [10/9]")

	// A store keeping less history than the snapshot holds drops the oldest.
	small := New(1)
	if err := small.Recover(state); err != nil {
		t.Fatal(err)
	}
	_, err = small.Watch("/", 13)
	checkError(t, err, etcderr.EventIndexCleared, "the requested history has been cleared [14/13]")
	if w := mustWatch(t, small, "/", 14); w == nil {
		t.Fatal("no watcher")
	} else if e, _ := received(w); e == nil || e.Index != 14 {
		t.Errorf("watch from 14 got %v", e)
	}
}

func TestRecoverThenReplay(t *testing.T) {
	s := populated(t)
	state, _ := s.Save()
	r := New(4)
	r.Recover(state)
	if _, err := r.Set("/message", "old", time.Time{}, s.Index()); err != ErrAlreadyApplied {
		t.Errorf("replaying the snapshot's last write: %v, want ErrAlreadyApplied", err)
	}
	if _, err := r.Set("/message", "new", time.Time{}, s.Index()+1); err != nil {
		t.Errorf("next write after Recover: %v", err)
	}
}

func TestRecoverKeepsStats(t *testing.T) {
	s := New(4)
	s.Set("/a", "1", time.Time{}, 1)
	s.Get("/a")
	before := s.Stats()
	state, _ := populated(t).Save()
	if err := s.Recover(state); err != nil {
		t.Fatal(err)
	}
	if after := s.Stats(); after != before {
		t.Errorf("Stats() = %+v after Recover, want %+v", after, before)
	}
}

func TestRecoverCorrupt(t *testing.T) {
	tests := []struct{ name, state string }{
		{"not json", `{"index":`},
		{"wrong type", `{"index":"7"}`},
		{"root key", `{"nodes":[{"key":"/"}]}`},
		{"unclean key", `{"nodes":[{"key":"/a/../b","value":"v"}]}`},
		{"relative key", `{"nodes":[{"key":"a","value":"v"}]}`},
		{"empty key", `{"nodes":[{"key":""}]}`},
		{"duplicate file", `{"nodes":[{"key":"/a","value":"v"},{"key":"/a","value":"w"}]}`},
		{"file over dir", `{"nodes":[{"key":"/a/b","value":"v"},{"key":"/a","value":"w"}]}`},
		{"dir over file", `{"nodes":[{"key":"/a","value":"w"},{"key":"/a","dir":true}]}`},
		{"below a file", `{"nodes":[{"key":"/a","value":"w"},{"key":"/a/b","value":"v"}]}`},
		{"zero expiration", `{"nodes":[{"key":"/a","value":"w","expiration":"0001-01-01T00:00:00Z"}]}`},
		{"bad expiration", `{"nodes":[{"key":"/a","value":"w","expiration":"tomorrow"}]}`},
		{"null event", `{"index":5,"history":[null]}`},
		{"event after index", `{"index":5,"history":[{"action":"SET","key":"/a","index":6}]}`},
		{"events out of order", `{"index":5,"history":[{"action":"SET","key":"/a","index":3},{"action":"SET","key":"/a","index":3}]}`},
		{"event before eviction", `{"index":5,"evictedIndex":3,"history":[{"action":"SET","key":"/a","index":3}]}`},
		{"eviction after index", `{"index":5,"evictedIndex":6}`},
		{"event key", `{"index":5,"history":[{"action":"SET","key":"a","index":3}]}`},
		{"nodes not a list", `{"nodes":{"key":"/a","value":"v"}}`},
		{"data after it", `{"index":5} {}`},
	}
	s := populated(t)
	want := dump(t, s)
	for _, tt := range tests {
		if err := s.Recover([]byte(tt.state)); err == nil {
			t.Errorf("%s: Recover(%s) succeeded", tt.name, tt.state)
		}
	}
	if got := dump(t, s); got != want {
		t.Errorf("failed Recover changed the state\n got:\n%s\nwant:\n%s", got, want)
	}
}

// A stream that breaks, even after the last byte of a whole snapshot (a
// state file whose checksum fails at its end), recovers nothing.
func TestRecoverFromBrokenStream(t *testing.T) {
	state, err := New(4).Save()
	if err != nil {
		t.Fatal(err)
	}
	s := populated(t)
	want := dump(t, s)
	broken := errors.New("checksum mismatch")
	if err := s.RecoverFrom(io.MultiReader(bytes.NewReader(state), iotest.ErrReader(broken))); !errors.Is(err, broken) {
		t.Errorf("RecoverFrom a broken stream: %v, want %v", err, broken)
	}
	if got := dump(t, s); got != want {
		t.Errorf("failed RecoverFrom changed the state\n got:\n%s\nwant:\n%s", got, want)
	}
}

func TestSaveToFailingWriter(t *testing.T) {
	if err := populated(t).SaveTo(failingWriter{}); err == nil {
		t.Error("SaveTo a failing writer succeeded")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestRecoverLenient(t *testing.T) {
	// Directories listed before or besides the files below them are fine.
	s := New(10)
	state := `{"index":9,"nodes":[{"key":"/a","dir":true},{"key":"/a/b","value":"v"},{"key":"/a","dir":true}]}`
	if err := s.Recover([]byte(state)); err != nil {
		t.Fatal(err)
	}
	events, _, err := s.Get("/a")
	if want := `[{"action":"GET","key":"/a/b","value":"v","index":9}]`; err != nil || marshal(t, events) != want {
		t.Errorf("Get(/a) = %s, %v; want %s", marshal(t, events), err, want)
	}
}
