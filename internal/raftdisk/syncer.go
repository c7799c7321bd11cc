package raftdisk

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// syncer makes what goraft wrote to the log durable. goraft never fsyncs
// the log of a node without peers, and ignores the leader's fsync errors,
// so before a write is answered its entry is flushed through a second
// descriptor on the same file (fsync works per inode). Many waiting writes
// share one fsync: a caller needs only a sync that started after its entry
// was written, so whoever finds no sync running starts one for everybody
// waiting.
//
// A failed fsync is final. After one, the kernel may have dropped the dirty
// pages it could not write and marked them clean, so a later fsync that
// succeeds proves nothing about them: every later call reports the first
// failure.
type syncer struct {
	path string
	// flush is (*os.File).Sync; tests replace it to control timing.
	flush func(*os.File) error
	// timed is told how long each successful flush took.
	timed func(time.Duration)

	mu       sync.Mutex
	cond     *sync.Cond
	file     *os.File
	fileInfo os.FileInfo
	syncing  bool
	started  uint64 // syncs started so far
	finished uint64 // syncs finished so far
	waiting  int    // callers waiting for another's sync
	failed   error  // the first failure; sticky
}

func newSyncer(path string) (*syncer, error) {
	s := &syncer{path: path, flush: (*os.File).Sync, timed: func(time.Duration) {}}
	s.cond = sync.NewCond(&s.mu)
	f, info, err := openForSync(path)
	if err != nil {
		return nil, err
	}
	s.file, s.fileInfo = f, info
	return s, nil
}

func openForSync(path string) (*os.File, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open raft log for syncing: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat raft log: %w", err)
	}
	return f, info, nil
}

// sync returns once everything written to the log before the call is on
// disk, or with the error that makes that impossible.
func (s *syncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.started + 1
	for s.failed == nil && s.finished < need {
		if s.syncing {
			s.waiting++
			s.cond.Wait()
			s.waiting--
			continue
		}
		s.syncing = true
		s.started++
		s.mu.Unlock()
		err := s.syncCurrentFile()
		s.mu.Lock()
		s.syncing = false
		s.finished++
		if err != nil && s.failed == nil {
			s.failed = err
		}
		s.cond.Broadcast()
	}
	return s.failed
}

// syncCurrentFile fsyncs the file now at the log's path. A compaction
// renames a new file over the log: the first sync after it makes the rename
// durable (the directory's fsync) and flushes the new file, which is where
// goraft writes from then on. Only the goroutine that set syncing calls it.
func (s *syncer) syncCurrentFile() error {
	current, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("stat raft log: %w", err)
	}
	if !os.SameFile(current, s.fileInfo) {
		if err := SyncDir(filepath.Dir(s.path)); err != nil {
			return err
		}
		f, info, err := openForSync(s.path)
		if err != nil {
			return err
		}
		s.mu.Lock()
		old := s.file
		s.file, s.fileInfo = f, info
		s.mu.Unlock()
		old.Close()
	}
	start := time.Now()
	if err := s.flush(s.file); err != nil {
		return fmt.Errorf("sync raft log: %w", err)
	}
	s.timed(time.Since(start))
	return nil
}

func (s *syncer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.syncing {
		s.cond.Wait()
	}
	return s.file.Close()
}
