package powerloss

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Materialize creates dir (which must not exist) holding what a power cut at
// the end of the trace would have left in the data directory: the files and
// directories whose entries were made durable, with their durable contents.
// A file whose entry is durable but whose contents never were is empty.
func (m *Model) Materialize(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	durable := m.tree(true)
	// Sorted, a directory comes before what it holds.
	for _, p := range slices.Sorted(maps.Keys(durable)) {
		target := filepath.Join(dir, filepath.FromSlash(p))
		var err error
		if n := durable[p]; n.isDir {
			err = os.Mkdir(target, 0o700)
		} else {
			err = os.WriteFile(target, n.durableData, 0o600)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Losses describes, one line per path, where the directory after a power cut
// differs from the one the process left, and which fsync was missing.
func (m *Model) Losses() []string {
	now, after := m.tree(false), m.tree(true)
	paths := slices.Sorted(maps.Keys(now))
	for p := range after {
		if now[p] == nil {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []string
	for _, p := range paths {
		n, a := now[p], after[p]
		dir := path.Dir(p)
		switch {
		case a == nil && dir != "." && after[dir] == nil:
			out = append(out, fmt.Sprintf("%s: missing, as its directory is%s", p, describeSize(n)))
		case a == nil:
			out = append(out, fmt.Sprintf("%s: missing: %s was not fsynced after the file was created or renamed into it%s", p, describeDir(dir), describeSize(n)))
		case n == nil:
			out = append(out, fmt.Sprintf("%s: present though removed or renamed since: %s was not fsynced after that", p, describeDir(dir)))
		case n != a:
			out = append(out, fmt.Sprintf("%s: names an older file: %s was not fsynced after the rename over it", p, describeDir(dir)))
		case !n.isDir && !bytes.Equal(n.data, n.durableData):
			out = append(out, fmt.Sprintf("%s: %d bytes survive of %d: the file was changed after its last fsync", p, len(n.durableData), len(n.data)))
		}
	}
	return out
}

func describeDir(dir string) string {
	if dir == "." {
		return "the data directory"
	}
	return "directory " + dir
}

func describeSize(n *inode) string {
	if n.isDir {
		return ""
	}
	return fmt.Sprintf(" (%d bytes lost)", len(n.data))
}

// Verify compares the model's view of the directory as the process left it
// with dir, the real data directory once the process is dead. A process
// killed with SIGKILL leaves the page cache, so dir holds everything it
// wrote: any difference means the trace or the model missed something, and
// no image built from them can be trusted. The only differences allowed are
// those calls cut short by the kill may have made: a prefix of a write, and
// anything at a name a create, rename or removal was changing.
func (m *Model) Verify(dir string) error {
	want := m.tree(false)
	var problems []string
	seen := map[string]bool{}
	walkErr := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		seen[rel] = true
		n := want[rel]
		switch {
		case m.uncertain(rel, n):
		case n == nil:
			problems = append(problems, rel+": on disk, not in the model")
		case n.isDir != e.IsDir():
			problems = append(problems, rel+": a file on one side, a directory on the other")
		case !n.isDir:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !m.couldHold(n, b) {
				problems = append(problems, fmt.Sprintf("%s: %d bytes on disk, %d in the model, first difference at byte %d", rel, len(b), len(n.data), firstDifference(b, n.data)))
			}
		}
		return nil
	})
	if walkErr != nil {
		return walkErr
	}
	for _, p := range slices.Sorted(maps.Keys(want)) {
		if !seen[p] && !m.uncertain(p, want[p]) {
			problems = append(problems, p+": in the model, not on disk")
		}
	}
	if len(problems) > 0 {
		return errors.New("the model disagrees with " + dir + ":\n" + strings.Join(problems, "\n"))
	}
	return nil
}

// uncertain reports whether a call cut short by the kill may have changed
// what rel (naming n in the model, or nothing) is on disk, other than by a
// write.
func (m *Model) uncertain(rel string, n *inode) bool {
	if n != nil && m.uncertainNodes[n] {
		return true
	}
	for p := rel; p != "."; p = path.Dir(p) {
		if m.uncertainPaths[p] {
			return true
		}
	}
	return false
}

// couldHold reports whether file n may hold content on disk: what the model
// has, or that with part of the write the kill cut short. A file with two
// writes cut short at once (which would need every order tried) may hold
// anything.
func (m *Model) couldHold(n *inode, content []byte) bool {
	if bytes.Equal(content, n.data) {
		return true
	}
	var cut []maybeWrite
	for _, w := range m.maybeWrites {
		if w.node == n {
			cut = append(cut, w)
		}
	}
	switch len(cut) {
	case 0:
		return false
	case 1:
	default:
		return true
	}
	for k := 1; k <= len(cut[0].data); k++ {
		if bytes.Equal(content, writeAt(clone(n.data), cut[0].at, cut[0].data[:k])) {
			return true
		}
	}
	return false
}

func firstDifference(a, b []byte) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

// tree maps every path below the data directory ("/"-separated, relative) to
// what it names: now, or after a power cut (durable).
func (m *Model) tree(durable bool) map[string]*inode {
	out := map[string]*inode{}
	var walk func(prefix string, dir *inode)
	walk = func(prefix string, dir *inode) {
		entries := dir.entries
		if durable {
			entries = dir.durableEntries
		}
		for name, n := range entries {
			p := path.Join(prefix, name)
			out[p] = n
			if n.isDir {
				walk(p, n)
			}
		}
	}
	walk("", m.rootDir)
	return out
}
