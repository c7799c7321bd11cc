package store

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// snapshot is the JSON form of the store's state, written by Save.
type snapshot struct {
	Index uint64 `json:"index"`
	// Position is the log position of the last write, when it differs from
	// Index (see Store.Apply); snapshots written before entries held several
	// writes have none, as both were the same.
	Position uint64 `json:"position,omitempty"`
	// Nodes are the files and the empty directories. Every other directory
	// is implied by the keys below it; listing it too would repeat each
	// ancestor's key once per level, quadratic in the depth of a key.
	Nodes   []snapshotNode `json:"nodes"`
	History []*Event       `json:"history"`
	// EvictedIndex is the index of the newest event no longer in History,
	// so that watches from before it keep failing after recovery.
	EvictedIndex uint64 `json:"evictedIndex"`
}

type snapshotNode struct {
	Key        string     `json:"key"`
	Dir        bool       `json:"dir,omitempty"`
	Value      string     `json:"value,omitempty"`
	Expiration *time.Time `json:"expiration,omitempty"`
}

// Save returns the store's whole state as JSON: every file with its value
// and expiration (keeping its UTC offset), every directory, the event
// history and the index. The same state always gives the same bytes.
// Counters and watchers are not part of it.
func (s *Store) Save() ([]byte, error) {
	// Collect under the lock, encode outside it: what is collected is
	// immutable (strings, expirations and events are never changed in place),
	// so writes can proceed while the JSON is built.
	s.mu.RLock()
	state := snapshot{
		Index:        s.index,
		Position:     s.position,
		Nodes:        snapshotNodes(s.root),
		History:      s.history.events(),
		EvictedIndex: s.history.evictedIndex,
	}
	s.mu.RUnlock()
	if state.Position == state.Index {
		state.Position = 0
	}
	// In key order, so that the same store always saves the same bytes.
	slices.SortFunc(state.Nodes, func(a, b snapshotNode) int { return strings.Compare(a.Key, b.Key) })
	return json.Marshal(&state)
}

// snapshotNodes lists the files and empty directories below root, in no
// particular order: it runs under the store's lock, which every write
// waits for, so sorting is left to the caller. It keeps its own stack, as
// keys can nest deeper than is comfortable for recursion.
func snapshotNodes(root *node) []snapshotNode {
	nodes := []snapshotNode{}
	stack := []*node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case !n.isDir():
			nodes = append(nodes, snapshotNode{Key: n.key, Value: n.value, Expiration: n.expiration})
		case len(n.children) == 0 && n != root:
			nodes = append(nodes, snapshotNode{Key: n.key, Dir: true})
		default:
			for _, child := range n.children {
				stack = append(stack, child)
			}
		}
	}
	return nodes
}

// Recover replaces the store's whole state with one written by Save.
// Pending watchers are cleared, their channels closed without an event: the
// state they watched was replaced wholesale, so they cannot tell what
// changed. Watchers registered later work as usual. Counters are kept. If
// state is not a valid snapshot, Recover returns an error and changes
// nothing.
func (s *Store) Recover(state []byte) error {
	var snap snapshot
	if err := json.Unmarshal(state, &snap); err != nil {
		return fmt.Errorf("store: corrupt snapshot: %w", err)
	}
	if snap.Position > snap.Index {
		return fmt.Errorf("store: corrupt snapshot: position %d is past index %d", snap.Position, snap.Index)
	}
	root, expiries, err := buildTree(snap.Nodes)
	if err != nil {
		return fmt.Errorf("store: corrupt snapshot: %w", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	history, err := buildHistory(&snap, s.history.limit)
	if err != nil {
		return fmt.Errorf("store: corrupt snapshot: %w", err)
	}
	s.root = root
	s.expiries = expiries
	s.wakeExpiry()
	s.history = history
	s.index = snap.Index
	s.position = snap.Position
	if snap.Position == 0 {
		s.position = snap.Index
	}
	s.watchers.clear()
	return nil
}

func buildTree(nodes []snapshotNode) (*node, expiryHeap, error) {
	root := newDir("/")
	var expiries expiryHeap
	for _, sn := range nodes {
		if sn.Key == "/" || normalize(sn.Key) != sn.Key {
			return nil, nil, fmt.Errorf("invalid key %q", sn.Key)
		}
		dir, name, ok := makeParents(root, sn.Key)
		if !ok {
			return nil, nil, fmt.Errorf("key %q is below a file", sn.Key)
		}
		existing := dir.children[name]
		switch {
		case sn.Dir && existing == nil:
			dir.children[name] = newDir(sn.Key)
		case sn.Dir && existing.isDir():
			// Already made as the parent of an earlier key.
		case existing != nil:
			return nil, nil, fmt.Errorf("key %q appears twice", sn.Key)
		case sn.Expiration != nil && sn.Expiration.IsZero():
			return nil, nil, fmt.Errorf("key %q has a zero expiration", sn.Key)
		default:
			n := newFile(sn.Key, sn.Value)
			n.expiration = sn.Expiration
			dir.children[name] = n
			if n.expiration != nil {
				n.heapIndex = len(expiries)
				expiries = append(expiries, n)
			}
		}
	}
	heap.Init(&expiries)
	return root, expiries, nil
}

// buildHistory rebuilds the history of snap into one holding at most limit
// events, dropping the oldest if snap holds more.
func buildHistory(snap *snapshot, limit int) (eventHistory, error) {
	if snap.EvictedIndex > snap.Index {
		return eventHistory{}, fmt.Errorf("evicted index %d is past index %d", snap.EvictedIndex, snap.Index)
	}
	h := newEventHistory(limit)
	h.evictedIndex = snap.EvictedIndex
	previous := snap.EvictedIndex
	for _, e := range snap.History {
		switch {
		case e == nil:
			return eventHistory{}, fmt.Errorf("null event in history")
		case e.Index <= previous || e.Index > snap.Index:
			return eventHistory{}, fmt.Errorf("history event index %d out of order", e.Index)
		case normalize(e.Key) != e.Key:
			return eventHistory{}, fmt.Errorf("invalid key %q in history", e.Key)
		}
		h.add(e)
		previous = e.Index
	}
	return h, nil
}
