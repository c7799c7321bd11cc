package faults

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// goraft writes a file TERM_INDEX.ss in a member's snapshot directory for
// each snapshot the member takes and each one it installs from a leader;
// the node logs only those it takes ("snapshot taken at index N", N the
// commit index when it decided to, at most the file's index). The harness
// sees every file created, through inotify, and tells the two apart with
// the log afterwards: in a member's order of files, a file is its own
// snapshot when the next line of its log not yet matched says it took one
// at or before the file's index, and an install otherwise (a member takes
// a snapshot at most once a second, always past the index of the last file
// it holds).

// snapshotTakenLine is what a node logs when it took a snapshot.
const snapshotTakenLine = "raft: snapshot taken at index "

// snapshotFile is a snapshot file a member's raft created.
type snapshotFile struct {
	at          time.Duration // since the start of the run
	term, index uint64
}

// snapshotEvent is a snapshot file classified.
type snapshotEvent struct {
	m         *member
	at        time.Duration
	index     uint64
	installed bool // from a leader; else the member's own
}

// snapshotWatch records the snapshot files of members.
type snapshotWatch struct {
	tl      *timeline
	members []*member
	fd      int
	file    *os.File // fd, for reads that a close interrupts
	done    chan struct{}

	mu      sync.Mutex
	byWatch map[int32]*member
	created map[*member][]snapshotFile
	err     error
	// onCreate, if set, is told of each file as it is created.
	onCreate func(*member)
}

// notify sets the function told of each snapshot file as it is created.
func (sw *snapshotWatch) notify(f func(*member)) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.onCreate = f
}

// watchSnapshots starts recording the snapshot files of members, which
// must not have started yet: their snapshot directories are made here.
func watchSnapshots(tl *timeline, members []*member) (*snapshotWatch, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	sw := &snapshotWatch{
		tl:      tl,
		members: members,
		fd:      fd,
		file:    os.NewFile(uintptr(fd), "inotify"),
		done:    make(chan struct{}),
		byWatch: map[int32]*member{},
		created: map[*member][]snapshotFile{},
	}
	for _, m := range members {
		dir := filepath.Join(m.dataDir, "snapshot")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			sw.file.Close()
			return nil, err
		}
		wd, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_CREATE|syscall.IN_MOVED_TO)
		if err != nil {
			sw.file.Close()
			return nil, fmt.Errorf("inotify watch of %s: %w", dir, err)
		}
		sw.byWatch[int32(wd)] = m
	}
	go sw.read()
	return sw, nil
}

// read records file creations until the watch is closed.
func (sw *snapshotWatch) read() {
	defer close(sw.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := sw.file.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				sw.mu.Lock()
				sw.err = fmt.Errorf("reading inotify events: %w", err)
				sw.mu.Unlock()
			}
			return
		}
		at := time.Since(sw.tl.start)
		sw.mu.Lock()
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameStart := off + syscall.SizeofInotifyEvent
			name := string(bytes.TrimRight(buf[nameStart:nameStart+int(ev.Len)], "\x00"))
			off = nameStart + int(ev.Len)
			if ev.Mask&syscall.IN_Q_OVERFLOW != 0 {
				sw.err = errors.New("inotify queue overflowed: snapshot files were missed")
				continue
			}
			m := sw.byWatch[ev.Wd]
			var f snapshotFile
			if m == nil || !strings.HasSuffix(name, ".ss") {
				continue
			}
			if _, err := fmt.Sscanf(name, "%d_%d.ss", &f.term, &f.index); err != nil {
				continue
			}
			f.at = at
			sw.created[m] = append(sw.created[m], f)
			if sw.onCreate != nil {
				sw.onCreate(m)
			}
		}
		sw.mu.Unlock()
	}
}

// close stops the recording.
func (sw *snapshotWatch) close() {
	sw.file.Close()
	<-sw.done
}

// classify tells each member's files apart with its log; call it once the
// members have logged what they did (after the run).
func (sw *snapshotWatch) classify() ([]snapshotEvent, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.err != nil {
		return nil, sw.err
	}
	var out []snapshotEvent
	for _, m := range sw.members {
		taken, err := snapshotsTaken(m.logPath)
		if err != nil {
			return nil, err
		}
		next := 0
		for _, f := range sw.created[m] {
			own := next < len(taken) && taken[next] <= f.index
			if own {
				next++
			}
			out = append(out, snapshotEvent{m: m, at: f.at, index: f.index, installed: !own})
		}
	}
	return out, nil
}

// snapshotsTaken lists the indexes of the snapshots a member's log says it
// took, in order.
func snapshotsTaken(logPath string) ([]uint64, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.Index(line, snapshotTakenLine)
		if i < 0 {
			continue
		}
		var index uint64
		if _, err := fmt.Sscanf(line[i+len(snapshotTakenLine):], "%d", &index); err == nil {
			out = append(out, index)
		}
	}
	return out, sc.Err()
}

// snapshotCounts is how many snapshots were taken and installed.
type snapshotCounts struct {
	taken, installed int
	byMember         map[string][2]int // name: taken, installed
}

// countSnapshots counts the events from from to to (since the start of the
// run; to 0 means the end).
func countSnapshots(events []snapshotEvent, from, to time.Duration) snapshotCounts {
	c := snapshotCounts{byMember: map[string][2]int{}}
	for _, e := range events {
		if e.at < from || (to > 0 && e.at >= to) {
			continue
		}
		n := c.byMember[e.m.name]
		if e.installed {
			c.installed++
			n[1]++
		} else {
			c.taken++
			n[0]++
		}
		c.byMember[e.m.name] = n
	}
	return c
}

func (c snapshotCounts) String() string {
	var per []string
	for _, name := range sortedKeys(c.byMember) {
		n := c.byMember[name]
		per = append(per, fmt.Sprintf("%s %d/%d", name, n[0], n[1]))
	}
	return fmt.Sprintf("%d taken, %d installed (per member taken/installed: %s)", c.taken, c.installed, strings.Join(per, ", "))
}
