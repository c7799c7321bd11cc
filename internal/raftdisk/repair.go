package raftdisk

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft/protobuf"
)

// goraft's own recovery from a torn log tail truncates the file but keeps
// writing at the old offset, so the next restart loses everything written
// since. These functions put the data directory in a state goraft reads
// correctly before it is opened. goraft's log records carry no checksum:
// a record is judged by its framing and by whether it decodes.

// recoverDataDir puts goraft's files in dataDir in a state goraft reads
// correctly: a torn log tail cut, only the newest sound snapshot kept, the
// saved commit index no further than the log, no half-done compaction. It
// returns the snapshot goraft will load, if any.
func recoverDataDir(dataDir string) (*snapshotFile, error) {
	scan, err := repairLog(filepath.Join(dataDir, "log"))
	if err != nil {
		return nil, err
	}
	if scan.dropped > 0 {
		log.Printf("raft log: cut a torn tail of %d bytes after index %d", scan.dropped, scan.lastIndex)
	}
	snap, err := pruneSnapshots(filepath.Join(dataDir, "snapshot"))
	if err != nil {
		return nil, err
	}
	last := scan.lastIndex
	switch {
	case snap != nil && scan.records > 0 && scan.firstIndex > snap.index+1:
		// goraft compacts the log even when writing the snapshot failed.
		return nil, fmt.Errorf("raft log in %s starts at index %d but the newest snapshot ends at index %d: entries %d to %d are lost; "+
			"restore the data directory from a backup, or start this member afresh with -f and let it rejoin, so that it copies the data from the others",
			dataDir, scan.firstIndex, snap.index, snap.index+1, scan.firstIndex-1)
	case snap != nil:
		last = max(last, snap.index)
	case scan.firstIndex > 1:
		return nil, fmt.Errorf("raft log in %s starts at index %d but there is no usable snapshot before it: "+
			"restore the data directory from a backup, or start this member afresh with -f and let it rejoin", dataDir, scan.firstIndex)
	}
	if err := clampConfCommitIndex(filepath.Join(dataDir, "conf"), last); err != nil {
		return nil, err
	}
	// A compaction interrupted by a crash leaves log.new behind, and goraft
	// appends to it rather than starting it afresh.
	if err := removeStaleCompaction(dataDir); err != nil {
		return nil, err
	}
	return snap, nil
}

// maxLogRecord bounds one record's length, so a corrupt header is not taken
// for a huge record.
const maxLogRecord = 256 << 20

// logScan is what repairLog found in the log file.
type logScan struct {
	firstIndex uint64 // index of the first record, 0 if there is none
	lastIndex  uint64
	records    int
	dropped    int64 // bytes cut from a torn tail
}

// repairLog truncates the log at path after its last complete record when
// what follows is a torn write: a record cut short, or zeros where the file
// system had not yet written the data. Anything else after a good record (a
// complete record out of sequence, bytes that are not a record) is
// corruption that cutting would turn into silent data loss, and is refused.
func repairLog(path string) (logScan, error) {
	var scan logScan
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return scan, nil
	}
	if err != nil {
		return scan, fmt.Errorf("open raft log: %w", err)
	}
	defer f.Close()

	r := bufio.NewReaderSize(f, 1<<20)
	var good int64
	var header [9]byte
	var entry protobuf.LogEntry
	var problem string
	for {
		if _, err := io.ReadFull(r, header[:]); err == io.EOF {
			break
		} else if err != nil {
			problem = tornRecord
			break
		}
		length, ok := parseRecordHeader(header[:])
		if !ok {
			problem = tornOrCorrupt(header[:], r, "bytes that are not a log record")
			break
		}
		data := make([]byte, length)
		if n, err := io.ReadFull(r, data); err != nil {
			problem = tornOrCorruptLength(data[:n], scan.lastIndex)
			break
		}
		entry.Reset()
		if err := proto.Unmarshal(data, &entry); err != nil || entry.Index == nil || entry.Term == nil {
			problem = tornOrCorrupt(data, r, "a record that does not decode")
			break
		}
		index := entry.GetIndex()
		if scan.records > 0 && index != scan.lastIndex+1 {
			problem = fmt.Sprintf("corrupt: entry %d follows entry %d", index, scan.lastIndex)
			break
		}
		if scan.records == 0 {
			scan.firstIndex = index
		}
		scan.lastIndex = index
		scan.records++
		good += int64(len(header)) + int64(length)
	}
	if problem == "" {
		return scan, nil
	}
	if !strings.HasPrefix(problem, "torn") {
		return scan, fmt.Errorf("raft log %s is %s, at byte %d after index %d; refusing to start (move the log aside, or use -f to start afresh)",
			path, strings.TrimPrefix(problem, "corrupt: "), good, scan.lastIndex)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return scan, fmt.Errorf("raft log size: %w", err)
	}
	scan.dropped = size - good
	if err := f.Truncate(good); err != nil {
		return scan, fmt.Errorf("truncate raft log to %d bytes: %w", good, err)
	}
	if err := f.Sync(); err != nil {
		return scan, fmt.Errorf("sync raft log: %w", err)
	}
	return scan, nil
}

// tornRecord describes a record cut short by the end of the file.
const tornRecord = "torn: the last record is incomplete"

// tornOrCorruptLength judges a record whose header claims more bytes than
// the file holds. A write torn by a crash leaves at most the beginning of
// one record; a corrupt length header in the middle of the log leaves whole
// records behind it, which cutting would silently drop. So rest, the bytes
// after the header, is torn only if no later record can be found in it.
func tornOrCorruptLength(rest []byte, lastIndex uint64) string {
	var entry protobuf.LogEntry
	for at := 0; at+9 <= len(rest); at++ {
		length, ok := parseRecordHeader(rest[at : at+9])
		if !ok || at+9+length > len(rest) {
			continue
		}
		entry.Reset()
		if proto.Unmarshal(rest[at+9:at+9+length], &entry) == nil && entry.Index != nil && entry.Term != nil && entry.GetIndex() > lastIndex {
			return fmt.Sprintf("corrupt: a record length that runs past the end of the file, with entry %d after it", entry.GetIndex())
		}
	}
	return tornRecord
}

// tornOrCorrupt tells a torn write, where the file system left zeros in
// place of data, from corruption: it is torn only if read and everything
// after it are zeros.
func tornOrCorrupt(read []byte, rest io.Reader, what string) string {
	if allZero(read) {
		var buf [64 << 10]byte
		for {
			n, err := rest.Read(buf[:])
			if !allZero(buf[:n]) {
				break
			}
			if err != nil {
				return "torn: zeros after the last record"
			}
		}
	}
	return "corrupt: " + what
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseRecordHeader reads goraft's "%8x\n" length header.
func parseRecordHeader(h []byte) (int, bool) {
	if h[8] != '\n' {
		return 0, false
	}
	digits := strings.TrimLeft(string(h[:8]), " ")
	if digits == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 16, 32)
	if err != nil || n > maxLogRecord {
		return 0, false
	}
	return int(n), true
}

// snapshotFile is one of goraft's TERM_INDEX.ss files.
type snapshotFile struct {
	name        string
	term, index uint64
}

// pruneSnapshots leaves in dir only the newest snapshot whose checksum is
// valid. goraft loads whichever name sorts last as a string ("9_100.ss"
// after "10_50.ss") and writes snapshots in place, so a crash can leave a
// torn newest file beside the previous good one. It returns the snapshot
// kept, if any.
func pruneSnapshots(dir string) (*snapshotFile, error) {
	names, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot dir: %w", err)
	}
	var files []snapshotFile
	for _, de := range names {
		if sf, ok := parseSnapshotName(de.Name()); ok {
			files = append(files, sf)
		}
	}
	sort.Slice(files, func(i, j int) bool {
		if files[i].index != files[j].index {
			return files[i].index > files[j].index
		}
		return files[i].term > files[j].term
	})
	var kept *snapshotFile
	for i := range files {
		path := filepath.Join(dir, files[i].name)
		if kept == nil {
			if err := checkSnapshot(path); err == nil {
				kept = &files[i]
				continue
			} else {
				log.Printf("snapshot %s is unusable, removing it: %v", path, err)
			}
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("remove snapshot: %w", err)
		}
	}
	return kept, nil
}

// parseSnapshotName reads goraft's TERM_INDEX.ss file name.
func parseSnapshotName(name string) (snapshotFile, bool) {
	sf := snapshotFile{name: name}
	if _, err := fmt.Sscanf(name, "%d_%d.ss", &sf.term, &sf.index); err != nil || !strings.HasSuffix(name, ".ss") {
		return snapshotFile{}, false
	}
	return sf, true
}

// checkSnapshot verifies the CRC-32 line goraft writes before the JSON.
func checkSnapshot(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	line, body, ok := strings.Cut(string(b), "\n")
	if !ok {
		return errors.New("no checksum line")
	}
	sum, err := strconv.ParseUint(line, 16, 32)
	if err != nil {
		return fmt.Errorf("bad checksum line: %w", err)
	}
	if crc32.ChecksumIEEE([]byte(body)) != uint32(sum) {
		return errors.New("checksum mismatch")
	}
	return nil
}

// clampConfCommitIndex lowers the commit index saved in goraft's conf file
// to the last index the log (or snapshot) really holds. conf is flushed
// while entries are applied, possibly before the log reaches the disk; after
// a power loss it could claim entries the log lost, and goraft would then
// refuse to apply anything below that claim.
func clampConfCommitIndex(path string, last uint64) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read raft conf: %w", err)
	}
	var conf map[string]json.RawMessage
	if err := json.Unmarshal(b, &conf); err != nil {
		return fmt.Errorf("raft conf %s is corrupt: %w", path, err)
	}
	var commitIndex uint64
	if raw, ok := conf["commitIndex"]; ok {
		if err := json.Unmarshal(raw, &commitIndex); err != nil {
			return fmt.Errorf("raft conf %s: bad commitIndex: %w", path, err)
		}
	}
	if commitIndex <= last {
		return nil
	}
	log.Printf("raft conf: commit index %d is past the log's end at %d; lowering it", commitIndex, last)
	conf["commitIndex"] = json.RawMessage(strconv.FormatUint(last, 10))
	out, err := json.Marshal(conf)
	if err != nil {
		return err
	}
	return WriteFileSynced(path, out)
}

// removeStaleCompaction removes the new log file a compaction writes before
// renaming it over the log, if a crash left one.
func removeStaleCompaction(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, "log.new"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale log.new: %w", err)
	}
	return nil
}
