package raftdisk

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func newTestSyncer(t *testing.T) (*syncer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("entry\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := newSyncer(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.close() })
	return s, path
}

// TestSyncerWaitsForASyncStartedAfterTheCall: a sync already running when a
// caller arrives may have begun before the caller's entry was written, so
// it must not count for that caller.
func TestSyncerWaitsForASyncStartedAfterTheCall(t *testing.T) {
	s, _ := newTestSyncer(t)
	var mu sync.Mutex
	var flushes int
	firstStarted := make(chan struct{})
	releaseFirst := make(chan struct{})
	s.flush = func(*os.File) error {
		mu.Lock()
		flushes++
		n := flushes
		mu.Unlock()
		if n == 1 {
			close(firstStarted)
			<-releaseFirst
		}
		return nil
	}
	first := make(chan error)
	go func() { first <- s.sync() }()
	<-firstStarted

	// This caller's entry was written while the first sync was running.
	second := make(chan error)
	go func() { second <- s.sync() }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		waiting := s.waiting
		s.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second caller never waited for the running sync")
		}
	}
	close(releaseFirst)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if flushes != 2 {
		t.Fatalf("%d flushes; the second caller must get a flush of its own that started after its call", flushes)
	}
}

// TestSyncerSharesSyncs: callers that arrive together share flushes.
func TestSyncerSharesSyncs(t *testing.T) {
	s, _ := newTestSyncer(t)
	const callers = 64
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.sync(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if s.finished == 0 || s.finished > callers {
		t.Fatalf("%d syncs for %d callers", s.finished, callers)
	}
}

// TestSyncerFailureIsFinal: after a failed fsync the page cache proves
// nothing, so a later successful fsync must not be reported as durability.
func TestSyncerFailureIsFinal(t *testing.T) {
	s, _ := newTestSyncer(t)
	failing := true
	s.flush = func(*os.File) error {
		if failing {
			return errors.New("EIO")
		}
		return nil
	}
	if err := s.sync(); err == nil {
		t.Fatal("a failed fsync was reported as success")
	}
	failing = false
	if err := s.sync(); err == nil {
		t.Fatal("a sync after a failed one was reported as success")
	}
}

// TestSyncerFollowsReplacedFile: after a compaction renames a new file over
// the log, syncs flush the new file.
func TestSyncerFollowsReplacedFile(t *testing.T) {
	s, path := newTestSyncer(t)
	var flushed []os.FileInfo
	s.flush = func(f *os.File) error {
		info, err := f.Stat()
		flushed = append(flushed, info)
		return err
	}
	if err := os.WriteFile(path+".new", []byte("new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
	if err := s.sync(); err != nil {
		t.Fatal(err)
	}
	current, _ := os.Stat(path)
	if len(flushed) != 1 || !os.SameFile(flushed[0], current) {
		t.Fatal("the sync did not flush the file now at the log's path")
	}
}

func TestSyncerFailsWhenTheLogIsGone(t *testing.T) {
	s, path := newTestSyncer(t)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.sync(); err == nil {
		t.Fatal("sync claimed durability for a log it cannot reach")
	}
}

// TestSyncerTimesEachFlush: every fsync that succeeded is timed, for the
// node's fsync histogram; a failed one is not.
func TestSyncerTimesEachFlush(t *testing.T) {
	s, _ := newTestSyncer(t)
	const flushTime = 5 * time.Millisecond
	fail := false
	s.flush = func(*os.File) error {
		time.Sleep(flushTime)
		if fail {
			return errors.New("EIO")
		}
		return nil
	}
	var timed []time.Duration
	s.timed = func(d time.Duration) { timed = append(timed, d) }
	for range 2 {
		if err := s.sync(); err != nil {
			t.Fatal(err)
		}
	}
	fail = true
	s.sync()
	if len(timed) != 2 {
		t.Fatalf("%d flushes timed, want the 2 that succeeded", len(timed))
	}
	for _, d := range timed {
		if d < flushTime {
			t.Errorf("a flush of at least %v was timed at %v", flushTime, d)
		}
	}
}
