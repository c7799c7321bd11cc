package store

import (
	"os"
	"testing"
)

// fixtureStore is the store whose state testdata/snapshot-pre-v2.json
// holds: populated, then an entry of two writes.
func fixtureStore(t *testing.T) *Store {
	t.Helper()
	s := populated(t)
	if _, err := s.Apply(20, []Write{
		{Op: OpSet, Key: "/batch/one", Value: "1"},
		{Op: OpSet, Key: "/batch/two", Value: "2", Expiration: t0},
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRecoverPreV2Snapshot loads a snapshot written before the v2 API
// (nodes without indexes, history without v2 views): members keep such
// snapshots on disk across the upgrade.
func TestRecoverPreV2Snapshot(t *testing.T) {
	state, err := os.ReadFile("testdata/snapshot-pre-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	r := New(4)
	if err := r.Recover(state); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(t, r), dump(t, fixtureStore(t)); got != want {
		t.Errorf("recovered store differs\n got:\n%s\nwant:\n%s", got, want)
	}
}
