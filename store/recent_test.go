package store

import (
	"fmt"
	"testing"
	"time"
)

func TestRecent(t *testing.T) {
	s := New(5)
	if got := s.Recent(3); len(got) != 0 {
		t.Fatalf("a new store's recent events: %v", got)
	}
	for i := 1; i <= 8; i++ {
		if _, err := s.Set(fmt.Sprintf("/k%d", i), "v", time.Time{}, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		n    int
		want []uint64
	}{
		{3, []uint64{6, 7, 8}},
		{5, []uint64{4, 5, 6, 7, 8}},
		{50, []uint64{4, 5, 6, 7, 8}}, // the history holds 5
		{0, nil},
		{-1, nil},
	} {
		got := s.Recent(tt.n)
		var indexes []uint64
		for _, e := range got {
			indexes = append(indexes, e.Index)
		}
		if fmt.Sprint(indexes) != fmt.Sprint(tt.want) {
			t.Errorf("Recent(%d): indexes %v, want %v", tt.n, indexes, tt.want)
		}
	}
}

// A refresh, which wakes no watcher, is not among the recent events
// either: the page shows as recent what its stream would have sent.
func TestRecentLeavesOutRefreshes(t *testing.T) {
	s := New(10)
	t0 := time.Now().Add(time.Hour)
	for i, w := range []Write{
		{Op: OpV2Set, Key: "/k", Value: "v", Expiration: t0},
		v2Refresh(OpV2Update, "/k", t0.Add(time.Minute)),
		{Op: OpV2Set, Key: "/other", Value: "w"},
	} {
		if _, err := s.Apply(uint64(i+1), []Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	var indexes []uint64
	for _, e := range s.Recent(10) {
		indexes = append(indexes, e.Index)
	}
	if fmt.Sprint(indexes) != "[1 3]" {
		t.Errorf("Recent: indexes %v, want [1 3], the refresh at 2 left out", indexes)
	}
}

// WatchAll sees what Watch of / sees, and the refreshes too, which move a
// TTL on: a page that counts TTLs down needs them.
func TestWatchAllReceivesRefreshes(t *testing.T) {
	s := New(10)
	t0 := time.Now().Add(time.Hour)
	for i, w := range []Write{
		{Op: OpV2Set, Key: "/k", Value: "v", Expiration: t0},
		v2Refresh(OpV2Update, "/k", t0.Add(time.Minute)),
	} {
		if _, err := s.Apply(uint64(i+1), []Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.WatchAll(2)
	if err != nil {
		t.Fatal(err)
	}
	if e := <-w.EventChan(); e.Index != 2 || !e.IsRefresh() || !e.Expiration.Equal(t0.Add(time.Minute)) {
		t.Fatalf("WatchAll(2) got %+v, want the refresh at 2", e)
	}
	w, err = s.WatchAll(3)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Remove()
	if _, err := s.Apply(3, []Write{v2Refresh(OpV2Update, "/k", t0.Add(2*time.Minute))}); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-w.EventChan():
		if e.Index != 3 || !e.IsRefresh() {
			t.Fatalf("WatchAll(3) got %+v, want the refresh at 3", e)
		}
	default:
		t.Fatal("WatchAll(3) got nothing of the refresh at 3")
	}
}
