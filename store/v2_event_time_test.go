package store

import (
	"testing"
	"time"
)

// TestV2EventTime: an event keeps the time of its write (Write.At), in the
// history and through a snapshot, so that the v2 API can show the seconds
// left as they were then; an expiry's time is the expiration it ends; a
// write without a time (v1's) gives an event without one.
func TestV2EventTime(t *testing.T) {
	at := t0.Add(-100 * time.Second)
	s := New(10)
	setAt := v2SetTTL("/k", "v", t0)
	setAt.At = at
	applyAll(t, s,
		setAt, // 1
		Write{Op: OpSet, Key: "/v1", Value: "one"},     // 2
		Write{Op: OpExpire, Key: "/k", Expiration: t0}, // 3
	)
	check := func(s *Store, when string) {
		t.Helper()
		w, err := s.WatchV2("/", true, true, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Remove()
		for _, want := range []time.Time{at, {}, t0} {
			e, _ := received(w)
			if e == nil {
				t.Fatalf("%s: the history ends before the event at %v", when, want)
			}
			if !e.V2.At.Equal(want) {
				t.Errorf("%s: the event at %d (%s) has the time %v, want %v", when, e.Index, e.V2.Action, e.V2.At, want)
			}
		}
	}
	check(s, "applied")
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	r := New(10)
	if err := r.Recover(state); err != nil {
		t.Fatal(err)
	}
	check(r, "recovered from a snapshot")
}
