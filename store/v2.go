package store

import (
	"slices"
	"strings"
	"time"
)

// The v2 API's actions, as its events name them on the wire.
const (
	V2Get              = "get"
	V2Set              = "set"
	V2Create           = "create"
	V2Update           = "update"
	V2CompareAndSwap   = "compareAndSwap"
	V2Delete           = "delete"
	V2CompareAndDelete = "compareAndDelete"
	V2Expire           = "expire"
)

// The v2 writes. They are store Writes like the v1 ones, so they share
// log entries (batches) and indexes with them.
const (
	OpV2Set              Op = iota + 16 // PUT without conditions
	OpV2Create                          // PUT prevExist=false
	OpV2Update                          // PUT prevExist=true
	OpV2CompareAndSwap                  // PUT prevValue and/or prevIndex
	OpV2CreateInOrder                   // POST: Key is the directory
	OpV2Delete                          // DELETE without conditions
	OpV2CompareAndDelete                // DELETE prevValue and/or prevIndex
)

// V2Write holds what a v2 write adds to Write. The zero value asks for
// nothing more.
type V2Write struct {
	// Dir makes a directory (set, create, in-order create); for a delete,
	// allows deleting an empty one. An update needs none to move a
	// directory's TTL, as in etcd 2.3.
	Dir       bool
	Recursive bool   // delete a directory and everything below it
	PrevIndex uint64 // compare: the node's modifiedIndex must equal it (0: not compared)
	Refresh   bool   // move the TTL on only: keep the value and wake no watcher
}

// NodeView is a copy of one node as the v2 API shows it: safe to keep and
// to encode after the store has moved on.
type NodeView struct {
	Key        string // "/" for the root
	Value      string
	Dir        bool
	Expiration *time.Time // nil for a node without TTL
	// Nodes are the children listed, hidden ones ("_name") left out; nil
	// where no listing was asked for or the directory lists nothing.
	Nodes         []*NodeView
	ModifiedIndex uint64
	CreatedIndex  uint64
}

// V2Event is what the v2 API shows of an event: Event.V2 of every event
// the store records or answers.
type V2Event struct {
	Action   string
	Node     *NodeView
	PrevNode *NodeView // nil when there was no node before
}

// GetV2 reads key as the v2 API does: the node, its children when a
// directory (one level, or all when recursive; sorted by key at every
// level when sorted), in an event of action V2Get whose Index is the
// store's index. Errors are etcderr errors with v2's causes (the key, or
// the first missing component).
func (s *Store) GetV2(key string, recursive, sorted bool) (*Event, error) {
	key = normalize(key)
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, n, err := lookup(s.root, key)
	s.v2Counters.gets.count(err)
	if err != nil {
		return nil, err
	}
	view := n.view()
	if n.isDir() {
		view.Nodes = listV2(n, recursive, sorted)
	}
	return &Event{
		Action:     ActionGet,
		Key:        n.key,
		Dir:        n.isDir(),
		Value:      n.value,
		Expiration: n.expiration(),
		Index:      s.index,
		V2:         &V2Event{Action: V2Get, Node: &view},
	}, nil
}

// listV2 returns the views of dir's children but the hidden ones (§5),
// with their own children when recursive; nil if it lists none.
func listV2(dir *node, recursive, sorted bool) []*NodeView {
	children := make([]*node, 0, dir.children.len())
	dir.children.each(func(child *node) {
		if !child.isHidden() {
			children = append(children, child)
		}
	})
	if len(children) == 0 {
		return nil
	}
	if sorted {
		slices.SortFunc(children, func(a, b *node) int { return strings.Compare(a.key, b.key) })
	}
	// One array holds all the views, saving an allocation per child.
	views := make([]NodeView, len(children))
	nodes := make([]*NodeView, len(children))
	for i, child := range children {
		views[i] = child.view()
		if recursive && child.isDir() {
			views[i].Nodes = listV2(child, recursive, sorted)
		}
		nodes[i] = &views[i]
	}
	return nodes
}

// WatchV2 watches key as the v2 API does (see V2-API.md §11): recursive
// covers the subtree except below hidden components; a directory's delete
// or expiry wakes the watchers of keys under it. A stream watcher stays
// registered and receives every matching event, including the ones after
// an event found in the history, until its buffer of 100 overflows (the
// channel is then closed) or Remove is called. The history and its error
// 401 are Watch's.
func (s *Store) WatchV2(key string, recursive, stream bool, sinceIndex uint64) (*Watcher, error) {
	size := 1
	if stream {
		size = streamBuffer
	}
	return s.watch(&Watcher{
		eventChan:  make(chan *Event, size),
		prefix:     normalize(key),
		sinceIndex: sinceIndex,
		store:      s,
		recursive:  recursive,
		v2:         true,
		stream:     stream,
	})
}
