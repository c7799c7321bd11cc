package raftdisk

import (
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goraft/raft"

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
