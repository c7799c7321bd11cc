package store

import (
	"path"
	"strings"
	"time"
)

// node is a file or a directory of the key tree.
type node struct {
	// key is the full normalised key. A node's name, by which its parent
	// finds it, is the part after the last slash.
	key   string
	value string
	// ttl is nil for a permanent file. Apart, so that a permanent one, by
	// far the most common, takes 48 bytes, not 64.
	ttl *ttlEntry
	// children is non-nil exactly for directories.
	children *childSet
}

// ttlEntry is a file's expiration and its place in the expiry heap.
type ttlEntry struct {
	// at is replaced, never changed in place, so events can share it.
	at *time.Time
	// heapIndex is the file's position in the expiry heap, -1 once out of it.
	heapIndex int
}

func newDir(key string) *node {
	return &node{key: key, children: &childSet{}}
}

func newFile(key, value string) *node {
	return &node{key: key, value: value}
}

// expiration is when the file expires, nil for a permanent one.
func (n *node) expiration() *time.Time {
	if n.ttl == nil {
		return nil
	}
	return n.ttl.at
}

func (n *node) isDir() bool { return n.children != nil }

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
// way. It fails, changing nothing, when a path component is a file: creation
// starts only past the deepest existing node, where no conflict can remain.
func makeParents(root *node, key string) (dir *node, name string, ok bool) {
	dir = root
	rest := key[1:]
	for {
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return dir, rest, true
		}
		child := dir.children.get(rest[:slash])
		if child == nil {
			// The new directories share the memory of key rather than copying
			// their part of it: copies would take space quadratic in its depth.
			child = newDir(key[:len(key)-len(rest)+slash])
			dir.children.add(child)
		} else if !child.isDir() {
			return nil, "", false
		}
		dir = child
		rest = rest[slash+1:]
	}
}
