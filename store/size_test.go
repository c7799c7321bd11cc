package store

import (
	"testing"
	"unsafe"
)

// TestSizes pins the sizes a million keys' memory rests on: a permanent
// file made by a set is one node of 48 bytes, its v2 indexes included, and
// what other nodes hold beside it 32; an event must not outgrow its 112
// bytes.
func TestSizes(t *testing.T) {
	if size := unsafe.Sizeof(node{}); size > 48 {
		t.Errorf("a node takes %d bytes, want at most 48", size)
	}
	if size := unsafe.Sizeof(extra{}); size > 32 {
		t.Errorf("a node's extra takes %d bytes, want at most 32", size)
	}
	if size := unsafe.Sizeof(Event{}); size > 112 {
		t.Errorf("an event takes %d bytes, want at most 112", size)
	}
}

// TestExtraComesAndGoes: a file holds an extra only while it has an
// expiration or a createdIndex of its own, and its indexes survive the
// extra coming and going.
func TestExtraComesAndGoes(t *testing.T) {
	s := New(10)
	steps := []struct {
		write     Write
		extra     bool
		indexes   [2]uint64 // created, modified
		hasExpiry bool
	}{
		{v2Set("/k", "v"), false, [2]uint64{1, 1}, false},
		{v2SetTTL("/k", "v", t0), true, [2]uint64{2, 2}, true},
		{v2Set("/k", "v"), false, [2]uint64{3, 3}, false},
		{v2Update("/k", "w"), true, [2]uint64{3, 4}, false},
		{v2SetTTL("/k", "x", t0), true, [2]uint64{5, 5}, true},
		{v2Update("/k", "y"), true, [2]uint64{5, 6}, false},
		{v2Set("/k", "z"), false, [2]uint64{7, 7}, false},
	}
	for i, step := range steps {
		applyAll(t, s, step.write)
		_, n := find(s.root, "/k")
		got := [2]uint64{n.createdIndex(), n.modifiedIndex}
		if (n.extra != nil) != step.extra || got != step.indexes || (n.expiration() != nil) != step.hasExpiry {
			t.Errorf("step %d: extra %v, indexes %v, expiration %v; want %v, %v, %v",
				i+1, n.extra != nil, got, n.expiration(), step.extra, step.indexes, step.hasExpiry)
		}
	}
	if _, ok := s.NextExpiration(); ok {
		t.Error("an expiration is left in the heap")
	}
}
