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
