package main

import (
	"fmt"
	"os"
	"sync"
)

// logSyncer makes acknowledged writes durable. goraft never fsyncs the log of
// a node without peers, so before a write is answered its entry is flushed
// through a second descriptor on the same file (fsync works per inode). Many
// waiting writes share one fsync: a caller needs only a sync that started
// after its entry was written, so whoever finds no sync running starts one
// for everybody waiting.
type logSyncer struct {
	path string

	mu       sync.Mutex
	cond     *sync.Cond
	file     *os.File
	syncing  bool
	started  uint64 // syncs started so far
	finished uint64 // syncs finished so far
	err      error  // the result of the last finished sync
	paused   bool   // the file is being replaced (log compaction)
	broken   error  // the log could not be reopened: nothing can be made durable
}

func newLogSyncer(path string) (*logSyncer, error) {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open raft log for syncing: %w", err)
	}
	s := &logSyncer{path: path, file: f}
	s.cond = sync.NewCond(&s.mu)
	return s, nil
}

// sync returns once everything written to the log before the call is on disk.
func (s *logSyncer) sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return s.broken
	}
	need := s.started + 1
	for s.finished < need {
		if s.syncing || s.paused {
			s.cond.Wait()
			continue
		}
		s.syncing = true
		s.started++
		f := s.file
		s.mu.Unlock()
		err := f.Sync()
		s.mu.Lock()
		s.syncing = false
		s.finished++
		s.err = err
		s.cond.Broadcast()
	}
	if s.err != nil {
		return fmt.Errorf("sync raft log: %w", s.err)
	}
	return nil
}

// replaceFile runs fn, which replaces the log file (a compaction renames a
// new file over it), with syncs held back, then reopens the log so that
// later syncs flush the new file.
func (s *logSyncer) replaceFile(fn func() error) error {
	s.mu.Lock()
	for s.syncing {
		s.cond.Wait()
	}
	s.paused = true
	s.mu.Unlock()

	fnErr := fn()
	f, openErr := os.OpenFile(s.path, os.O_RDONLY, 0)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.paused = false
	s.cond.Broadcast()
	if openErr != nil {
		s.broken = fmt.Errorf("reopen raft log after compaction: %w", openErr)
		return s.broken
	}
	s.file.Close()
	s.file = f
	return fnErr
}

func (s *logSyncer) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.syncing {
		s.cond.Wait()
	}
	return s.file.Close()
}
