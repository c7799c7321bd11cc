package store

import (
	"testing"
	"unsafe"
)

// TestSizes pins the sizes a million keys' memory rests on: a permanent
// file is one node (a 64-byte size class since nodes carry their v2
// indexes), and an event must not outgrow its 112 bytes.
func TestSizes(t *testing.T) {
	if size := unsafe.Sizeof(node{}); size > 64 {
		t.Errorf("a node takes %d bytes, want at most 64", size)
	}
	if size := unsafe.Sizeof(Event{}); size > 112 {
		t.Errorf("an event takes %d bytes, want at most 112", size)
	}
}
