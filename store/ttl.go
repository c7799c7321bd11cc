package store

import (
	"container/heap"
	"time"
)

// Expiry is a node, file or directory, due to expire.
type Expiry struct {
	Key        string
	Expiration time.Time
}

// expiryHeap is a min-heap of the nodes that have an expiration, earliest
// first; ties are broken by key so every member orders them alike.
type expiryHeap []*node

func (h expiryHeap) Len() int { return len(h) }

func (h expiryHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if c := a.ttl.at.Compare(*b.ttl.at); c != 0 {
		return c < 0
	}
	return a.key < b.key
}

func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ttl.heapIndex = i
	h[j].ttl.heapIndex = j
}

func (h *expiryHeap) Push(x any) {
	n := x.(*node)
	n.ttl.heapIndex = len(*h)
	*h = append(*h, n)
}

func (h *expiryHeap) Pop() any {
	old := *h
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	n.ttl.heapIndex = -1
	return n
}

// setExpiration gives node n the expiration exp (nil for permanent) and
// keeps the heap in step.
func (h *expiryHeap) setExpiration(n *node, exp *time.Time) {
	had := n.expiration() != nil
	switch {
	case exp == nil && had:
		if n.ttl.heapIndex >= 0 {
			heap.Remove(h, n.ttl.heapIndex)
		}
		n.ttl.at = nil
		n.trim()
	case exp != nil && had && n.ttl.heapIndex >= 0:
		n.ttl.at = exp
		heap.Fix(h, n.ttl.heapIndex)
	case exp != nil:
		n.more().ttl = ttlEntry{at: exp, heapIndex: -1}
		heap.Push(h, n)
	}
}

// forget takes the removed node n out of the heap.
func (h *expiryHeap) forget(n *node) {
	if n.expiration() != nil && n.ttl.heapIndex >= 0 {
		heap.Remove(h, n.ttl.heapIndex)
	}
}

// due returns up to limit nodes expiring at or before now, earliest first,
// leaving the heap as it is. It walks the heap best-first: a frontier of
// positions whose parents were taken, so only O(k) positions are visited.
func (h expiryHeap) due(now time.Time, limit int) []Expiry {
	if len(h) == 0 || limit <= 0 {
		return nil
	}
	var found []Expiry
	frontier := &heapFrontier{heap: h, positions: []int{0}}
	for frontier.Len() > 0 && len(found) < limit {
		i := heap.Pop(frontier).(int)
		n := h[i]
		if n.ttl.at.After(now) {
			break
		}
		found = append(found, Expiry{Key: n.key, Expiration: *n.ttl.at})
		for _, child := range [2]int{2*i + 1, 2*i + 2} {
			if child < len(h) {
				heap.Push(frontier, child)
			}
		}
	}
	return found
}

// heapFrontier is a min-heap of positions in an expiryHeap, ordered as the
// nodes at those positions.
type heapFrontier struct {
	heap      expiryHeap
	positions []int
}

func (f *heapFrontier) Len() int { return len(f.positions) }

func (f *heapFrontier) Less(i, j int) bool {
	return f.heap.Less(f.positions[i], f.positions[j])
}

func (f *heapFrontier) Swap(i, j int) {
	f.positions[i], f.positions[j] = f.positions[j], f.positions[i]
}

func (f *heapFrontier) Push(x any) { f.positions = append(f.positions, x.(int)) }

func (f *heapFrontier) Pop() any {
	last := f.positions[len(f.positions)-1]
	f.positions = f.positions[:len(f.positions)-1]
	return last
}
