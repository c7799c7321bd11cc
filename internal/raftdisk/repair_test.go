package raftdisk

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft/protobuf"
)

// logRecord encodes one entry as goraft writes it: "%8x\n" then protobuf.
func logRecord(t *testing.T, index, term uint64) []byte {
	t.Helper()
	b, err := proto.Marshal(&protobuf.LogEntry{
		Index:       proto.Uint64(index),
		Term:        proto.Uint64(term),
		CommandName: proto.String("etcd:set"),
		Command:     []byte(`{"key":"k","value":"v"}` + "\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(fmt.Sprintf("%8x\n", len(b))), b...)
}

func TestRepairLog(t *testing.T) {
	var good []byte
	for i := uint64(1); i <= 3; i++ {
		good = append(good, logRecord(t, i, 1)...)
	}
	fourth := logRecord(t, 4, 1)
	tests := []struct {
		name    string
		tail    []byte
		records int // records kept; -1: the log is refused
	}{
		{"clean", nil, 3},
		{"torn header", fourth[:5], 3},
		{"torn body", fourth[:len(fourth)-3], 3},
		{"zero-filled hole", make([]byte, 64), 3},
		{"header then zeros", append(append([]byte{}, fourth[:9]...), make([]byte, len(fourth)-9)...), 3},
		{"garbage", []byte("not a raft record at all\n"), -1},
		{"index gap", logRecord(t, 9, 1), -1},
		// A length header whose digits a bad sector changed, with whole
		// records after it: cutting there would drop entries 5 and 6.
		{"corrupt length mid-log", append(append(append([]byte{}, []byte("    ffff\n")...), fourth[9:]...), append(logRecord(t, 5, 1), logRecord(t, 6, 1)...)...), -1},
		{"complete fourth", fourth, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			data := append(append([]byte{}, good...), tt.tail...)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			scan, err := repairLog(path)
			if tt.records < 0 {
				got, _ := os.ReadFile(path)
				if err == nil || !bytes.Equal(got, data) {
					t.Fatalf("corrupt log: err %v, %d of %d bytes left; want an error and the log untouched", err, len(got), len(data))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if scan.records != tt.records || scan.firstIndex != 1 || scan.lastIndex != uint64(tt.records) {
				t.Fatalf("scan = %+v, want %d records from index 1", scan, tt.records)
			}
			got, _ := os.ReadFile(path)
			want := good
			if tt.records == 4 {
				want = data
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("log has %d bytes after repair, want %d", len(got), len(want))
			}
			if scan.dropped != int64(len(data)-len(want)) {
				t.Fatalf("dropped %d bytes, want %d", scan.dropped, len(data)-len(want))
			}
		})
	}
}

func TestRepairLogMissingFile(t *testing.T) {
	scan, err := repairLog(filepath.Join(t.TempDir(), "log"))
	if err != nil || scan.records != 0 {
		t.Fatalf("repairLog of a missing file = %+v, %v", scan, err)
	}
}

func writeSnapshot(t *testing.T, dir, name string, valid bool) {
	t.Helper()
	body := `{"lastIndex":1,"lastTerm":1,"peers":[],"state":"e30="}`
	sum := crc32.ChecksumIEEE([]byte(body))
	if !valid {
		sum++
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("%08x\n%s", sum, body)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPruneSnapshotsKeepsNewestValid(t *testing.T) {
	dir := t.TempDir()
	writeSnapshot(t, dir, "9_100.ss", true)
	writeSnapshot(t, dir, "10_50.ss", true)
	writeSnapshot(t, dir, "10_1000.ss", true)
	writeSnapshot(t, dir, "11_2000.ss", false) // torn by a crash while written
	kept, err := pruneSnapshots(dir)
	if err != nil {
		t.Fatal(err)
	}
	if kept == nil || kept.name != "10_1000.ss" {
		t.Fatalf("kept %+v, want 10_1000.ss", kept)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "*.ss"))
	if len(left) != 1 || filepath.Base(left[0]) != "10_1000.ss" {
		t.Fatalf("left %v, want only 10_1000.ss", left)
	}
}

func TestPruneSnapshotsWithoutDir(t *testing.T) {
	kept, err := pruneSnapshots(filepath.Join(t.TempDir(), "snapshot"))
	if kept != nil || err != nil {
		t.Fatalf("pruneSnapshots of a missing dir = %v, %v", kept, err)
	}
}

func TestClampConfCommitIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf")
	conf := `{"commitIndex":40,"peers":[{"name":"n2","connectionString":"http://127.0.0.1:7002"}]}`
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := clampConfCommitIndex(path, 50); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != conf {
		t.Fatalf("conf within the log changed: %s", b)
	}
	if err := clampConfCommitIndex(path, 30); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var got struct {
		CommitIndex uint64            `json:"commitIndex"`
		Peers       []json.RawMessage `json:"peers"`
	}
	if err := json.Unmarshal(b, &got); err != nil || got.CommitIndex != 30 || len(got.Peers) != 1 {
		t.Fatalf("clamped conf = %s (%v)", b, err)
	}
}

func TestRecoverDataDirRefusesGapAfterSnapshot(t *testing.T) {
	dir := t.TempDir()
	var log []byte
	for i := uint64(300); i <= 310; i++ {
		log = append(log, logRecord(t, i, 1)...)
	}
	if err := os.WriteFile(filepath.Join(dir, "log"), log, 0o600); err != nil {
		t.Fatal(err)
	}
	snapDir := filepath.Join(dir, "snapshot")
	if err := os.Mkdir(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSnapshot(t, snapDir, "1_100.ss", true)
	_, err := recoverDataDir(dir)
	if err == nil || !strings.Contains(err.Error(), "entries 101 to 299 are lost") || !strings.Contains(err.Error(), "-f") {
		t.Fatalf("recoverDataDir = %v; want a refusal naming the lost entries and how to recover", err)
	}

	// A snapshot that reaches the log's start is sound.
	writeSnapshot(t, snapDir, "1_299.ss", true)
	if snap, err := recoverDataDir(dir); err != nil || snap == nil || snap.index != 299 {
		t.Fatalf("recoverDataDir = %+v, %v; want the snapshot at 299", snap, err)
	}
}
