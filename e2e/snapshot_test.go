package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestSnapshotRestart fills a node until it snapshots and compacts its log,
// then crashes it and checks that the snapshot plus the rest of the log
// bring everything back.
func TestSnapshotRestart(t *testing.T) {
	t.Parallel()
	n := startNode(t, "snap", "-snapshotCount", "200")
	logPath := filepath.Join(n.dataDir, "log")

	// Keys with a TTL go into the snapshot with their expiration.
	longTTL := n.set("/snapttl/long", "stays", "ttl", "100")
	shortSetAt := time.Now()
	n.set("/snapttl/short", "goes", "ttl", "2")

	acks := writeKeys(t, n, "/snap", 1000, 8, nil)
	if len(acks) != 1000 {
		t.Fatalf("%d of 1000 writes acknowledged", len(acks))
	}
	if t.Failed() {
		t.FailNow()
	}

	// A snapshot appears, and the log behind it is compacted: the first keys
	// written are no longer in it.
	var snaps []string
	testnode.WaitFor(t, 15*time.Second, "a *.ss file in DATADIR/snapshot", func() (bool, string) {
		snaps, _ = filepath.Glob(filepath.Join(n.dataDir, "snapshot", "*.ss"))
		return len(snaps) > 0, "no snapshot file"
	})
	first := []byte(`"/snap/k0000"`)
	testnode.WaitFor(t, 15*time.Second, "the log to be compacted past the first write", func() (bool, string) {
		b, err := os.ReadFile(logPath)
		if err != nil {
			return false, err.Error()
		}
		return !bytes.Contains(b, first), "the log of " + sizeOf(logPath) + " still holds " + string(first)
	})
	for _, s := range snaps {
		if !validSnapshotName(filepath.Base(s)) {
			t.Fatalf("snapshot file %s is not named TERM_INDEX.ss", s)
		}
	}
	// goraft's snapshot names the state, in a file of the node's own;
	// goraft would hold it in memory, and write it base64 in its JSON.
	stateFile(t, n, snaps[len(snaps)-1])
	compacted := fileSize(t, logPath)

	more := writeKeys(t, n, "/snap/more", 50, 4, nil)
	if len(more) != 50 {
		t.Fatalf("%d of 50 more writes acknowledged", len(more))
	}
	all := append(append([]ack{}, acks...), more...)
	var maxIndex uint64
	for _, a := range all {
		maxIndex = max(maxIndex, a.index)
	}
	n.crash()
	t.Logf("log %d bytes after compaction; snapshots %v", compacted, snaps)

	n.restart()
	checkAcked(t, n, all, false)

	// The watch history came back too (SPEC 10: the snapshot holds it): the
	// newest writes are found by a watch from their index, the oldest are
	// reported as cleared from the default history of 1024 events.
	sort.Slice(all, func(i, j int) bool { return all[i].index < all[j].index })
	checkAcked(t, n, all[len(all)-500:], true)
	expectError(t, n.do(http.MethodPost, "/v1/watch/snap", form("index", fmt.Sprint(all[0].index))), http.StatusBadRequest, 401)

	// The TTL keys: the long one kept its expiration, the short one is gone
	// within 2 s + 2 s of being set.
	if e := n.get("/snapttl/long"); e.Value != "stays" || !sameInstant(e.Expiration, longTTL.Expiration) {
		t.Fatalf("/snapttl/long after the restart: %+v, want value stays and expiration %s", e, longTTL.Expiration)
	}
	testnode.WaitFor(t, time.Until(shortSetAt.Add(4*time.Second)), "/snapttl/short (ttl=2) to expire", func() (bool, string) {
		r := n.do(http.MethodGet, "/v1/keys/snapttl/short", nil)
		return r.Status == http.StatusNotFound, r.String()
	})
	got := 0
	for k, v := range n.tree("/snap") {
		if v != "<dir>" {
			got++
		}
		if !strings.HasPrefix(k, "/snap/") {
			t.Fatalf("unexpected key %s", k)
		}
	}
	if got != 1050 {
		t.Fatalf("%d keys under /snap after the restart, want 1050", got)
	}
	if e := n.set("/after-restart", "x"); e.Index <= maxIndex {
		t.Fatalf("first write after the restart has index %d, not above the last acknowledged %d", e.Index, maxIndex)
	}

	// And once more, now that the restarted node has written its own log.
	n.crash()
	n.restart()
	if e := n.get("/snap/k0000"); e.Value != "value-0000" {
		t.Fatalf("/snap/k0000 = %q after a second restart", e.Value)
	}
	if e := n.get("/after-restart"); e.Value != "x" {
		t.Fatalf("/after-restart = %q after a second restart", e.Value)
	}
}

// TestSnapshotOfEarlierVersionStillLoads: earlier versions saved the store
// inside goraft's snapshot file; a data directory they left must start.
func TestSnapshotOfEarlierVersionStillLoads(t *testing.T) {
	t.Parallel()
	n := startNode(t, "inline", "-snapshotCount", "200")
	// One writer: concurrent writes share log entries, and snapshots come
	// every 200 entries.
	acks := writeKeys(t, n, "/inline", 500, 1, nil)
	if len(acks) != 500 {
		t.Fatalf("%d of 500 writes acknowledged", len(acks))
	}
	var snaps []string
	testnode.WaitFor(t, 15*time.Second, "a *.ss file in DATADIR/snapshot", func() (bool, string) {
		snaps, _ = filepath.Glob(filepath.Join(n.dataDir, "snapshot", "*.ss"))
		return len(snaps) > 0, "no snapshot file"
	})
	n.stop()
	// Put the state back inside goraft's snapshot, as earlier versions had it.
	snap := snaps[len(snaps)-1]
	state, err := os.ReadFile(stateFile(t, n, snap))
	if err != nil {
		t.Fatal(err)
	}
	fields := readSnapshot(t, snap)
	if fields["state"], err = json.Marshal(state); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snap, fmt.Appendf(nil, "%08x\n%s", crc32.ChecksumIEEE(body), body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(n.dataDir, "state")); err != nil {
		t.Fatal(err)
	}

	n.restart()
	checkAcked(t, n, acks, false)
	// Its next snapshot is in a state file again.
	more := writeKeys(t, n, "/inline/more", 300, 1, nil)
	testnode.WaitFor(t, 15*time.Second, "a snapshot with a state file", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(n.dataDir, "state", "state-*.json"))
		return len(files) > 0, "no state file"
	})
	n.crash()
	n.restart()
	checkAcked(t, n, append(acks, more...), false)
}

// readSnapshot returns the fields of goraft's snapshot file at path, after
// checking its CRC line.
func readSnapshot(t *testing.T, path string) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, body, _ := bytes.Cut(b, []byte("\n"))
	if want := fmt.Sprintf("%08x", crc32.ChecksumIEEE(body)); string(sum) != want {
		t.Fatalf("snapshot %s: CRC line %q, want %q", path, sum, want)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		t.Fatalf("snapshot %s: %v", path, err)
	}
	return fields
}

// stateFile is the path of the file holding the state of the node's
// snapshot at path, which must exist.
func stateFile(t *testing.T, n *node, path string) string {
	t.Helper()
	var state []byte
	if err := json.Unmarshal(readSnapshot(t, path)["state"], &state); err != nil {
		t.Fatalf("snapshot %s: state: %v", path, err)
	}
	var ref struct {
		File string `json:"storeFile"`
	}
	if err := json.Unmarshal(state, &ref); err != nil || !strings.HasPrefix(ref.File, "state-") || strings.Contains(ref.File, "/") {
		t.Fatalf("snapshot %s holds the state %.100q..., not the name of a state file (%v)", path, state, err)
	}
	file := filepath.Join(n.dataDir, "state", ref.File)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("snapshot %s names a state file: %v", path, err)
	}
	return file
}

func validSnapshotName(name string) bool {
	base, ok := strings.CutSuffix(name, ".ss")
	term, index, ok2 := strings.Cut(base, "_")
	return ok && ok2 && isDigits(term) && isDigits(index)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func sizeOf(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes", fi.Size())
}

// TestStaleCompactionFile: goraft compacts the log by writing DATADIR/log.new
// and renaming it over DATADIR/log. A crash between the two leaves log.new
// behind (TestCrashLoop hits that now and then). The next compaction must
// not build on it: acknowledged writes made after it must survive a restart.
func TestStaleCompactionFile(t *testing.T) {
	t.Parallel()
	n := startNode(t, "stale", "-snapshotCount", "100")
	logPath := filepath.Join(n.dataDir, "log")
	snapshots := func() []string {
		names, _ := filepath.Glob(filepath.Join(n.dataDir, "snapshot", "*.ss"))
		return names
	}
	compactedPast := func(key string) {
		t.Helper()
		needle := []byte(`"` + key + `"`)
		testnode.WaitFor(t, 15*time.Second, "the log to be compacted past "+key, func() (bool, string) {
			b, err := os.ReadFile(logPath)
			if err != nil {
				return false, err.Error()
			}
			return !bytes.Contains(b, needle), fmt.Sprintf("log of %d bytes still holds %s; snapshots %v", len(b), needle, snapshots())
		})
	}

	a := writeKeys(t, n, "/a", 400, 4, nil)
	compactedPast("/a/k0000")
	n.crash()
	// What a crash after writing log.new and before renaming it leaves: a
	// log.new holding the entries after the compaction point.
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(logPath+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	n.restart()
	checkAcked(t, n, a, false)

	// A new snapshot, and a compaction past the first of these writes.
	bAcks := writeKeys(t, n, "/b", 400, 4, nil)
	compactedPast("/b/k0000")
	c := writeKeys(t, n, "/c", 50, 4, nil)
	if len(a) != 400 || len(bAcks) != 400 || len(c) != 50 {
		t.Fatalf("acknowledged %d, %d, %d writes; want 400, 400, 50", len(a), len(bAcks), len(c))
	}
	n.crash()
	n.restart()
	checkAcked(t, n, append(append(append([]ack{}, a...), bAcks...), c...), false)
}
