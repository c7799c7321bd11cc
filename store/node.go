package store

import (
	"path"
	"strings"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// node is a file or a directory of the key tree.
type node struct {
	// key is the full normalised key. A node's name, by which its parent
	// finds it, is the part after the last slash.
	key   string
	value string
	// extra is nil for a permanent file whose createdIndex is its
	// modifiedIndex, as a set leaves it: by far the most common node,
	// which so takes 48 bytes, not 64.
	*extra
	// modifiedIndex is the index of the node's last change; a directory's
	// does not change when its children do. 0 for the root only.
	modifiedIndex uint64
}

// extra is what a node holds beyond such a file.
type extra struct {
	ttl ttlEntry
	// children is non-nil exactly for directories.
	children *childSet
	// createdApart is the createdIndex of a node modified since a write
	// made it, 0 while it equals modifiedIndex.
	createdApart uint64
}

// ttlEntry is a node's expiration and its place in the expiry heap.
type ttlEntry struct {
	// at is nil for a node without expiration. It is replaced, never
	// changed in place, so events can share it.
	at *time.Time
	// heapIndex is the node's position in the expiry heap, -1 once out of it.
	heapIndex int
}

func newDir(key string, index uint64) *node {
	return &node{key: key, extra: &extra{children: &childSet{}, ttl: ttlEntry{heapIndex: -1}}, modifiedIndex: index}
}

func newFile(key, value string, index uint64) *node {
	return &node{key: key, value: value, modifiedIndex: index}
}

// more returns the node's extra, made if it has none.
func (n *node) more() *extra {
	if n.extra == nil {
		n.extra = &extra{ttl: ttlEntry{heapIndex: -1}}
	}
	return n.extra
}

// trim drops the node's extra once it holds nothing.
func (n *node) trim() {
	if e := n.extra; e != nil && e.ttl.at == nil && e.children == nil && e.createdApart == 0 {
		n.extra = nil
	}
}

// createdIndex is the index of the write that made the node (a set makes
// it anew). 0 for the root only.
func (n *node) createdIndex() uint64 {
	if n.extra != nil && n.createdApart != 0 {
		return n.createdApart
	}
	return n.modifiedIndex
}

// setIndexes gives the node its createdIndex and modifiedIndex.
func (n *node) setIndexes(created, modified uint64) {
	n.modifiedIndex = modified
	switch {
	case created != modified:
		n.more().createdApart = created
	case n.extra != nil:
		n.createdApart = 0
		n.trim()
	}
}

// expiration is when the node expires, nil for a permanent one.
func (n *node) expiration() *time.Time {
	if n.extra == nil {
		return nil
	}
	return n.ttl.at
}

func (n *node) isDir() bool { return n.extra != nil && n.children != nil }

// name is the last segment of the node's key ("" for the root).
func (n *node) name() string { return n.key[strings.LastIndexByte(n.key, '/')+1:] }

// normalize returns key in canonical form: rooted, with no trailing slash,
// empty, "." or ".." segments. It is idempotent.
func normalize(key string) string {
	// A leading slash already present cleans to the same result as one more
	// prepended, and skipping the concatenation keeps clean keys allocation-free.
	if strings.HasPrefix(key, "/") {
		return path.Clean(key)
	}
	return path.Clean("/" + key)
}

// isAtOrBelow reports whether key is prefix or lies below it, segment-wise:
// "/foo" covers "/foo" and "/foo/x" but not "/foobar"; "/" covers every key.
func isAtOrBelow(key, prefix string) bool {
	if prefix == "/" || key == prefix {
		return true
	}
	return len(key) > len(prefix) && key[len(prefix)] == '/' && strings.HasPrefix(key, prefix)
}

// find returns the node at the normalised key and the directory holding it.
// n is nil when there is no such node, including when the path crosses a
// file; parent is then nil too. The root has no parent.
func find(root *node, key string) (parent, n *node) {
	n = root
	for rest := key[1:]; rest != ""; {
		if !n.isDir() {
			return nil, nil
		}
		name := rest
		if slash := strings.IndexByte(rest, '/'); slash >= 0 {
			name, rest = rest[:slash], rest[slash+1:]
		} else {
			rest = ""
		}
		parent, n = n, n.children.get(name)
		if n == nil {
			return nil, nil
		}
	}
	return parent, n
}

// makeParents returns the directory that is to hold the normalised,
// non-root key and the key's name in it, creating missing directories on the
// way with the given index. It fails, changing nothing, when a path
// component is a file, and returns that file as blocker: creation starts
// only past the deepest existing node, where no conflict can remain.
func makeParents(root *node, key string, index uint64) (dir *node, name string, blocker *node) {
	dir = root
	rest := key[1:]
	for {
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return dir, rest, nil
		}
		child := dir.children.get(rest[:slash])
		if child == nil {
			// The new directories share the memory of key rather than copying
			// their part of it: copies would take space quadratic in its depth.
			child = newDir(key[:len(key)-len(rest)+slash], index)
			dir.children.add(child)
		} else if !child.isDir() {
			return nil, "", child
		}
		dir = child
		rest = rest[slash+1:]
	}
}

// lookup finds the normalised key as the v2 API does: the node and the
// directory holding it (nil for the root), or error 100 (etcderr.KeyNotFound)
// naming the first missing component, or 104 (etcderr.NotDir) naming the file
// the path crosses.
func lookup(root *node, key string) (parent, n *node, err error) {
	n = root
	for end := 1; end < len(key); {
		if !n.isDir() {
			return nil, nil, etcderr.New(etcderr.NotDir, n.key)
		}
		start := end
		if slash := strings.IndexByte(key[start:], '/'); slash >= 0 {
			end = start + slash
		} else {
			end = len(key)
		}
		parent, n = n, n.children.get(key[start:end])
		if n == nil {
			return nil, nil, etcderr.New(etcderr.KeyNotFound, key[:end])
		}
		end++
	}
	return parent, n, nil
}

// isHidden reports whether a v2 listing leaves the node out: its name
// starts with an underscore.
func (n *node) isHidden() bool { return strings.HasPrefix(n.name(), "_") }

// view returns the node as the v2 API shows it, without its children.
func (n *node) view() NodeView {
	return NodeView{
		Key:           n.key,
		Value:         n.value,
		Dir:           n.isDir(),
		Expiration:    n.expiration(),
		ModifiedIndex: n.modifiedIndex,
		CreatedIndex:  n.createdIndex(),
	}
}
