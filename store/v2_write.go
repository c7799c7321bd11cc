package store

import (
	"fmt"

	"github.com/etcd-recreation/etcd/etcderr"
)

// The v2 writes (V2-API.md §4, §7–§10). key is normalised. Errors are v2's:
// 107 for the root, 100 naming the first missing component, 104 naming the
// file a path crosses, and otherwise the key as cause.

// errRootReadOnly is the error of a write or delete of the root (§5).
func errRootReadOnly() error { return etcderr.New(etcderr.RootReadOnly, "/") }

// v2Set makes key a file holding w.Value, or a directory when w.V2.Dir: a
// new node whatever was there, so its createdIndex is the write's (§5). A
// file becomes a directory that way; an existing directory gives 102 (§9).
// A refresh keeps the file's value, needs the file to exist, and wakes no
// watcher (§8).
func (s *Store) v2Set(key string, w Write) (*Event, error) {
	if key == "/" {
		return nil, errRootReadOnly()
	}
	exp := expirationOf(w.Expiration)
	if w.V2.Refresh {
		_, n, err := existingFile(s.root, key)
		if err != nil {
			return nil, err
		}
		return s.modify(n, n.value, exp, true, true, V2Set), nil
	}
	dir, name, blocker := makeParents(s.root, key, s.index)
	if blocker != nil {
		return nil, etcderr.New(etcderr.NotDir, blocker.key)
	}
	prev := dir.children.get(name)
	switch {
	case prev != nil && prev.isDir():
		return nil, etcderr.New(etcderr.NotFile, key)
	case prev != nil && !w.V2.Dir:
		return s.modify(prev, w.Value, exp, true, false, V2Set), nil
	}
	return s.add(dir, key, w.V2.Dir, w.Value, exp, prev, V2Set), nil
}

// v2Create makes key as v2Set does if nothing is there, and fails with 105
// otherwise (§4, §9).
func (s *Store) v2Create(key string, w Write) (*Event, error) {
	if key == "/" {
		return nil, errRootReadOnly()
	}
	dir, name, blocker := makeParents(s.root, key, s.index)
	switch {
	case blocker != nil:
		return nil, etcderr.New(etcderr.NotDir, blocker.key)
	case dir.children.get(name) != nil:
		return nil, etcderr.New(etcderr.NodeExist, key)
	}
	return s.add(dir, key, w.V2.Dir, w.Value, expirationOf(w.Expiration), nil, V2Create), nil
}

// inOrderKey is the key of the in-order node that a write at index makes
// under dir: its index, 20 digits zero-padded, as since etcd 2.2 (§7).
func inOrderKey(dir string, index uint64) string {
	if dir == "/" {
		return fmt.Sprintf("/%020d", index)
	}
	return fmt.Sprintf("%s/%020d", dir, index)
}

// v2Update changes an existing node and keeps its createdIndex (§5): a
// file's value and expiration, or a directory's expiration when no value
// is given, as etcd 2.3 allowed (§8); a value for a directory gives 102.
// A refresh keeps the value and wakes no watcher.
func (s *Store) v2Update(key string, w Write) (*Event, error) {
	if key == "/" {
		return nil, errRootReadOnly()
	}
	_, n, err := lookup(s.root, key)
	switch {
	case err != nil:
		return nil, err
	case n.isDir() && w.Value != "":
		return nil, etcderr.New(etcderr.NotFile, key)
	}
	value := w.Value
	if w.V2.Refresh {
		value = n.value
	}
	return s.modify(n, value, expirationOf(w.Expiration), false, w.V2.Refresh, V2Update), nil
}

// v2CompareAndSwap updates a file as v2Update does if its value equals
// w.PrevValue (when not empty) and its modifiedIndex w.V2.PrevIndex (when
// not 0), and fails with 101 otherwise (§10).
func (s *Store) v2CompareAndSwap(key string, w Write) (*Event, error) {
	if key == "/" {
		return nil, errRootReadOnly()
	}
	_, n, err := comparedFile(s.root, key, w)
	if err != nil {
		return nil, err
	}
	value := w.Value
	if w.V2.Refresh {
		value = n.value
	}
	return s.modify(n, value, expirationOf(w.Expiration), false, w.V2.Refresh, V2CompareAndSwap), nil
}

// compareFailure returns the cause of a failed comparison of file n with
// prevValue and prevIndex, "" if it passes (§10): "[given != held]" for
// the value, then for the index.
func compareFailure(n *node, prevValue string, prevIndex uint64) string {
	valueDiffers := prevValue != "" && prevValue != n.value
	indexDiffers := prevIndex != 0 && prevIndex != n.modifiedIndex
	switch {
	case valueDiffers && indexDiffers:
		return fmt.Sprintf("[%s != %s] [%d != %d]", prevValue, n.value, prevIndex, n.modifiedIndex)
	case valueDiffers:
		return fmt.Sprintf("[%s != %s]", prevValue, n.value)
	case indexDiffers:
		return fmt.Sprintf("[%d != %d]", prevIndex, n.modifiedIndex)
	}
	return ""
}

// v2Delete deletes a file, or a directory: an empty one with w.V2.Dir, any
// one with everything below it with w.V2.Recursive (§9).
func (s *Store) v2Delete(key string, w Write) (*Event, error) {
	if key == "/" {
		return nil, errRootReadOnly()
	}
	parent, n, err := lookup(s.root, key)
	switch {
	case err != nil:
		return nil, err
	case n.isDir() && !w.V2.Dir && !w.V2.Recursive:
		return nil, etcderr.New(etcderr.NotFile, key)
	case n.isDir() && !w.V2.Recursive && n.children.len() > 0:
		return nil, etcderr.New(etcderr.DirNotEmpty, key)
	}
	return s.remove(parent, n, V2Delete), nil
}

// v2CompareAndDelete deletes a file that passes v2CompareAndSwap's
// comparison (§10). The root is a directory here, 102, as in etcd.
func (s *Store) v2CompareAndDelete(key string, w Write) (*Event, error) {
	parent, n, err := comparedFile(s.root, key, w)
	if err != nil {
		return nil, err
	}
	return s.remove(parent, n, V2CompareAndDelete), nil
}

// existingFile returns the file at key and its parent: 100 or 104 as
// lookup gives them when there is none, 102 when key is a directory.
func existingFile(root *node, key string) (parent, n *node, err error) {
	parent, n, err = lookup(root, key)
	switch {
	case err != nil:
		return nil, nil, err
	case n.isDir():
		return nil, nil, etcderr.New(etcderr.NotFile, key)
	}
	return parent, n, nil
}

// comparedFile is existingFile for a compare-and-swap or -delete: the file
// must also pass w's comparison, or the answer is 101 with its cause.
func comparedFile(root *node, key string, w Write) (parent, n *node, err error) {
	parent, n, err = existingFile(root, key)
	if err != nil {
		return nil, nil, err
	}
	if cause := compareFailure(n, w.PrevValue, w.V2.PrevIndex); cause != "" {
		return nil, nil, etcderr.New(etcderr.TestFailed, cause)
	}
	return parent, n, nil
}
