package raftdisk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// A snapshot's state lives in a file of its own in state/ (goraft loads
// whichever name in snapshot/ sorts last), and goraft's TERM_INDEX.ss holds
// only a reference to it. goraft keeps the state of its last snapshot in
// memory, copies it whole into a JSON file (base64, a third larger), and
// sends it to a follower in one message: with a large store, each is
// hundreds of megabytes. The state file is written as a stream, read as
// one, and sent to a follower ahead of goraft's message (see the
// transporter).
//
// A state file's name says all there is to check it by:
// state-INDEX-SIZE-CRC.json, where INDEX is the store's index when it was
// saved, SIZE is its length and CRC its CRC-32 (IEEE) in hex. It is made
// durable before goraft's snapshot that names it is written. It is removed
// once no snapshot in snapshot/ names it, unless a snapshot being taken
// names it next, or it was received from a leader and its install has not
// come yet: after each snapshot taken or installed, and at start-up. The
// index does not tell which states are still needed: a store can run ahead
// of the snapshot's index (goraft picks the index, then the store is saved
// while entries go on being applied), so a snapshot of a member's own can
// carry a higher index than the next one its leader sends it.

const stateDir = "state"

// stateRef is goraft's snapshot state when the state is in a file.
type stateRef struct {
	File string `json:"storeFile"`
}

// refPrefix starts every reference; a state saved inline (by earlier
// versions, whose snapshots may still be on disk) starts otherwise.
const refPrefix = `{"storeFile":`

// StateFile is a parsed state file name.
type StateFile struct {
	Name  string
	index uint64
	size  int64
	crc   uint32
}

// ParseStateFile reads a state file name; ok is false for any other name.
func ParseStateFile(name string) (sf StateFile, ok bool) {
	var crc string
	if _, err := fmt.Sscanf(name, "state-%d-%d-%8s", &sf.index, &sf.size, &crc); err != nil || sf.size < 0 {
		return StateFile{}, false
	}
	if _, err := fmt.Sscanf(crc, "%08x", &sf.crc); err != nil || name != stateFileName(sf.index, sf.size, sf.crc) {
		return StateFile{}, false
	}
	sf.Name = name
	return sf, true
}

// Size is the state file's length in bytes.
func (sf StateFile) Size() int64 { return sf.size }

func stateFileName(index uint64, size int64, crc uint32) string {
	return fmt.Sprintf("state-%d-%d-%08x.json", index, size, crc)
}

// StateRef returns the state file a snapshot state refers to; ok is false
// for a state saved inline.
func StateRef(state []byte) (sf StateFile, ok bool, err error) {
	if !bytes.HasPrefix(state, []byte(refPrefix)) {
		return StateFile{}, false, nil
	}
	var ref stateRef
	if err := json.Unmarshal(state, &ref); err != nil {
		return StateFile{}, true, fmt.Errorf("snapshot state reference: %w", err)
	}
	sf, ok = ParseStateFile(ref.File)
	if !ok {
		return StateFile{}, true, fmt.Errorf("snapshot state reference: bad file name %q", ref.File)
	}
	return sf, true, nil
}

func (d *Dir) stateDir() string { return filepath.Join(d.path, stateDir) }

func (d *Dir) statePath(name string) string { return filepath.Join(d.stateDir(), name) }

// SaveState writes a state file with what write writes, durably, and
// returns the reference to hand goraft as the snapshot's state. Called by
// the state machine's Save in Dir.TakeSnapshot, as goraft's TakeSnapshot
// must be, it also makes the log durable: goraft writes the snapshot next,
// and every entry the state holds must be in the log on disk by then, or a
// power cut could leave a log that ends before the state, and the entries
// written after the restart would take positions the state already counts
// as applied. Every entry is written to the log before it is applied, but
// a lone node's is synced only after (before its client is answered).
func (d *Dir) SaveState(index uint64, write func(io.Writer) error) ([]byte, error) {
	tmp, size, crc, err := d.writeTemp(write)
	defer os.Remove(tmp) // a no-op once renamed
	if err != nil {
		return nil, err
	}
	name := stateFileName(index, size, crc)
	inSnapshot := d.positions.savingState()
	d.states.mu.Lock()
	if inSnapshot {
		d.states.saving = name
	}
	err = d.publishState(tmp, name)
	d.states.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if inSnapshot {
		if err := d.Sync(); err != nil {
			return nil, err
		}
		d.positions.stateSaved()
	}
	return json.Marshal(stateRef{File: name})
}

// ReceiveState stores the state file sf, read from r, durably, and keeps
// it until a snapshot is installed; it fails, keeping nothing, unless r
// holds exactly what sf's name says.
func (d *Dir) ReceiveState(sf StateFile, r io.Reader) error {
	tmp, size, crc, err := d.writeTemp(func(w io.Writer) error {
		_, err := io.Copy(w, io.LimitReader(r, sf.size+1))
		return err
	})
	defer os.Remove(tmp) // a no-op once renamed
	if err != nil {
		return err
	}
	if size != sf.size || crc != sf.crc {
		return fmt.Errorf("received state %s holds %d bytes with CRC %08x", sf.Name, size, crc)
	}
	d.states.mu.Lock()
	defer d.states.mu.Unlock()
	d.states.received = append(slices.DeleteFunc(d.states.received, func(name string) bool { return name == sf.Name }), sf.Name)
	return d.publishState(tmp, sf.Name)
}

// writeTemp writes what write writes to a new temporary file in state/,
// durably, and returns its path (empty if none was made), size and CRC.
func (d *Dir) writeTemp(write func(io.Writer) error) (tmp string, size int64, crc uint32, err error) {
	dir := d.stateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", 0, 0, err
	}
	f, err := os.CreateTemp(dir, "state-*.tmp")
	if err != nil {
		return "", 0, 0, fmt.Errorf("write snapshot state: %w", err)
	}
	sum := &checksum{w: f, crc: crc32.NewIEEE()}
	err = write(sum)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return f.Name(), 0, 0, fmt.Errorf("write snapshot state: %w", err)
	}
	return f.Name(), sum.n, sum.crc.Sum32(), nil
}

// publishState renames the temporary file tmp to name in state/, durably.
// The caller holds states.mu.
func (d *Dir) publishState(tmp, name string) error {
	if err := os.Rename(tmp, d.statePath(name)); err != nil {
		return fmt.Errorf("write snapshot state: %w", err)
	}
	return SyncDir(d.stateDir())
}

type checksum struct {
	w   io.Writer
	crc hash.Hash32
	n   int64
}

func (c *checksum) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	return n, err
}

// HasState reports whether the state file sf is here and whole.
func (d *Dir) HasState(sf StateFile) bool {
	r, err := d.OpenState(sf)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, r)
	return err == nil
}

// OpenState opens the state file sf for reading. The reader fails at its
// end, in place of io.EOF, unless the file held what sf's name says.
func (d *Dir) OpenState(sf StateFile) (io.ReadCloser, error) {
	f, err := os.Open(d.statePath(sf.Name))
	if err != nil {
		return nil, fmt.Errorf("snapshot state: %w", err)
	}
	return &checkedReader{f: f, sf: sf, crc: crc32.NewIEEE()}, nil
}

type checkedReader struct {
	f   *os.File
	sf  StateFile
	crc hash.Hash32
	n   int64
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.crc.Write(p[:n])
	c.n += int64(n)
	if errors.Is(err, io.EOF) && (c.n != c.sf.size || c.crc.Sum32() != c.sf.crc) {
		err = fmt.Errorf("snapshot state %s is damaged: %d bytes with CRC %08x", c.sf.Name, c.n, c.crc.Sum32())
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.f.Close() }

// pendingStates are the state files no snapshot in snapshot/ may name yet
// that must be kept all the same.
type pendingStates struct {
	// mu is held while a state file is published or the unused ones are
	// removed, so that none is removed between its publication and its
	// record here.
	mu sync.Mutex
	// received are the states received from a leader whose install has not
	// come yet, oldest first.
	received []string
	// saving is the state of the snapshot being taken, which goraft's
	// snapshot names once written.
	saving string
}

// snapshotTaken records that the snapshot being taken is over and, when it
// succeeded, removes the state files no longer needed.
func (d *Dir) snapshotTaken(succeeded bool) {
	d.states.mu.Lock()
	defer d.states.mu.Unlock()
	d.states.saving = ""
	if succeeded {
		d.removeUnusedStates()
	}
}

// snapshotAnswered records that a leader's snapshot whose state is state
// was installed, or found to hold nothing new: neither it nor a state
// received before it will be installed. The state files no longer needed
// are removed.
func (d *Dir) snapshotAnswered(state []byte) {
	d.states.mu.Lock()
	defer d.states.mu.Unlock()
	if sf, isRef, err := StateRef(state); isRef && err == nil {
		if i := slices.Index(d.states.received, sf.Name); i >= 0 {
			d.states.received = slices.Delete(d.states.received, 0, i+1)
		}
	}
	d.removeUnusedStates()
}

// removeUnusedStates removes the state files that no snapshot in
// snapshot/ names and that are not pending. Files being written are left
// alone; so is everything when a snapshot cannot be read. The caller
// holds states.mu.
func (d *Dir) removeUnusedStates() {
	keep, err := d.namedStates()
	if err != nil {
		log.Printf("raft: keeping every snapshot state file: %v", err)
		return
	}
	for _, name := range d.states.received {
		keep[name] = true
	}
	keep[d.states.saving] = true
	d.removeStates(func(name string) bool {
		_, ok := ParseStateFile(name)
		return ok && !keep[name]
	})
}

// namedStates is the set of state files the snapshots in snapshot/ name.
func (d *Dir) namedStates() (map[string]bool, error) {
	dir := filepath.Join(d.path, "snapshot")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read snapshot dir: %w", err)
	}
	named := make(map[string]bool)
	for _, e := range entries {
		if _, ok := parseSnapshotName(e.Name()); !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		_, body, _ := bytes.Cut(b, []byte("\n"))
		var snap struct {
			State []byte `json:"state"`
		}
		if err := json.Unmarshal(body, &snap); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", e.Name(), err)
		}
		sf, isRef, err := StateRef(snap.State)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", e.Name(), err)
		}
		if isRef {
			named[sf.Name] = true
		}
	}
	return named, nil
}

// RemoveStatesExcept removes every state file but keep (none when keep is
// nil), half-written ones included: for a node starting, over the snapshot
// it loaded.
func (d *Dir) RemoveStatesExcept(keep *StateFile) {
	d.removeStates(func(name string) bool {
		return strings.HasPrefix(name, "state-") && (keep == nil || name != keep.Name)
	})
}

func (d *Dir) removeStates(remove func(name string) bool) {
	dir := d.stateDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !remove(e.Name()) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			log.Printf("remove old snapshot state: %v", err)
		}
	}
}
