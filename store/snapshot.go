package store

import (
	"bufio"
	"bytes"
	"cmp"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// snapshot is the JSON form of the store's state, written by SaveTo.
type snapshot struct {
	Index uint64 `json:"index"`
	// Position is the log position of the last write, when it differs from
	// Index (see Store.Apply); snapshots written before entries held several
	// writes have none, as both were the same.
	Position uint64 `json:"position,omitempty"`
	// "nodes", between Position and History, are the files and the
	// directories not implied by the nodes below them (see impliedDir),
	// streamed by SaveTo and RecoverFrom. Listing every directory would
	// repeat each ancestor's key once per level, quadratic in the depth of
	// a key.
	History []savedEvent `json:"history"`
	// EvictedIndex is the index of the newest event no longer in History,
	// so that watches from before it keep failing after recovery.
	EvictedIndex uint64 `json:"evictedIndex"`
}

// snapshotNode is a node of a snapshot. Created is 0 in snapshots written
// before nodes had indexes (see legacyIndex); Modified is left out when it
// equals Created.
type snapshotNode struct {
	Key        string     `json:"key"`
	Dir        bool       `json:"dir,omitempty"`
	Value      string     `json:"value,omitempty"`
	Expiration *time.Time `json:"expiration,omitempty"`
	Created    uint64     `json:"created,omitempty"`
	Modified   uint64     `json:"modified,omitempty"`
}

// legacyIndex is the createdIndex and modifiedIndex given to the nodes of
// a snapshot written before nodes had indexes, and to the nodes its
// history's events knew nothing of. It is the same on every member, as
// members recover from snapshots taken at different points of the log, and
// not 0, which v2 clients take for no index at all.
const legacyIndex = 1

// savedEvent is an event of the history as a snapshot holds it: v1's
// fields, then what only the store and v2 see. Snapshots written before the
// v2 API have neither; see legacyV2.
type savedEvent struct {
	*Event
	Refresh bool          `json:"refresh,omitempty"`
	V2      *savedV2Event `json:"v2,omitempty"`
}

type savedV2Event struct {
	Action   string     `json:"action"`
	Node     *savedView `json:"node"`
	PrevNode *savedView `json:"prevNode,omitempty"`
}

// savedView is a NodeView of an event: one without children.
type savedView struct {
	Key        string     `json:"key"`
	Value      string     `json:"value,omitempty"`
	Dir        bool       `json:"dir,omitempty"`
	Expiration *time.Time `json:"expiration,omitempty"`
	Modified   uint64     `json:"modified"`
	Created    uint64     `json:"created"`
}

func saveEvent(e *Event) savedEvent {
	return savedEvent{
		Event:   e,
		Refresh: e.refresh,
		V2:      &savedV2Event{Action: e.V2.Action, Node: saveView(e.V2.Node), PrevNode: saveView(e.V2.PrevNode)},
	}
}

func saveView(v *NodeView) *savedView {
	if v == nil {
		return nil
	}
	return &savedView{Key: v.Key, Value: v.Value, Dir: v.Dir, Expiration: v.Expiration, Modified: v.ModifiedIndex, Created: v.CreatedIndex}
}

func (v *savedView) view() *NodeView {
	if v == nil {
		return nil
	}
	return &NodeView{Key: v.Key, Value: v.Value, Dir: v.Dir, Expiration: v.Expiration, ModifiedIndex: v.Modified, CreatedIndex: v.Created}
}

// event returns the event se holds.
func (se *savedEvent) event() (*Event, error) {
	e := se.Event
	e.refresh = se.Refresh
	if se.V2 == nil {
		return e, legacyV2(e)
	}
	if se.V2.Node == nil {
		return nil, fmt.Errorf("history event %d has no v2 node", e.Index)
	}
	e.V2 = &V2Event{Action: se.V2.Action, Node: se.V2.Node.view(), PrevNode: se.V2.PrevNode.view()}
	return e, nil
}

// legacyV2 gives e, an event of a snapshot written before the v2 API, the
// v2 view its v1 fields tell of: a set or a delete of a file. The indexes
// it cannot know are legacyIndex.
func legacyV2(e *Event) error {
	switch e.Action {
	case ActionSet:
		e.V2 = &V2Event{Action: V2Set, Node: &NodeView{
			Key: e.Key, Value: e.Value, Expiration: e.Expiration, ModifiedIndex: e.Index, CreatedIndex: e.Index,
		}}
		if !e.NewKey {
			e.V2.PrevNode = &NodeView{Key: e.Key, Value: e.PrevValue, ModifiedIndex: legacyIndex, CreatedIndex: legacyIndex}
		}
	case ActionDelete:
		e.V2 = &V2Event{
			Action:   V2Delete,
			Node:     &NodeView{Key: e.Key, ModifiedIndex: e.Index, CreatedIndex: legacyIndex},
			PrevNode: &NodeView{Key: e.Key, Value: e.PrevValue, Expiration: e.Expiration, ModifiedIndex: legacyIndex, CreatedIndex: legacyIndex},
		}
	default:
		return fmt.Errorf("history event %d has the action %q", e.Index, e.Action)
	}
	return nil
}

// Save returns the store's state as SaveTo writes it.
func (s *Store) Save() ([]byte, error) {
	var b bytes.Buffer
	err := s.SaveTo(&b)
	return b.Bytes(), err
}

// SaveTo writes the store's whole state to w as JSON: every file with its
// value, expiration (keeping its UTC offset) and indexes, every directory,
// the event history and the index. The same state always gives the same bytes.
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
	// In tree order, so that the same store always saves the same bytes and
	// a directory's first node below it comes first after it (see
	// impliedDir).
	slices.SortFunc(nodes, func(a, b savedNode) int { return compareTreeOrder(a.n.key, b.n.key) })
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
	events := make([]savedEvent, len(history))
	for i, e := range history {
		events[i] = saveEvent(e)
	}
	b, err := json.Marshal(events)
	if err != nil {
		return err
	}
	bw.WriteString(`],"history":`)
	bw.Write(b)
	fmt.Fprintf(bw, `,"evictedIndex":%d}`, evicted)
	return bw.Flush()
}

// savedNode is a node as SaveTo collects it under the lock: its value,
// expiration and indexes, which writes change, copied; its key and kind
// never change.
type savedNode struct {
	n                           *node
	value                       string
	expiration                  *time.Time
	createdIndex, modifiedIndex uint64
}

func saveNode(n *node) savedNode {
	return savedNode{n, n.value, n.expiration(), n.createdIndex(), n.modifiedIndex}
}

func (sn *savedNode) snapshotNode() snapshotNode {
	s := snapshotNode{Key: sn.n.key, Dir: sn.n.isDir(), Value: sn.value, Expiration: sn.expiration, Created: sn.createdIndex}
	if sn.modifiedIndex != sn.createdIndex {
		s.Modified = sn.modifiedIndex
	}
	return s
}

// collectNodes lists the files and the directories a snapshot cannot
// leave out below root, in no particular order: it runs under the store's
// lock, which every write waits for, so sorting is left to the caller. It
// keeps its own stack of directories, as keys can nest deeper than is
// comfortable for recursion.
func collectNodes(root *node, sizeHint int) []savedNode {
	nodes := make([]savedNode, 0, sizeHint)
	dirs := []*node{root}
	for len(dirs) > 0 {
		dir := dirs[len(dirs)-1]
		dirs = dirs[:len(dirs)-1]
		var first *node
		dir.children.each(func(child *node) {
			if first == nil || child.name() < first.name() {
				first = child
			}
			if child.isDir() {
				dirs = append(dirs, child)
			} else {
				nodes = append(nodes, saveNode(child))
			}
		})
		if dir != root && !impliedDir(dir, first) {
			nodes = append(nodes, saveNode(dir))
		}
	}
	return nodes
}

// impliedDir reports whether a snapshot may leave out dir, whose child of
// the least name is first (nil if it has none). RecoverFrom makes a
// missing directory as a parent of the first node below it in the
// snapshot, which is in first's subtree, with that node's createdIndex,
// and no expiration: first's own createdIndex, whether first is saved or
// itself implied.
func impliedDir(dir, first *node) bool {
	return first != nil && dir.expiration() == nil &&
		dir.createdIndex() == dir.modifiedIndex && first.createdIndex() == dir.modifiedIndex
}

// compareTreeOrder orders keys as a walk of the tree meets them, each
// directory before the nodes below it and siblings by name: byte-wise, but
// with '/' before every other byte.
func compareTreeOrder(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	switch {
	case i == n:
		return cmp.Compare(len(a), len(b))
	case a[i] == '/':
		return -1
	case b[i] == '/':
		return 1
	}
	return cmp.Compare(a[i], b[i])
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

func newTreeBuilder() *treeBuilder { return &treeBuilder{root: newDir("/", 0)} }

// add puts one snapshot node in the tree; the expiry heap is left for the
// caller to order. Missing directories above it take its createdIndex,
// as SaveTo expects (see impliedDir).
func (t *treeBuilder) add(sn snapshotNode) error {
	if sn.Key == "/" || normalize(sn.Key) != sn.Key {
		return fmt.Errorf("invalid key %q", sn.Key)
	}
	if sn.Expiration != nil && sn.Expiration.IsZero() {
		return fmt.Errorf("key %q has a zero expiration", sn.Key)
	}
	created, modified := sn.Created, sn.Modified
	if created == 0 {
		created = legacyIndex
	}
	if modified == 0 {
		modified = created
	}
	dir, name, blocker := makeParents(t.root, sn.Key, created)
	if blocker != nil {
		return fmt.Errorf("key %q is below a file", sn.Key)
	}
	n := dir.children.get(name)
	switch {
	case sn.Dir && n == nil:
		n = newDir(sn.Key, created)
		dir.children.add(n)
	case sn.Dir && n.isDir():
		// Already made as the parent of an earlier key: what the snapshot
		// says of it holds.
	case n != nil:
		return fmt.Errorf("key %q appears twice", sn.Key)
	default:
		n = newFile(sn.Key, sn.Value, created)
		dir.children.add(n)
	}
	n.setIndexes(created, modified)
	if sn.Expiration != nil && n.expiration() == nil {
		n.more().ttl = ttlEntry{at: sn.Expiration, heapIndex: len(t.expiries)}
		t.expiries = append(t.expiries, n)
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
	for i := range snap.History {
		if snap.History[i].Event == nil {
			return eventHistory{}, fmt.Errorf("null event in history")
		}
		e, err := snap.History[i].event()
		switch {
		case err != nil:
			return eventHistory{}, err
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
