package store

import (
	"bytes"
	"testing"
	"time"
)

// v2Populated returns a store holding what only v2 writes make: empty
// directories, directory TTLs, directories whose indexes their first child
// does not imply, nodes modified after their creation, in-order and hidden
// keys, and a refresh in the history.
func v2Populated(t *testing.T) *Store {
	t.Helper()
	s := New(30)
	applyAll(t, s,
		v2MkdirTTL("/dir", t0), // 1
		v2Set("/dir/x/y", "v"), // 2
		v2Mkdir("/empty"),      // 3
		Write{Op: OpV2Update, Key: "/dir", Expiration: t0.Add(time.Minute)}, // 4
		v2Set("/a/b", "1"),                            // 5
		v2Set("/a/a", "2"),                            // 6: /a's first child is younger than /a
		v2SetTTL("/k", "v", t0),                       // 7
		v2Refresh(OpV2Set, "/k", t0.Add(time.Second)), // 8
		v2Update("/k", "w"),                           // 9
		v2Post("/q", "job"),                           // 10
		v2Set("/_hidden/x", "h"),                      // 11
		v2Set("/gone/f", "f"),                         // 12
		v2Delete("/gone", false, true),                // 13
		Write{Op: OpSet, Key: "/v1", Value: "one"},    // 14
		Write{Op: OpTestAndSet, Key: "/v1", PrevValue: "one", Value: "two"}, // 15
		v2Mkdir("/f"),                 // 16
		v2Set("/f/deep/er/file", "x"), // 17
	)
	return s
}

// TestSnapshotV2RoundTrip: a snapshot keeps every index, directory TTL,
// empty directory and the history's v2 views and refreshes, and saves the
// same bytes again after recovery.
func TestSnapshotV2RoundTrip(t *testing.T) {
	s := v2Populated(t)
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	r := New(30)
	if err := r.Recover(state); err != nil {
		t.Fatal(err)
	}
	if got, want := v2Dump(t, r), v2Dump(t, s); got != want {
		t.Errorf("recovered store differs for v2\n got:\n%s\nwant:\n%s", got, want)
	}
	if got, want := dump(t, r), dump(t, s); got != want {
		t.Errorf("recovered store differs for v1\n got:\n%s\nwant:\n%s", got, want)
	}
	again, err := r.Save()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, state) {
		t.Errorf("Save after Recover differs\n got %s\nwant %s", again, state)
	}
	// The recovered directory TTL drives expiries as the original's would.
	if due := r.Expired(t0.Add(time.Hour), 10); len(due) != 1 || due[0].Key != "/dir" {
		t.Errorf("Expired after Recover = %v", due)
	}
}

// TestSnapshotLeavesImpliedDirectoriesOut: a directory made with the first
// key below it is not written; the others are, in tree order.
func TestSnapshotLeavesImpliedDirectoriesOut(t *testing.T) {
	s := New(1)
	applyAll(t, s,
		v2Set("/a/b/c", "1"), // 1: /a and /a/b implied
		v2Set("/a/a", "2"),   // 2: now /a's first child, younger: /a written
		v2Set("/a b", "3"),   // 3: sorts after /a/... in tree order
	)
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"index":3,"nodes":[` +
		`{"key":"/a","dir":true,"created":1},` +
		`{"key":"/a/a","value":"2","created":2},` +
		`{"key":"/a/b/c","value":"1","created":1},` +
		`{"key":"/a b","value":"3","created":3}],`
	if !bytes.HasPrefix(state, []byte(want)) {
		t.Errorf("Save() =\n%s\nwant it to start with\n%s", state, want)
	}
}
