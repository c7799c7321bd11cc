package raftdisk

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newDir is a Dir of its own that goraft does not run on.
func newDir(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func saveState(t *testing.T, d *Dir, index uint64, content string) StateFile {
	t.Helper()
	ref, err := d.SaveState(index, func(w io.Writer) error {
		_, err := io.WriteString(w, content)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sf, isRef, err := StateRef(ref)
	if !isRef || err != nil {
		t.Fatalf("SaveState returned %s, not a reference (%v)", ref, err)
	}
	return sf
}

func readState(d *Dir, sf StateFile) (string, error) {
	r, err := d.OpenState(sf)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func stateNames(t *testing.T, d *Dir) []string {
	t.Helper()
	entries, err := os.ReadDir(d.stateDir())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestStateFileRoundTrip(t *testing.T) {
	d := newDir(t)
	sf := saveState(t, d, 7, `{"index":7}`)
	if got, err := readState(d, sf); err != nil || got != `{"index":7}` {
		t.Fatalf("read back %q, %v", got, err)
	}
	if !d.HasState(sf) {
		t.Fatal("HasState is false for the file just saved")
	}
	if _, isRef, _ := StateRef([]byte(`{"index":7,"nodes":[]}`)); isRef {
		t.Fatal("a state saved inline was taken for a reference")
	}
	for _, bad := range []string{`{"storeFile":"../conf"}`, `{"storeFile":"state-1-2-0000000g.json"}`, `{"storeFile":`} {
		if _, isRef, err := StateRef([]byte(bad)); !isRef || err == nil {
			t.Errorf("StateRef(%s): reference %v, error %v; want a reference that fails", bad, isRef, err)
		}
	}
}

// A state file damaged on disk fails where it ends, so that a store
// recovering from it keeps nothing of it.
func TestDamagedStateFails(t *testing.T) {
	d := newDir(t)
	sf := saveState(t, d, 7, `{"index":7}`)
	if err := os.WriteFile(d.statePath(sf.Name), []byte(`{"index":8}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readState(d, sf); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("reading a damaged state file: %v", err)
	}
	if d.HasState(sf) {
		t.Fatal("HasState is true for a damaged file")
	}
}

// A follower keeps a state file sent to it only if it holds what its name
// says.
func TestReceiveStateChecksContent(t *testing.T) {
	leader := newDir(t)
	sf := saveState(t, leader, 7, `{"index":7}`)
	follower := newDir(t)
	for _, wrong := range []string{`{"index":8}`, `{"index":7}  `, `{"index"`} {
		if err := follower.ReceiveState(sf, strings.NewReader(wrong)); err == nil {
			t.Errorf("received %q as %s", wrong, sf.Name)
		}
	}
	if names := stateNames(t, follower); len(names) != 0 {
		t.Fatalf("failed receipts left %v", names)
	}
	if err := follower.ReceiveState(sf, strings.NewReader(`{"index":7}`)); err != nil {
		t.Fatal(err)
	}
	if !follower.HasState(sf) {
		t.Fatal("the state received is not there")
	}
}

// At start-up every state file goes but the one the store was recovered
// from, half-written ones included.
func TestRemoveStatesExcept(t *testing.T) {
	d := newDir(t)
	saveState(t, d, 5, "a")
	current := saveState(t, d, 7, "b")
	if err := os.WriteFile(filepath.Join(d.stateDir(), "state-123.tmp"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d.RemoveStatesExcept(&current)
	if got := strings.Join(stateNames(t, d), " "); got != current.Name {
		t.Fatalf("after RemoveStatesExcept(%s): %s", current.Name, got)
	}
	d.RemoveStatesExcept(nil)
	if got := stateNames(t, d); len(got) != 0 {
		t.Fatalf("after RemoveStatesExcept(nil): %v", got)
	}
}
