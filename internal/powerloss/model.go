// Package powerloss computes what a power cut would have left of a
// process's data directory, from an strace trace of the process.
//
// A process killed with SIGKILL loses nothing it wrote: the page cache
// survives. A power cut keeps only what was made durable: the contents of a
// file as of an fsync (or fdatasync) of it, and the entries of a directory as
// of an fsync of the directory. So a file created, renamed or removed since
// its directory's last fsync keeps its old name (or none), and bytes written
// since a file's last fsync are gone. The model replays the trace, keeping
// for every file and directory what it holds now and what is durable, and
// builds the directory a restart would find (Materialize). It is
// conservative: it never counts as durable what might not be, such as a
// write that was still running when an fsync began.
//
// To cut the power: run the process under strace with StraceArgs, stop it
// with SIGSTOP, wait for WaitStopped, kill it with SIGKILL, then Replay the
// trace, check the model against the directory the kill left (Verify), and
// Materialize the directory a restart would find.
//
// It assumes the data directory was empty when the trace began, that one
// process (of any number of threads) wrote it, and that every path is
// absolute or relative to a descriptor the trace opened. What it cannot
// replay exactly (hard links, fallocate, sendfile into a file, …) in the data
// directory makes Replay fail rather than guess.
package powerloss

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
)

// Model is the state of one data directory after a replayed trace.
type Model struct {
	root    string // the data directory, absolute and clean
	rootDir *inode
	fds     map[int]*openFile
	syncs   map[int]*pendingSync // pid → the fsync it is in
	// What calls that never returned (the kill came first) may have done:
	// they count for nothing after a power cut, but the directory the kill
	// left may show them, in full or in part.
	maybeWrites    []maybeWrite
	uncertainNodes map[*inode]bool
	uncertainPaths map[string]bool // relative to the data directory
}

// maybeWrite is a write that never returned: any prefix of data may have
// landed at offset at.
type maybeWrite struct {
	node *inode
	at   int64
	data []byte
}

// inode is a file or a directory of the data directory.
type inode struct {
	isDir bool
	// A file's bytes now, and as of its last completed fsync.
	data, durableData []byte
	// A directory's entries now, and as of its last completed fsync.
	entries, durableEntries map[string]*inode
}

func newFile() *inode { return &inode{} }

func newDir() *inode {
	return &inode{isDir: true, entries: map[string]*inode{}, durableEntries: map[string]*inode{}}
}

// openFile is an open file description: dup'ed descriptors share it, and so
// share its offset.
type openFile struct {
	path   string // as opened
	node   *inode // nil outside the data directory
	offset int64
	append bool
}

// pendingSync is what an fsync makes durable once it returns: the state of
// its file or directory when it began. Writes that end after that moment
// may or may not be on disk, so they are not counted.
type pendingSync struct {
	node    *inode
	data    []byte
	entries map[string]*inode
}

// Replay reads a trace written by strace with StraceArgs and models the data
// directory root (an absolute path) as the traced process left it.
func Replay(trace io.Reader, root string) (*Model, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("data directory %q: want an absolute path", root)
	}
	m := &Model{
		root:    filepath.Clean(root),
		rootDir: newDir(),
		fds:     map[int]*openFile{},
		syncs:   map[int]*pendingSync{},

		uncertainNodes: map[*inode]bool{},
		uncertainPaths: map[string]bool{},
	}
	if err := parseTrace(trace, m); err != nil {
		return nil, err
	}
	return m, nil
}

// enter takes the snapshot an fsync will make durable.
func (m *Model) enter(c *call) error {
	if c.name != "fsync" && c.name != "fdatasync" {
		return nil
	}
	of, err := m.fileArg(c, 0)
	if err != nil || of == nil || of.node == nil {
		return err
	}
	n := of.node
	if n.isDir {
		m.syncs[c.pid] = &pendingSync{node: n, entries: maps.Clone(n.entries)}
	} else {
		m.syncs[c.pid] = &pendingSync{node: n, data: clone(n.data)}
	}
	return nil
}

// exit applies a call that returned; failed calls change nothing.
func (m *Model) exit(c *call) error {
	if c.name == "fsync" || c.name == "fdatasync" {
		s := m.syncs[c.pid]
		delete(m.syncs, c.pid)
		if s != nil && c.succeeded() {
			if s.node.isDir {
				s.node.durableEntries = s.entries
			} else {
				s.node.durableData = s.data
			}
		}
		return nil
	}
	if !c.retKnown {
		return m.noteInterrupted(c)
	}
	if c.ret < 0 {
		return nil
	}
	switch c.name {
	case "open":
		return m.open(c, "AT_FDCWD", 0)
	case "openat":
		return m.open(c, "", 1)
	case "creat":
		return m.create(c)
	case "close":
		fd, err := m.fdArg(c, 0)
		delete(m.fds, fd)
		return err
	case "dup", "dup2", "dup3":
		return m.dup(c)
	case "fcntl":
		if len(c.args) > 1 && (c.args[1] == "F_DUPFD" || c.args[1] == "F_DUPFD_CLOEXEC") {
			return m.dup(c)
		}
		return nil
	case "lseek":
		return m.withFile(c, func(of *openFile) error {
			of.offset = c.ret
			return nil
		})
	case "read", "readv":
		return m.withFile(c, func(of *openFile) error {
			of.offset += c.ret
			return nil
		})
	case "write", "writev", "pwrite64":
		return m.withFile(c, func(of *openFile) error { return m.write(c, of) })
	case "ftruncate":
		return m.withFile(c, func(of *openFile) error { return truncateArg(of.node, c, 1) })
	case "truncate":
		return m.truncatePath(c)
	case "mkdir":
		return m.mkdir(c, "AT_FDCWD", 0)
	case "mkdirat":
		return m.mkdir(c, "", 1)
	case "rename":
		return m.rename(c, "AT_FDCWD", 0, "AT_FDCWD", 1)
	case "renameat", "renameat2":
		return m.rename(c, "", 1, "", 3)
	case "unlink", "rmdir":
		return m.unlink(c, "AT_FDCWD", 0)
	case "unlinkat":
		return m.unlink(c, "", 1)
	}
	return m.refuseUnmodeled(c)
}

// noteInterrupted records what a call that never returned may have done.
func (m *Model) noteInterrupted(c *call) error {
	switch c.name {
	case "write", "writev", "pwrite64":
		return m.withFile(c, func(of *openFile) error {
			data, at, err := m.writeArgs(c, of)
			if err != nil {
				// Its bytes are not all in the trace.
				m.uncertainNodes[of.node] = true
				return nil
			}
			m.maybeWrites = append(m.maybeWrites, maybeWrite{of.node, at, data})
			return nil
		})
	case "ftruncate":
		return m.withFile(c, func(of *openFile) error {
			m.uncertainNodes[of.node] = true
			return nil
		})
	case "open", "openat":
		// Only an open that creates or empties a file changes the directory.
		flagsArg := pathArgs[c.name][0].arg + 1
		if len(c.args) <= flagsArg || !hasFlag(c.args[flagsArg], "O_CREAT") && !hasFlag(c.args[flagsArg], "O_TRUNC") {
			return nil
		}
	}
	for _, p := range pathArgs[c.name] {
		loc, err := m.locate(c, p.dirfd, p.arg)
		if err != nil {
			return err
		}
		if loc.inRoot {
			m.uncertainPaths[loc.rel] = true
		}
	}
	return nil
}

// pathArgs are the path arguments of the calls that change names, each
// with its dirfd ("" for the argument before it).
var pathArgs = map[string][]struct {
	dirfd string
	arg   int
}{
	"open": {{"AT_FDCWD", 0}}, "creat": {{"AT_FDCWD", 0}}, "truncate": {{"AT_FDCWD", 0}},
	"mkdir": {{"AT_FDCWD", 0}}, "unlink": {{"AT_FDCWD", 0}}, "rmdir": {{"AT_FDCWD", 0}},
	"rename": {{"AT_FDCWD", 0}, {"AT_FDCWD", 1}},
	"openat": {{"", 1}}, "mkdirat": {{"", 1}}, "unlinkat": {{"", 1}},
	"renameat": {{"", 1}, {"", 3}}, "renameat2": {{"", 1}, {"", 3}},
}

// refuseUnmodeled fails on a call the model cannot replay when it touches
// the data directory, and ignores it elsewhere.
func (m *Model) refuseUnmodeled(c *call) error {
	var fds, paths []int // positions; the dirfd of a path is just before it
	switch c.name {
	case "pwritev", "pwritev2", "fallocate", "syncfs":
		fds = []int{0}
	case "copy_file_range", "splice":
		fds = []int{0, 2}
	case "sendfile":
		fds = []int{0, 1}
	case "openat2":
		paths = []int{1}
	case "linkat":
		paths = []int{1, 3}
	case "symlinkat":
		// The target is any text; only the new name is a path.
		paths = []int{2}
	case "link":
		return m.refusePaths(c, "AT_FDCWD", 0, 1)
	case "symlink":
		return m.refusePaths(c, "AT_FDCWD", 1)
	case "sync":
		return errors.New("sync(2) makes everything durable; the model does not replay it")
	default:
		return fmt.Errorf("%s is not a call the model knows", c.name)
	}
	for _, i := range fds {
		of, err := m.fileArg(c, i)
		if err != nil {
			return err
		}
		if of != nil && of.node != nil {
			return fmt.Errorf("%s on %s in the data directory is not modeled", c.name, of.path)
		}
	}
	return m.refusePaths(c, "", paths...)
}

func (m *Model) refusePaths(c *call, dirfd string, paths ...int) error {
	for _, i := range paths {
		loc, err := m.locate(c, dirfd, i)
		if err != nil {
			return err
		}
		if loc.inRoot {
			return fmt.Errorf("%s of %s in the data directory is not modeled", c.name, loc.rel)
		}
	}
	return nil
}

// open replays open, openat and creat: a new description, on a new file
// with O_CREAT when the name is free, emptied with O_TRUNC.
func (m *Model) open(c *call, dirfd string, pathArg int) error {
	if len(c.args) <= pathArg+1 {
		return errors.New("too few arguments")
	}
	flags := c.args[pathArg+1]
	return m.openWith(c, dirfd, pathArg, hasFlag(flags, "O_CREAT"), hasFlag(flags, "O_TRUNC"), hasFlag(flags, "O_APPEND"))
}

func (m *Model) create(c *call) error {
	return m.openWith(c, "AT_FDCWD", 0, true, true, false)
}

func (m *Model) openWith(c *call, dirfd string, pathArg int, create, truncate, appending bool) error {
	loc, err := m.locate(c, dirfd, pathArg)
	if err != nil {
		return err
	}
	of := &openFile{path: loc.abs, append: appending}
	if loc.inRoot {
		if loc.parent == nil {
			of.node = m.rootDir
		} else if of.node = loc.parent.entries[loc.name]; of.node == nil {
			if !create {
				return m.unknown(loc)
			}
			of.node = newFile()
			loc.parent.entries[loc.name] = of.node
		}
		if truncate && !of.node.isDir {
			of.node.data = nil
		}
	}
	m.fds[int(c.ret)] = of
	return nil
}

// dup gives the descriptor a call returned the description of its first
// argument; dup2 and dup3 first close the target, as the kernel does.
func (m *Model) dup(c *call) error {
	old, err := m.fdArg(c, 0)
	if err != nil {
		return err
	}
	if of, ok := m.fds[old]; ok {
		m.fds[int(c.ret)] = of
	} else {
		// A socket or pipe, or a descriptor inherited from the parent.
		delete(m.fds, int(c.ret))
	}
	return nil
}

// write replays write, writev and pwrite64 for the bytes the call returned
// as written.
func (m *Model) write(c *call, of *openFile) error {
	data, at, err := m.writeArgs(c, of)
	if err != nil {
		return err
	}
	if int64(len(data)) < c.ret {
		return fmt.Errorf("%s returned %d but strace printed %d bytes", c.name, c.ret, len(data))
	}
	data = data[:c.ret]
	of.node.data = writeAt(of.node.data, at, data)
	if c.name != "pwrite64" {
		of.offset = at + int64(len(data))
	}
	return nil
}

// writeArgs returns the bytes a write, writev or pwrite64 call was given and
// the offset they go to.
func (m *Model) writeArgs(c *call, of *openFile) (data []byte, at int64, err error) {
	if len(c.args) < 2 {
		return nil, 0, errors.New("too few arguments")
	}
	if c.name == "writev" {
		data, err = decodeIovecs(c.args[1])
	} else {
		data, err = decodeString(c.args[1])
	}
	if err != nil {
		return nil, 0, err
	}
	at = of.offset
	if c.name == "pwrite64" {
		if len(c.args) < 4 {
			return nil, 0, errors.New("too few arguments")
		}
		if at, err = strconv.ParseInt(c.args[3], 0, 64); err != nil {
			return nil, 0, fmt.Errorf("offset %q: %w", c.args[3], err)
		}
	}
	// On Linux O_APPEND makes pwrite append too.
	if of.append {
		at = int64(len(of.node.data))
	}
	return data, at, nil
}

// writeAt returns content with data written at offset at, extended with
// zeros as needed.
func writeAt(content []byte, at int64, data []byte) []byte {
	if end := at + int64(len(data)); end > int64(len(content)) {
		content = append(content, make([]byte, end-int64(len(content)))...)
	}
	copy(content[at:], data)
	return content
}

func (m *Model) truncatePath(c *call) error {
	loc, err := m.locate(c, "AT_FDCWD", 0)
	if err != nil || !loc.inRoot {
		return err
	}
	n, err := m.lookup(loc)
	if err != nil {
		return err
	}
	return truncateArg(n, c, 1)
}

// truncateArg sets a file's size to the length in argument i, dropping bytes
// or adding zeros.
func truncateArg(n *inode, c *call, i int) error {
	if len(c.args) <= i {
		return errors.New("too few arguments")
	}
	size, err := strconv.ParseInt(c.args[i], 0, 64)
	if err != nil {
		return fmt.Errorf("length %q: %w", c.args[i], err)
	}
	if size <= int64(len(n.data)) {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-int64(len(n.data)))...)
	}
	return nil
}

func (m *Model) mkdir(c *call, dirfd string, pathArg int) error {
	loc, err := m.locate(c, dirfd, pathArg)
	if err != nil || !loc.inRoot || loc.parent == nil {
		// Creating the data directory itself changes nothing inside it.
		return err
	}
	loc.parent.entries[loc.name] = newDir()
	return nil
}

func (m *Model) rename(c *call, oldDirfd string, oldArg int, newDirfd string, newArg int) error {
	from, err := m.locate(c, oldDirfd, oldArg)
	if err != nil {
		return err
	}
	to, err := m.locate(c, newDirfd, newArg)
	if err != nil {
		return err
	}
	if !from.inRoot && !to.inRoot {
		return nil
	}
	if !from.inRoot || !to.inRoot || from.parent == nil || to.parent == nil {
		return fmt.Errorf("rename of %s to %s crosses the data directory's boundary: not modeled", from.abs, to.abs)
	}
	n, err := m.lookup(from)
	if err != nil {
		return err
	}
	exchange := false
	if c.name == "renameat2" && len(c.args) > 4 {
		switch c.args[4] {
		case "0", "RENAME_NOREPLACE":
		case "RENAME_EXCHANGE":
			exchange = true
		default:
			return fmt.Errorf("renameat2 flags %s are not modeled", c.args[4])
		}
	}
	target := to.parent.entries[to.name]
	if target == n {
		// Two names of one file: POSIX says rename does nothing.
		return nil
	}
	delete(from.parent.entries, from.name)
	if exchange {
		from.parent.entries[from.name] = target
	}
	to.parent.entries[to.name] = n
	return nil
}

func (m *Model) unlink(c *call, dirfd string, pathArg int) error {
	loc, err := m.locate(c, dirfd, pathArg)
	if err != nil || !loc.inRoot {
		return err
	}
	if loc.parent == nil {
		return errors.New("removal of the data directory itself is not modeled")
	}
	if _, err := m.lookup(loc); err != nil {
		return err
	}
	delete(loc.parent.entries, loc.name)
	return nil
}

// location is where a path argument lands.
type location struct {
	abs    string
	inRoot bool
	rel    string // relative to the data directory, when inRoot
	parent *inode // the directory holding it; nil for the data directory itself
	name   string // its name in parent
}

// locate resolves path argument i of c, relative to dirfd: the argument
// before it when dirfd is "" (the *at calls), else dirfd itself.
func (m *Model) locate(c *call, dirfd string, i int) (location, error) {
	if dirfd == "" {
		if i < 1 || len(c.args) <= i {
			return location{}, errors.New("too few arguments")
		}
		dirfd = c.args[i-1]
	}
	if len(c.args) <= i {
		return location{}, errors.New("too few arguments")
	}
	raw, err := decodeString(c.args[i])
	if err != nil {
		return location{}, err
	}
	path := string(raw)
	if !filepath.IsAbs(path) {
		if dirfd == "AT_FDCWD" {
			return location{}, fmt.Errorf("relative path %q: the model needs the process to use absolute paths", path)
		}
		fd, err := fdArg(dirfd)
		if err != nil {
			return location{}, err
		}
		dir, ok := m.fds[fd]
		if !ok {
			return location{}, fmt.Errorf("path %q relative to descriptor %d, which the trace never opened", path, fd)
		}
		path = filepath.Join(dir.path, path)
	}
	loc := location{abs: filepath.Clean(path)}
	rel, err := filepath.Rel(m.root, loc.abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return loc, nil
	}
	loc.inRoot, loc.rel = true, rel
	if rel == "." {
		return loc, nil
	}
	parent := m.rootDir
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		next := parent.entries[p]
		if next == nil || !next.isDir {
			return location{}, m.unknown(loc)
		}
		parent = next
	}
	loc.parent, loc.name = parent, parts[len(parts)-1]
	return loc, nil
}

// lookup returns what a location names now; a name the kernel found but the
// model does not know was there before the trace.
func (m *Model) lookup(loc location) (*inode, error) {
	if loc.parent == nil {
		return m.rootDir, nil
	}
	if n := loc.parent.entries[loc.name]; n != nil {
		return n, nil
	}
	return nil, m.unknown(loc)
}

func (m *Model) unknown(loc location) error {
	return fmt.Errorf("%s existed before the trace began: the model needs the data directory to start empty", loc.rel)
}

// fdArg parses descriptor argument i.
func (m *Model) fdArg(c *call, i int) (int, error) {
	if len(c.args) <= i {
		return 0, errors.New("too few arguments")
	}
	return fdArg(c.args[i])
}

// fileArg returns the description of descriptor argument i, or nil for a
// descriptor that is not a file the trace opened (a socket, a pipe).
func (m *Model) fileArg(c *call, i int) (*openFile, error) {
	fd, err := m.fdArg(c, i)
	if err != nil {
		return nil, err
	}
	return m.fds[fd], nil
}

// withFile runs fn on the description of the call's descriptor when it is a
// regular file in the data directory.
func (m *Model) withFile(c *call, fn func(*openFile) error) error {
	of, err := m.fileArg(c, 0)
	if err != nil || of == nil || of.node == nil || of.node.isDir {
		return err
	}
	return fn(of)
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
