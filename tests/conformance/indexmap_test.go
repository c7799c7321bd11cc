package conformance

import (
	"fmt"
	"sort"
	"strconv"
)

// indexMap pairs the reference's indexes with the subject's. The two
// sides count differently (this node gives a failed write an index, etcd
// 3.5 does not; their start-up entries differ), so no offset relates
// them: the only rule is that an index names the same event on both sides
// and that the pairing keeps their order.
type indexMap struct {
	pairs []indexPair // ordered by ref, and so by sub
	toSub map[uint64]uint64
	toRef map[uint64]uint64
}

type indexPair struct{ ref, sub uint64 }

func newIndexMap() *indexMap {
	return &indexMap{toSub: map[uint64]uint64{}, toRef: map[uint64]uint64{}}
}

// bounds returns the pairs just below-or-at and just above ref.
func (m *indexMap) bounds(ref uint64) (below, above *indexPair) {
	i := sort.Search(len(m.pairs), func(i int) bool { return m.pairs[i].ref > ref })
	if i > 0 {
		below = &m.pairs[i-1]
	}
	if i < len(m.pairs) {
		above = &m.pairs[i]
	}
	return below, above
}

// same records that ref and sub name the same event, or says why they
// cannot.
func (m *indexMap) same(ref, sub uint64) error {
	if s, ok := m.toSub[ref]; ok {
		if s != sub {
			return fmt.Errorf("reference index %d was paired with %d, here %d", ref, s, sub)
		}
		return nil
	}
	if r, ok := m.toRef[sub]; ok {
		return fmt.Errorf("index %d was paired with reference %d, here with %d", sub, r, ref)
	}
	below, above := m.bounds(ref)
	if below != nil && below.sub >= sub {
		return fmt.Errorf("reference %d > %d but %d <= %d: order not kept", ref, below.ref, sub, below.sub)
	}
	if above != nil && above.sub <= sub {
		return fmt.Errorf("reference %d < %d but %d >= %d: order not kept", ref, above.ref, sub, above.sub)
	}
	i := sort.Search(len(m.pairs), func(i int) bool { return m.pairs[i].ref > ref })
	m.pairs = append(m.pairs, indexPair{})
	copy(m.pairs[i+1:], m.pairs[i:])
	m.pairs[i] = indexPair{ref, sub}
	m.toSub[ref], m.toRef[sub] = sub, ref
	return nil
}

// check is same without learning: for a pair that may name different
// events when the sides keep histories of different lengths (the start
// of a history).
func (m *indexMap) check(ref, sub uint64) error {
	if s, ok := m.toSub[ref]; ok && s != sub {
		return fmt.Errorf("reference index %d was paired with %d, here %d", ref, s, sub)
	}
	if r, ok := m.toRef[sub]; ok && r != ref {
		return fmt.Errorf("index %d was paired with reference %d, here with %d", sub, r, ref)
	}
	below, above := m.bounds(ref)
	if below != nil && below.ref != ref && below.sub >= sub || above != nil && above.sub <= sub {
		return fmt.Errorf("reference %d and %d are not in the same place among the paired indexes", ref, sub)
	}
	return nil
}

// current checks a "current index" pair (X-Etcd-Index, an error's index):
// the subject's may be past the last event (its failed writes count), but
// both must sit between the same two known events.
func (m *indexMap) current(ref, sub uint64) error {
	if (ref == 0) != (sub == 0) {
		return fmt.Errorf("one index is 0: reference %d, here %d", ref, sub)
	}
	below, above := m.bounds(ref)
	if below != nil && below.sub > sub {
		return fmt.Errorf("reference %d >= event %d but %d < its pair %d", ref, below.ref, sub, below.sub)
	}
	if above != nil && above.sub <= sub {
		return fmt.Errorf("reference %d < event %d but %d >= its pair %d", ref, above.ref, sub, above.sub)
	}
	return nil
}

// sub translates a reference index the test saw into the subject's.
func (m *indexMap) sub(ref uint64) (uint64, bool) {
	s, ok := m.toSub[ref]
	return s, ok
}

// isIndexName reports whether a key component is an in-order key's name:
// 20 digits (the test's own names never have digits).
func isIndexName(c string) bool {
	if len(c) != 20 {
		return false
	}
	_, err := strconv.ParseUint(c, 10, 64)
	return err == nil
}
