package main

import "testing"

func TestGCPercentFor(t *testing.T) {
	for _, tt := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{heapHeadroom, 100},
		{2 * heapHeadroom, 50},
		{4 * heapHeadroom, 25},
		{40 * heapHeadroom, minGCPercent},
	} {
		if got := gcPercentFor(tt.live); got != tt.want {
			t.Errorf("gcPercentFor(%d MB) = %d, want %d", tt.live>>20, got, tt.want)
		}
	}
}
