package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

func TestApplyGivesEachWriteItsIndex(t *testing.T) {
	s := New(100)
	if e, err := s.Set("/a", "1", time.Time{}, 3); err != nil || e.Index != 3 {
		t.Fatalf("Set at position 3 = %+v, %v; want index 3", e, err)
	}
	// Position 4 wrote nothing (a no-op entry); 5 holds three writes.
	results, err := s.Apply(5, []Write{
		{Op: OpSet, Key: "/b", Value: "2"},
		{Op: OpTestAndSet, Key: "/a", PrevValue: "wrong", Value: "x"},
		{Op: OpDelete, Key: "/a"},
	})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if e := results[0].Event; results[0].Err != nil || e.Index != 5 || e.Key != "/b" {
		t.Errorf("first write = %+v, %v; want /b at index 5", e, results[0].Err)
	}
	var etcdErr *etcderr.Error
	if !errors.As(results[1].Err, &etcdErr) || etcdErr.Code != etcderr.TestFailed {
		t.Errorf("second write's error = %v, want error 101", results[1].Err)
	}
	if e := results[2].Event; results[2].Err != nil || e.Index != 7 || e.Action != ActionDelete {
		t.Errorf("third write = %+v, %v; want a delete at index 7", e, results[2].Err)
	}
	if got := s.Index(); got != 7 {
		t.Errorf("Index() = %d after the entry, want 7", got)
	}
	// The next entry's write follows the last of the group.
	if e, err := s.Set("/c", "3", time.Time{}, 6); err != nil || e.Index != 8 {
		t.Fatalf("Set at position 6 = %+v, %v; want index 8", e, err)
	}
	// Entries already applied are refused whole, however many writes.
	if _, err := s.Apply(5, []Write{{Op: OpSet, Key: "/d", Value: "4"}}); !errors.Is(err, ErrAlreadyApplied) {
		t.Errorf("Apply at an applied position: %v, want ErrAlreadyApplied", err)
	}
	if _, err := s.Delete("/b", 6); !errors.Is(err, ErrAlreadyApplied) {
		t.Errorf("Delete at an applied position: %v, want ErrAlreadyApplied", err)
	}
	// A watch from an index inside the group finds the write at that index.
	w, err := s.Watch("/", 6)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if e := <-w.EventChan(); e.Index != 7 {
		t.Errorf("watch from 6 got index %d, want 7 (the failed test-and-set records nothing)", e.Index)
	}
}

func TestApplyUnknownWriteTakesItsIndex(t *testing.T) {
	s := New(10)
	results, err := s.Apply(1, []Write{{Op: 0, Key: "/x"}, {Op: OpSet, Key: "/y", Value: "v"}})
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if results[0].Err == nil {
		t.Error("an unknown write gave no error")
	}
	if e := results[1].Event; e == nil || e.Index != 2 {
		t.Errorf("the write after it = %+v, want index 2", e)
	}
}

// The position travels in snapshots, so that a member recovered from one
// gives the next entry's writes the indexes every other member gives them.
func TestSnapshotKeepsThePosition(t *testing.T) {
	s := New(10)
	if _, err := s.Apply(2, []Write{{Op: OpSet, Key: "/a", Value: "1"}, {Op: OpSet, Key: "/b", Value: "2"}}); err != nil {
		t.Fatal(err)
	}
	r := recovered(t, s)
	for _, st := range []*Store{s, r} {
		if _, err := st.Set("/b", "again", time.Time{}, 2); !errors.Is(err, ErrAlreadyApplied) {
			t.Errorf("replay of position 2: %v, want ErrAlreadyApplied", err)
		}
		if e, err := st.Set("/c", "3", time.Time{}, 3); err != nil || e.Index != 4 {
			t.Errorf("Set at position 3 = %+v, %v; want index 4", e, err)
		}
	}
}

// A snapshot written before entries held several writes has no position:
// it was the index.
func TestRecoverSnapshotWithoutPosition(t *testing.T) {
	s := New(10)
	if err := s.Recover([]byte(`{"index":9,"nodes":[{"key":"/a","value":"1"}],"history":[],"evictedIndex":0}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set("/a", "2", time.Time{}, 9); !errors.Is(err, ErrAlreadyApplied) {
		t.Errorf("Set at position 9: %v, want ErrAlreadyApplied", err)
	}
	if e, err := s.Set("/a", "2", time.Time{}, 10); err != nil || e.Index != 10 {
		t.Errorf("Set at position 10 = %+v, %v; want index 10", e, err)
	}
	if err := s.Recover([]byte(`{"index":9,"position":10,"nodes":[],"history":[],"evictedIndex":0}`)); err == nil {
		t.Error("a position past the index was recovered")
	}
}

// A snapshot taken while entries are applied holds each entry whole.
func TestSnapshotHoldsAnEntryWholeOrNot(t *testing.T) {
	const entries, perEntry = 200, 20
	s := New(10)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for p := uint64(1); p <= entries; p++ {
			writes := make([]Write, perEntry)
			for i := range writes {
				writes[i] = Write{Op: OpSet, Key: fmt.Sprintf("/e%d/k%d", p, i), Value: "v"}
			}
			if _, err := s.Apply(p, writes); err != nil {
				t.Errorf("Apply(%d): %v", p, err)
				return
			}
		}
	}()
	for done := false; !done; {
		done = s.Index() == entries*perEntry
		r := recovered(t, s)
		for p := 1; p <= entries; p++ {
			events, _, err := r.Get(fmt.Sprintf("/e%d", p))
			if err == nil && len(events) != perEntry {
				t.Fatalf("a snapshot holds %d of the %d writes of entry %d", len(events), perEntry, p)
			}
		}
	}
	wg.Wait()
}

// recovered is a new store recovered from a snapshot of s.
func recovered(t *testing.T, s *Store) *Store {
	t.Helper()
	state, err := s.Save()
	if err != nil {
		t.Fatal(err)
	}
	r := New(10)
	if err := r.Recover(state); err != nil {
		t.Fatal(err)
	}
	return r
}
