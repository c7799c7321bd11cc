package store

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// snapshot is the JSON form of the store's state, written by SaveTo.
type snapshot struct {
	Index uint64 `json:"index"`
	// Position is the log position of the last write, when it differs from
	// Index (see Store.Apply); snapshots written before entries held several
	// writes have none, as both were the same.
	Position uint64 `json:"position,omitempty"`
	// "nodes", between Position and History, are the files and the empty
	// directories, streamed by SaveTo and RecoverFrom. Every other directory
	// is implied by the keys below it; listing it too would repeat each
	// ancestor's key once per level, quadratic in the depth of a key.
	History []*Event `json:"history"`
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

// Save returns the store's state as SaveTo writes it.
func (s *Store) Save() ([]byte, error) {
	var b bytes.Buffer
	err := s.SaveTo(&b)
	return b.Bytes(), err
}

// SaveTo writes the store's whole state to w as JSON: every file with its
// value and expiration (keeping its UTC offset), every directory, the event
// history and the index. The same state always gives the same bytes.
// Counters and watchers are not part of it. The JSON is streamed: a large
// store is never held whole in memory a second time.
func (s *Store) SaveTo(w io.Writer) error {
	// Collect under the lock, encode outside it: what is collected is
	// immutable (strings, expirations and events are never changed in place),
	// so writes can proceed while the JSON is written.
	s.mu.RLock()
	index, position, evicted := s.index, s.position, s.history.evictedIndex
	// Sized after the last save: a large store's list is large, and growing
	// it would leave copies of it behind for the collector.
	saved := int(s.savedNodes.Load())
	nodes := collectNodes(s.root, saved+saved/16)
	history := s.history.events()
	s.mu.RUnlock()
	s.savedNodes.Store(int64(len(nodes)))
	// In key order, so that the same store always saves the same bytes.
	slices.SortFunc(nodes, func(a, b savedNode) int { return strings.Compare(a.n.key, b.n.key) })
	bw := bufio.NewWriterSize(w, 256<<10)
	// The bytes json.Marshal would give for a snapshot, one node at a time.
	fmt.Fprintf(bw, `{"index":%d,`, index)
	if position != index {
		fmt.Fprintf(bw, `"position":%d,`, position)
	}
	bw.WriteString(`"nodes":[`)
	// One encoder, buffer and node for all: a snapshot of a large store
	// would otherwise leave garbage of several times its size.
	var (
		buf bytes.Buffer
		sn  snapshotNode
	)
	enc := json.NewEncoder(&buf)
	for i := range nodes {
		if i > 0 {
			bw.WriteByte(',')
		}
		sn = nodes[i].snapshotNode()
		buf.Reset()
		if err := enc.Encode(&sn); err != nil {
			return err
		}
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	}
	b, err := json.Marshal(history)
	if err != nil {
		return err
	}
	bw.WriteString(`],"history":`)
	bw.Write(b)
	fmt.Fprintf(bw, `,"evictedIndex":%d}`, evicted)
	return bw.Flush()
}

// savedNode is a node as SaveTo collects it under the lock: its value and
// expiration, which writes replace, copied; its key and kind never change.
type savedNode struct {
	n          *node
	value      string
	expiration *time.Time
}

func (sn *savedNode) snapshotNode() snapshotNode {
	return snapshotNode{Key: sn.n.key, Dir: sn.n.isDir(), Value: sn.value, Expiration: sn.expiration}
}

// collectNodes lists the files and empty directories below root, in no
// particular order: it runs under the store's lock, which every write
// waits for, so sorting is left to the caller. It keeps its own stack of
// directories, as keys can nest deeper than is comfortable for recursion.
func collectNodes(root *node, sizeHint int) []savedNode {
	nodes := make([]savedNode, 0, sizeHint)
	dirs := []*node{root}
	for len(dirs) > 0 {
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		if dir.children.len() == 0 && dir != root {
			nodes = append(nodes, savedNode{n: dir})
			continue
		}
		dir.children.each(func(child *node) {
			if child.isDir() {
				dirs = append(dirs, child)
			} else {
				nodes = append(nodes, savedNode{child, child.value, child.expiration()})
			}
		})
	}
	return nodes
}

// Recover replaces the store's whole state with one written by Save, as
// RecoverFrom does.
func (s *Store) Recover(state []byte) error { return s.RecoverFrom(bytes.NewReader(state)) }

// RecoverFrom replaces the store's whole state with one written by SaveTo,
// read as a stream: the tree is built node by node, never from a copy of
// the whole state. Pending watchers are cleared, their channels closed
// without an event: the state they watched was replaced wholesale, so they
// cannot tell what changed. Watchers registered later work as usual.
// Counters are kept. If r does not hold a valid snapshot, RecoverFrom
// returns an error and changes nothing.
func (s *Store) RecoverFrom(r io.Reader) error {
	var snap snapshot
	tree := newTreeBuilder()
	if err := decodeSnapshot(json.NewDecoder(bufio.NewReaderSize(r, 256<<10)), &snap, tree); err != nil {
		return fmt.Errorf("store: corrupt snapshot: %w", err)
	}
	if snap.Position > snap.Index {
		return fmt.Errorf("store: corrupt snapshot: position %d is past index %d", snap.Position, snap.Index)
	}
	heap.Init(&tree.expiries)

	s.mu.Lock()
	defer s.mu.Unlock()
	history, err := buildHistory(&snap, s.history.limit)
	if err != nil {
		return fmt.Errorf("store: corrupt snapshot: %w", err)
	}
	s.root = tree.root
	s.expiries = tree.expiries
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

// decodeSnapshot reads one snapshot object from dec, its nodes into tree
// and the rest into snap, and checks that nothing follows it.
func decodeSnapshot(dec *json.Decoder, snap *snapshot, tree *treeBuilder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case "index":
			err = dec.Decode(&snap.Index)
		case "position":
			err = dec.Decode(&snap.Position)
		case "evictedIndex":
			err = dec.Decode(&snap.EvictedIndex)
		case "history":
			err = dec.Decode(&snap.History)
		case "nodes":
			err = decodeNodes(dec, tree)
		default:
			var skipped json.RawMessage
			err = dec.Decode(&skipped)
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	// Read to the end: a stream may fail there (a checksum at the end of a
	// file).
	switch _, err := dec.Token(); err {
	case io.EOF:
		return nil
	case nil:
		return errors.New("data after the snapshot")
	default:
		return err
	}
}

// decodeNodes adds the nodes of a JSON array (or null) to tree, one by one.
func decodeNodes(dec *json.Decoder, tree *treeBuilder) error {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return err
	}
	if tok != json.Delim('[') {
		return fmt.Errorf("nodes: want an array, got %v", tok)
	}
	for dec.More() {
		var sn snapshotNode
		if err := dec.Decode(&sn); err != nil {
			return err
		}
		if err := tree.add(sn); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %v, got %v", want, tok)
	}
	return nil
}

// treeBuilder builds a key tree from the nodes of a snapshot.
type treeBuilder struct {
	root     *node
	expiries expiryHeap
}

func newTreeBuilder() *treeBuilder { return &treeBuilder{root: newDir("/")} }

// add puts one snapshot node in the tree; the expiry heap is left for the
// caller to order.
func (t *treeBuilder) add(sn snapshotNode) error {
	if sn.Key == "/" || normalize(sn.Key) != sn.Key {
		return fmt.Errorf("invalid key %q", sn.Key)
	}
	dir, name, ok := makeParents(t.root, sn.Key)
	if !ok {
		return fmt.Errorf("key %q is below a file", sn.Key)
	}
	existing := dir.children.get(name)
	switch {
	case sn.Dir && existing == nil:
		dir.children.add(newDir(sn.Key))
	case sn.Dir && existing.isDir():
		// Already made as the parent of an earlier key.
	case existing != nil:
		return fmt.Errorf("key %q appears twice", sn.Key)
	case sn.Expiration != nil && sn.Expiration.IsZero():
		return fmt.Errorf("key %q has a zero expiration", sn.Key)
	default:
		n := newFile(sn.Key, sn.Value)
		dir.children.add(n)
		if sn.Expiration != nil {
			n.ttl = &ttlEntry{at: sn.Expiration, heapIndex: len(t.expiries)}
			t.expiries = append(t.expiries, n)
		}
	}
	return nil
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
