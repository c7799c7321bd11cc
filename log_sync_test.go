package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLogSyncerSharesSyncs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("entry\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := newLogSyncer(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
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

func TestLogSyncerFollowsReplacedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "log")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := newLogSyncer(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	err = s.replaceFile(func() error {
		if err := os.WriteFile(path+".new", []byte("new\n"), 0o600); err != nil {
			return err
		}
		return os.Rename(path+".new", path)
	})
	if err != nil {
		t.Fatal(err)
	}
	before, _ := s.file.Stat()
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) {
		t.Fatal("the syncer still holds the replaced file")
	}
	if err := s.sync(); err != nil {
		t.Fatal(err)
	}
}

func TestLogSyncerBrokenAfterFailedReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := newLogSyncer(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if err := s.replaceFile(func() error { return os.Remove(path) }); err == nil {
		t.Fatal("replaceFile hid a log that cannot be reopened")
	}
	if err := s.sync(); err == nil {
		t.Fatal("sync claimed durability for a log it cannot reach")
	}
}
