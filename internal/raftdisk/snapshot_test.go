package raftdisk

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"

	"github.com/etcd-recreation/etcd/store"
)

// testSet is a store write as a log entry, applied at the entry's position
// as the node applies its own.
type testSet struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func init() { raft.RegisterCommand(&testSet{}) }

func (*testSet) CommandName() string { return "raftdisk-test:set" }

func (c *testSet) Apply(ctx raft.Context) (any, error) {
	st := ctx.Server().Context().(*storeMachine).Store
	return st.Set(c.Key, c.Value, time.Time{}, min(ctx.CurrentIndex(), ctx.CommitIndex()))
}

// storeMachine is a real store saved as the node saves its own: through
// Dir.SaveState, into a state file.
type storeMachine struct {
	*store.Store
	d *Dir
	// beforeSave, if set, runs as goraft asks for the state.
	beforeSave func()
}

func (m *storeMachine) useDir(d *Dir) { m.d = d }

func (m *storeMachine) Save() ([]byte, error) {
	if m.beforeSave != nil {
		m.beforeSave()
	}
	return m.d.SaveState(m.Index(), m.SaveTo)
}

func (m *storeMachine) Recovery(state []byte) error {
	sf, _, err := StateRef(state)
	if err != nil {
		return err
	}
	r, err := m.d.OpenState(sf)
	if err != nil {
		return err
	}
	defer r.Close()
	return m.RecoverFrom(r)
}

// loneNode is a real goraft node without peers over a Dir, which leads
// once it has founded its cluster or restarted.
type loneNode struct {
	t   *testing.T
	srv raft.Server
	d   *Dir
	sm  *storeMachine
	// durable is the length of the log file when the last sync through the
	// Dir started: what a power cut leaves of it, as goraft itself never
	// syncs the log of a node without peers.
	durable atomic.Int64
}

func startLoneNode(t *testing.T, dir string) *loneNode {
	t.Helper()
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := &loneNode{t: t, d: d, sm: &storeMachine{Store: store.New(0), d: d}}
	srv, err := raft.NewServer("lone", dir, nullTransporter{}, n.sm, n.sm, "")
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	srv.SetElectionTimeout(50 * time.Millisecond)
	srv.SetHeartbeatInterval(10 * time.Millisecond)
	if err := d.LoadSnapshot(srv); err != nil {
		t.Fatal(err)
	}
	if err := srv.Init(); err != nil {
		t.Fatal(err)
	}
	if err := d.Attach(srv); err != nil {
		t.Fatal(err)
	}
	d.syncer.flush = func(f *os.File) error {
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			return err
		}
		n.durable.Store(max(n.durable.Load(), info.Size()))
		return nil
	}
	fresh := srv.IsLogEmpty()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.stop)
	if fresh {
		if _, err := srv.Do(&raft.DefaultJoinCommand{Name: "lone"}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.State() != raft.Leader {
		if time.Now().After(deadline) {
			t.Fatalf("the lone node is %s, not leader, after 10 s", srv.State())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

func (n *loneNode) stop() {
	n.srv.Stop()
	n.d.Close()
}

func (n *loneNode) set(key, value string) {
	n.t.Helper()
	if _, err := n.srv.Do(&testSet{Key: key, Value: value}); err != nil {
		n.t.Fatalf("set %s: %v", key, err)
	}
}

// cutPower stops the node and leaves its log as a power cut would: what
// was not synced is gone. Everything else it wrote (snapshot, state file)
// goraft or the Dir synced.
func (n *loneNode) cutPower() {
	n.t.Helper()
	n.stop()
	logPath := filepath.Join(n.srv.Path(), "log")
	info, err := os.Stat(logPath)
	if err != nil {
		n.t.Fatal(err)
	}
	if n.durable.Load() < info.Size() {
		n.t.Logf("the power cut takes %d bytes off the log's %d", info.Size()-n.durable.Load(), info.Size())
	}
	if err := os.Truncate(logPath, n.durable.Load()); err != nil {
		n.t.Fatal(err)
	}
}

// TestSnapshotHoldsNothingTheLogMayLose: a lone node applies an entry
// before its log is synced (the sync comes before the client's answer).
// A snapshot taken meanwhile holds the entry: without a sync before the
// snapshot is written, a power cut leaves a log that ends before the
// state the snapshot holds, and the writes after the restart land at
// positions the state already counts as applied: they are never applied.
func TestSnapshotHoldsNothingTheLogMayLose(t *testing.T) {
	dir := t.TempDir()
	n := startLoneNode(t, dir)
	for _, k := range []string{"/a", "/b", "/c"} {
		n.set(k, "acknowledged")
	}
	if err := n.d.Sync(); err != nil {
		t.Fatal(err)
	}
	// Applied, not yet synced, not yet answered.
	n.set("/d", "in flight")
	// And more applied after goraft chose the snapshot's index, before the
	// store was saved: the state runs ahead of the index.
	n.sm.beforeSave = func() {
		n.set("/e", "in flight")
		n.set("/f", "in flight")
	}
	if err := n.d.TakeSnapshot(n.srv); err != nil {
		t.Fatal(err)
	}
	n.cutPower()

	n = startLoneNode(t, dir)
	if _, err := n.srv.Do(&testSet{Key: "/after", Value: "the power cut"}); err != nil {
		if errors.Is(err, store.ErrAlreadyApplied) {
			t.Fatalf("a write after the restart was taken for one the snapshot holds, and never applied: %v", err)
		}
		t.Fatal(err)
	}
	if evs, _, err := n.sm.Get("/after"); err != nil || len(evs) != 1 || evs[0].Value != "the power cut" {
		t.Fatalf("the write after the restart: %v, %v", evs, err)
	}
	for _, k := range []string{"/a", "/b", "/c"} {
		if _, _, err := n.sm.Get(k); err != nil {
			t.Fatalf("acknowledged write %s lost: %v", k, err)
		}
	}
	// And the log reads back whole, in sequence, for the next restart.
	n.stop()
	if _, err := Open(dir); err != nil {
		t.Fatalf("the data directory cannot be opened again: %v", err)
	}
}

// sets are entries first..last of a term that set /k<index>, as a leader
// would send them.
func sets(first, last, term uint64) []*protobuf.LogEntry {
	var out []*protobuf.LogEntry
	for i := first; i <= last; i++ {
		cmd, err := json.Marshal(&testSet{Key: fmt.Sprintf("/k%d", i), Value: "v"})
		if err != nil {
			panic(err)
		}
		out = append(out, &protobuf.LogEntry{Index: proto.Uint64(i), Term: proto.Uint64(term),
			CommandName: proto.String((&testSet{}).CommandName()), Command: cmd})
	}
	return out
}

// leaderState saves in leader the state of a store that has applied the
// sets of entries 1..position, and returns goraft's reference to it.
func leaderState(t *testing.T, leader *Dir, position uint64) ([]byte, StateFile) {
	t.Helper()
	st := store.New(0)
	for i := uint64(1); i <= position; i++ {
		if _, err := st.Set(fmt.Sprintf("/k%d", i), "v", time.Time{}, i); err != nil {
			t.Fatal(err)
		}
	}
	ref, err := leader.SaveState(st.Index(), st.SaveTo)
	if err != nil {
		t.Fatal(err)
	}
	sf, _, err := StateRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	return ref, sf
}

// sendSnapshot does what a leader does to send f its snapshot at index
// lastIndex of term 1: it announces it, sends its state file, and then
// goraft's message, which f refuses (as the node answers 409) when the
// state file is not there. between runs after the state file arrived.
func (f *follower) sendSnapshot(leader *Dir, lastIndex uint64, ref []byte, between func()) error {
	f.t.Helper()
	// goraft's snapshotting state takes no announcement: the node answers
	// for it that it is waiting.
	if f.srv.State() != raft.Snapshotting {
		if resp := f.srv.RequestSnapshot(&raft.SnapshotRequest{LeaderName: "leader", LastIndex: lastIndex, LastTerm: 1}); resp == nil || !resp.Success {
			return fmt.Errorf("snapshot %d refused: %+v", lastIndex, resp)
		}
	}
	sf, _, err := StateRef(ref)
	if err != nil {
		return err
	}
	r, err := leader.OpenState(sf)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := f.d.ReceiveState(sf, r); err != nil {
		return err
	}
	if between != nil {
		between()
	}
	if !f.d.HasState(sf) {
		return fmt.Errorf("the state file %s sent for snapshot %d is gone before its install", sf.Name, lastIndex)
	}
	resp, err := f.d.InstallSnapshot(f.srv, &raft.SnapshotRecoveryRequest{LeaderName: "leader", LastIndex: lastIndex, LastTerm: 1, State: ref})
	if err != nil || resp == nil || !resp.Success {
		return fmt.Errorf("install of snapshot %d: %+v, %v", lastIndex, resp, err)
	}
	return nil
}

// ownSnapshot takes a snapshot of the follower's own, as the node does.
func (f *follower) ownSnapshot() {
	f.t.Helper()
	if err := f.d.TakeSnapshot(f.srv); err != nil {
		f.t.Fatal(err)
	}
}

// TestReceivedStateOutlivesOwnSnapshot: state files are named after the
// store's index, and a follower's store can run ahead of its log: it
// installed a snapshot whose state holds entries past the snapshot's index
// (goraft picks the index, then the store is saved, while entries go on
// being applied). A snapshot of its own then carries a higher index than
// the next one its leader sends it, and must not remove that one's state
// file between its arrival and its install.
func TestReceivedStateOutlivesOwnSnapshot(t *testing.T) {
	sm := &storeMachine{Store: store.New(0)}
	f := startFollower(t, sm)
	leader, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	refA, _ := leaderState(t, leader, 300)
	if err := f.sendSnapshot(leader, 100, refA, nil); err != nil {
		t.Fatal(err)
	}
	// Entries the store already holds, committed.
	f.appendFrom(1, 100, 1, 150, sets(101, 150, 1))

	// A file being written stays through it all.
	if err := os.WriteFile(filepath.Join(f.d.stateDir(), "state-123.tmp"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	refB, sfB := leaderState(t, leader, 250)
	err = f.sendSnapshot(leader, 200, refB, func() { f.ownSnapshot() })
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(stateNames(t, f.d), " "); got != "state-123.tmp "+sfB.Name {
		t.Fatalf("state files after the install: %s; want only %s and the file being written", got, sfB.Name)
	}
	if commit, index := f.srv.CommitIndex(), sm.Index(); commit != 200 || index != 250 {
		t.Fatalf("after the install: commit index %d, store index %d; want 200 and 250", commit, index)
	}
}

// TestOlderSnapshotIsNotInstalled: a leader that lost track of a member (it
// was removed and has joined again) starts it from the leader's snapshot,
// which may be older than what the member compacted its own log behind.
// goraft takes it: it would put the older state in place of the member's
// store and then panic cutting the log. The member holds all of it already.
func TestOlderSnapshotIsNotInstalled(t *testing.T) {
	sm := &storeMachine{Store: store.New(0)}
	f := startFollower(t, sm)
	f.appendFrom(1, 0, 0, 600, sets(1, 600, 1))
	f.ownSnapshot()
	if first := firstIndex(f.srv); first != 401 {
		t.Fatalf("the log starts at %d after the snapshot; want 401", first)
	}
	own := stateNames(t, f.d)

	leader, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := leaderState(t, leader, 300)
	if err := f.sendSnapshot(leader, 300, ref, nil); err != nil {
		t.Fatal(err)
	}
	if commit, index, first := f.srv.CommitIndex(), sm.Index(), firstIndex(f.srv); commit != 600 || index != 600 || first != 401 {
		t.Fatalf("after the older snapshot: commit index %d, store index %d, first entry %d; want 600, 600, 401", commit, index, first)
	}
	f.checkFile(600)
	// The member's own state stays; the one it was sent goes.
	if got, want := strings.Join(stateNames(t, f.d), " "), strings.Join(own, " "); got != want {
		t.Fatalf("state files after the older snapshot: %s; want %s", got, want)
	}
}
