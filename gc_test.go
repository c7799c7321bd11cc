package main

import "testing"

// The limit leaves heapHeadroom above what is live, at any size.
func TestMemoryLimitFor(t *testing.T) {
	for _, live := range []uint64{0, 4 << 20, 260 << 20, 4 << 30} {
		if got, want := memoryLimitFor(live), int64(live)+heapHeadroom; got != want {
			t.Errorf("memoryLimitFor(%d MB) = %d, want %d", live>>20, got, want)
		}
	}
}
