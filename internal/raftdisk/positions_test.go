package raftdisk

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"

	"github.com/etcd-recreation/etcd/store"
)

type nullTransporter struct{}

func (nullTransporter) SendVoteRequest(raft.Server, *raft.Peer, *raft.RequestVoteRequest) *raft.RequestVoteResponse {
	return nil
}

func (nullTransporter) SendAppendEntriesRequest(raft.Server, *raft.Peer, *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	return nil
}

func (nullTransporter) SendSnapshotRequest(raft.Server, *raft.Peer, *raft.SnapshotRequest) *raft.SnapshotResponse {
	return nil
}

func (nullTransporter) SendSnapshotRecoveryRequest(raft.Server, *raft.Peer, *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	return nil
}

// blockingState is a state machine that saves an empty state through the
// Dir, as the node saves its own. When release is set, Save waits for it
// before it writes the state file, or after when afterSave is set.
type blockingState struct {
	d         *Dir
	saving    chan struct{} // closed when Save starts
	release   chan struct{}
	afterSave bool
}

func (b *blockingState) useDir(d *Dir) { b.d = d }

func (b *blockingState) Save() ([]byte, error) {
	if b.release != nil && !b.afterSave {
		close(b.saving)
		<-b.release
	}
	ref, err := b.d.SaveState(0, func(w io.Writer) error {
		_, err := io.WriteString(w, "{}")
		return err
	})
	if b.release != nil && b.afterSave {
		close(b.saving)
		<-b.release
	}
	return ref, err
}

func (*blockingState) Recovery([]byte) error { return nil }

// nops are no-op entries first..last of a term, as a leader would send them.
func nops(first, last, term uint64) []*protobuf.LogEntry {
	var out []*protobuf.LogEntry
	for i := first; i <= last; i++ {
		out = append(out, &protobuf.LogEntry{Index: proto.Uint64(i), Term: proto.Uint64(term), CommandName: proto.String("raft:nop")})
	}
	return out
}

// follower is a real goraft server that never campaigns, over a Dir.
type follower struct {
	t   *testing.T
	dir string
	srv raft.Server
	d   *Dir
}

func startFollower(t *testing.T, sm raft.StateMachine) *follower {
	t.Helper()
	dir := t.TempDir()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := sm.(interface{ useDir(*Dir) }); ok {
		s.useDir(d)
	}
	srv, err := raft.NewServer("follower", dir, nullTransporter{}, sm, sm, "")
	if err != nil {
		t.Fatal(err)
	}
	srv.SetElectionTimeout(time.Hour)
	if err := d.LoadSnapshot(srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Init(); err != nil {
		t.Fatal(err)
	}
	if err := d.Attach(srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		d.Close()
	})
	return &follower{t: t, dir: dir, srv: srv, d: d}
}

func (f *follower) appendFrom(term, prevIndex, prevTerm, commit uint64, entries []*protobuf.LogEntry) {
	f.t.Helper()
	resp := f.d.Append(f.srv, &raft.AppendEntriesRequest{Term: term, PrevLogIndex: prevIndex, PrevLogTerm: prevTerm,
		CommitIndex: commit, LeaderName: "leader", Entries: entries})
	if resp == nil || !resp.Success() {
		f.t.Fatalf("append after %d in term %d refused", prevIndex, term)
	}
}

// checkFile checks that the log file reads back as whole records up to
// wantLast.
func (f *follower) checkFile(wantLast uint64) {
	f.t.Helper()
	scan, err := repairLog(filepath.Join(f.dir, "log"))
	if err != nil || scan.dropped != 0 || scan.lastIndex != wantLast {
		f.t.Fatalf("log file: %+v, %v; want whole records up to %d", scan, err, wantLast)
	}
}

// TestLogPositionsSurviveTruncation drives a real goraft follower through
// the two cases where goraft records wrong file positions (a batch append,
// and a compaction), then makes a new leader replace the follower's tail:
// the log file must still read back whole.
func TestLogPositionsSurviveTruncation(t *testing.T) {
	f := startFollower(t, &blockingState{})

	// A batch of 300, committed up to 250, then a snapshot that compacts.
	f.appendFrom(1, 0, 0, 250, nops(1, 300, 1))
	if err := f.d.TakeSnapshot(f.srv); err != nil {
		t.Fatal(err)
	}
	if first := firstIndex(f.srv); first <= 1 {
		t.Fatalf("no compaction happened (first index %d)", first)
	}
	f.checkFile(300)

	// A new leader of term 2 replaces everything after 280.
	f.appendFrom(2, 280, 1, 250, nops(281, 290, 2))
	f.checkFile(290)

	// And another, of term 3, everything after 285: a cut inside the last batch.
	f.appendFrom(3, 285, 2, 250, nops(286, 295, 3))
	f.checkFile(295)
}

// TestAppendsGoOnDuringSnapshot: once the state is saved, goraft writes the
// snapshot and compacts the log; appends that do not cut the log go on
// meanwhile. One that cuts waits for the compaction to end, and the log
// file reads back whole after it.
func TestAppendsGoOnDuringSnapshot(t *testing.T) {
	sm := &blockingState{}
	f := startFollower(t, sm)
	f.appendFrom(1, 0, 0, 250, nops(1, 300, 1))

	sm.saving, sm.release, sm.afterSave = make(chan struct{}), make(chan struct{}), true
	snapshotted := make(chan error, 1)
	go func() { snapshotted <- f.d.TakeSnapshot(f.srv) }()
	<-sm.saving

	appended := make(chan struct{})
	go func() {
		f.appendFrom(1, 300, 1, 300, nops(301, 310, 1))
		close(appended)
	}()
	select {
	case <-appended:
	case <-time.After(10 * time.Second):
		t.Fatal("an append that does not cut the log waited for the snapshot")
	}

	cut := make(chan struct{})
	go func() {
		f.appendFrom(2, 305, 1, 300, nops(306, 320, 2))
		close(cut)
	}()
	close(sm.release)
	if err := <-snapshotted; err != nil {
		t.Fatal(err)
	}
	<-cut
	f.checkFile(320)
}

// TestTakeSnapshotReportsLostSnapshot: goraft compacts its log even when it
// could not write the snapshot; the data directory then has a gap that a
// restart must not paper over.
func TestTakeSnapshotReportsLostSnapshot(t *testing.T) {
	f := startFollower(t, &blockingState{})
	f.appendFrom(1, 0, 0, 300, nops(1, 300, 1))
	snapDir := filepath.Join(f.dir, "snapshot")
	if err := os.RemoveAll(snapDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(snapDir, nil, 0o600); err != nil { // no directory: the save fails
		t.Fatal(err)
	}
	if err := f.d.TakeSnapshot(f.srv); !errors.Is(err, ErrSnapshotLost) {
		t.Fatalf("TakeSnapshot = %v, want ErrSnapshotLost", err)
	}
	if first := firstIndex(f.srv); first <= 1 {
		t.Fatalf("goraft did not compact (first index %d): the test no longer reproduces the bug", first)
	}
	if err := os.Remove(snapDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(f.dir); err == nil {
		t.Fatal("Open accepted a log that starts after every snapshot ends")
	}
}

// savingStore is a real store, saved through the Dir, whose Save reports
// when it starts and ends.
type savingStore struct {
	*store.Store
	d                 *Dir
	started, finished chan struct{}
}

func (s *savingStore) useDir(d *Dir) { s.d = d }

func (s *savingStore) Save() ([]byte, error) {
	close(s.started)
	defer close(s.finished)
	return s.d.SaveState(s.Index(), s.SaveTo)
}

func (s *savingStore) Recovery(b []byte) error { return s.Recover(b) }

// TestAppendsGoOnWhileALargeStoreIsSaved: saving 100,000 keys takes longer
// than an election timeout; the appends a follower receives meanwhile must
// not wait for it, or its leader's heartbeats time out.
func TestAppendsGoOnWhileALargeStoreIsSaved(t *testing.T) {
	st := store.New(0)
	for i := range 100_000 {
		if _, err := st.Set(fmt.Sprintf("/dir%d/key%d", i%100, i), "a value of some length", time.Time{}, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	sm := &savingStore{Store: st, started: make(chan struct{}), finished: make(chan struct{})}
	f := startFollower(t, sm)
	f.appendFrom(1, 0, 0, 300, nops(1, 300, 1))

	snapshotted := make(chan error, 1)
	go func() { snapshotted <- f.d.TakeSnapshot(f.srv) }()
	<-sm.started
	f.appendFrom(1, 300, 1, 301, nops(301, 301, 1))
	select {
	case <-sm.finished:
		t.Error("an append waited until the store was saved")
	default:
	}
	if err := <-snapshotted; err != nil {
		t.Fatal(err)
	}
}

// TestCuttingAppendGoesOnWhileTheStateIsSaved: saving a large store takes
// longer than an election timeout, and a new leader's append that replaces
// the follower's tail must not wait for it, or that leader's heartbeats
// time out and the follower campaigns. The positions are right after the
// compaction that follows: a later cut keeps the log file whole.
func TestCuttingAppendGoesOnWhileTheStateIsSaved(t *testing.T) {
	sm := &blockingState{}
	f := startFollower(t, sm)
	f.appendFrom(1, 0, 0, 250, nops(1, 300, 1))

	sm.saving, sm.release = make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(sm.release) }) }
	t.Cleanup(release)
	snapshotted := make(chan error, 1)
	go func() { snapshotted <- f.d.TakeSnapshot(f.srv) }()
	<-sm.saving

	cut := make(chan *raft.AppendEntriesResponse, 1)
	go func() {
		cut <- f.d.Append(f.srv, &raft.AppendEntriesRequest{Term: 2, PrevLogIndex: 280, PrevLogTerm: 1,
			CommitIndex: 250, LeaderName: "leader", Entries: nops(281, 290, 2)})
	}()
	select {
	case resp := <-cut:
		if resp == nil || !resp.Success() {
			t.Fatalf("the new leader's append was refused: %+v", resp)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("an append that cuts the log waited for the state to be saved")
	}
	release()
	if err := <-snapshotted; err != nil {
		t.Fatal(err)
	}
	if first := firstIndex(f.srv); first <= 1 {
		t.Fatalf("no compaction happened (first index %d)", first)
	}
	f.checkFile(290)
	f.appendFrom(3, 285, 2, 250, nops(286, 295, 3))
	f.checkFile(295)
}
