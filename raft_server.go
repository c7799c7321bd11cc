package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

// raftServer owns goraft: it starts it safely over the data directory,
// replicates commands through it, serves its peer routes, and runs the jobs
// only a leader does (TTL expiry) and every node does (snapshots).
type raftServer struct {
	cfg       *Config
	raft      raft.Server
	store     *store.Store
	members   *memberRegistry
	terms     *termRecord
	syncer    *logSyncer
	stats     *raftStats
	startTime time.Time

	peerListener  net.Listener
	peerServer    *http.Server
	peerTLS       *tlsSide
	peerTransport *http.Transport

	joinMu sync.Mutex // one membership change at a time

	appliedWrites     atomic.Uint64 // store writes applied since start
	snapshotAtApplied uint64        // appliedWrites at the last snapshot (snapshot loop only)

	// leaderName is goraft's leader, tracked here: goraft's Leader() reads
	// it without a lock.
	leaderName  atomic.Pointer[string]
	leaderSince atomic.Pointer[time.Time]
	// lastAppend is when the leader's last append arrived (UnixNano).
	lastAppend atomic.Int64
	// electedAtIndex is the log's last index when this node last became
	// leader: entries past it are of its own term.
	electedAtIndex atomic.Uint64
	positions      logPositions

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// flushCommitEvery is how many applied writes pass between saves of the
// commit index, which bounds how much of the log a restart applies before
// it has a leader again.
const flushCommitEvery = 1000

var (
	errNotLeader      = errors.New("this node is not the leader")
	errCommandTimeout = errors.New("raft: the command was not committed in time; its outcome is unknown")
)

// newRaftServer opens the data directory and starts goraft over it. The
// peer listener must already be bound; peerTLS is nil for plain HTTP.
func newRaftServer(cfg *Config, st *store.Store, peerListener net.Listener, peerTLS *tlsSide) (*raftServer, error) {
	s := &raftServer{
		cfg:           cfg,
		store:         st,
		members:       newMemberRegistry(),
		stats:         newRaftStats(),
		startTime:     time.Now(),
		peerListener:  peerListener,
		peerTLS:       peerTLS,
		peerTransport: newPeerTransport(cfg.ElectionTimeout, peerTLS),
		stop:          make(chan struct{}),
	}
	snap, err := recoverDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if s.terms, err = loadTermRecord(cfg.DataDir); err != nil {
		return nil, err
	}
	tr := newTransporter(s.peerTransport, cfg.ElectionTimeout, s.stats, s.recordCandidacy)
	srv, err := raft.NewServer(cfg.Name, cfg.DataDir, tr, s, s, cfg.RaftURL())
	if err != nil {
		return nil, fmt.Errorf("create raft server: %w", err)
	}
	s.raft = srv
	srv.SetHeartbeatInterval(cfg.HeartbeatInterval)
	srv.SetElectionTimeout(cfg.ElectionTimeout)
	if snap != nil {
		if err := s.loadSnapshot(); err != nil {
			return nil, err
		}
	}
	if err := srv.Init(); err != nil {
		return nil, fmt.Errorf("open raft state in %s: %w", cfg.DataDir, err)
	}
	if s.syncer, err = newLogSyncer(srv.LogPath()); err != nil {
		return nil, err
	}
	srv.AddEventListener(raft.LeaderChangeEventType, func(e raft.Event) {
		if e.Value().(string) == cfg.Name {
			s.electedAtIndex.Store(s.lastLogIndex())
		}
		s.setLeader(e.Value().(string))
	})
	srv.AddEventListener(raft.TermChangeEventType, func(e raft.Event) {
		// Runs before goraft answers the message that carried the term.
		if err := s.terms.observeTerm(e.Value().(uint64)); err != nil {
			log.Printf("raft: %v", err)
		}
	})
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	// Before any peer can reach this node, and long before its election
	// timer fires.
	s.terms.restore(srv)
	s.servePeers()
	return s, nil
}

// loadSnapshot restores the newest snapshot. goraft's LoadSnapshot rewrites
// conf with a commit index of 0, which would make Init replay nothing past
// the snapshot, so conf is put back afterwards.
func (s *raftServer) loadSnapshot() error {
	confPath := filepath.Join(s.cfg.DataDir, "conf")
	conf, confErr := os.ReadFile(confPath)
	if err := s.raft.LoadSnapshot(); err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	if confErr == nil {
		if err := writeFileSynced(confPath, conf); err != nil {
			return fmt.Errorf("restore raft conf after loading the snapshot: %w", err)
		}
	}
	return nil
}

// bootstrap brings the node to where it can answer clients: it founds a new
// cluster or joins one on an empty log, and in every case waits until the
// store has caught up with the cluster, so that no read is served from a
// store that is behind.
func (s *raftServer) bootstrap() error {
	machines, err := s.cfg.seedMachines()
	if err != nil {
		return err
	}
	last := s.lastLogIndex()
	switch {
	case !s.raft.IsLogEmpty():
		if len(machines) > 0 {
			log.Printf("raft: the log in %s is not empty: rejoining with the membership it holds, not -C/-CF", s.cfg.DataDir)
		}
	case len(machines) > 0:
		if err := s.joinCluster(machines); err != nil {
			return fmt.Errorf("-C/-CF: %w", err)
		}
	default:
		self := &JoinCommand{RaftVersion: raftVersion, Name: s.cfg.Name, RaftURL: s.cfg.RaftURL(), EtcdURL: s.cfg.ClientURL()}
		// On an empty log goraft lets a node's join of itself make it the
		// leader of a one-member cluster at once.
		if _, err := s.doWithTimeout(self); err != nil {
			return fmt.Errorf("found a new cluster: %w", err)
		}
		log.Printf("raft: founded a new cluster as %q", s.cfg.Name)
		return nil
	}
	return s.waitCaughtUp(last)
}

// waitCaughtUp returns once this node knows a leader and has applied
// everything the leader had committed when asked. A leader has caught up
// when it has committed the no-op every new leader appends after the log's
// last entry: goraft applies at start-up only what its saved commit index
// covers, and the rest once a leader commits past it.
func (s *raftServer) waitCaughtUp(last uint64) error {
	client := &http.Client{Transport: s.peerTransport, Timeout: s.cfg.ElectionTimeout}
	nextReport := time.Now().Add(5 * time.Second)
	for {
		if s.isLeader() {
			if s.raft.CommitIndex() > last {
				break
			}
		} else if _, leader, ok := s.leader(); ok {
			if _, joined := s.members.get(s.cfg.Name); joined {
				if target, err := fetchCommitIndex(client, leader.RaftURL); err == nil && s.raft.CommitIndex() >= target {
					break
				}
			}
		}
		if time.Now().After(nextReport) {
			log.Printf("raft: waiting for a leader to catch up with (state %s, commit index %d)", s.raft.State(), s.raft.CommitIndex())
			nextReport = time.Now().Add(5 * time.Second)
		}
		select {
		case <-s.stop:
			return errors.New("stopped while catching up")
		case <-time.After(s.cfg.HeartbeatInterval):
		}
	}
	log.Printf("raft: %q caught up at index %d (store index %d)", s.cfg.Name, s.raft.CommitIndex(), s.store.Index())
	return nil
}

// fetchCommitIndex asks a member for its commit index.
func fetchCommitIndex(client *http.Client, raftURL string) (uint64, error) {
	resp, err := client.Get(raftURL + commitIndexPath)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: HTTP %d", commitIndexPath, resp.StatusCode)
	}
	return strconv.ParseUint(string(b), 10, 64)
}

// lastLogIndex is the index of the log's last entry, or of the snapshot
// when compaction left no entries.
func (s *raftServer) lastLogIndex() uint64 {
	if entries := s.raft.LogEntries(); len(entries) > 0 {
		return entries[len(entries)-1].Index()
	}
	return s.raft.CommitIndex()
}

// startBackground starts the jobs that run for the node's whole life.
func (s *raftServer) startBackground() {
	s.wg.Add(2)
	go s.runExpiry()
	go s.every(s.cfg.ElectionTimeout, s.leaveStuckSnapshotting)
	if s.cfg.Snapshot {
		s.wg.Add(1)
		go s.every(time.Second, s.snapshotIfDue)
	}
}

// stopBackground stops the expiry and snapshot jobs; nothing is expired or
// compacted after it returns.
func (s *raftServer) stopBackground() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
}

// stopAll stops the background jobs, the peer server and goraft, and closes
// the log. Safe to call once.
func (s *raftServer) stopAll() {
	s.stopBackground()
	s.peerServer.Close()
	s.raft.Stop()
	s.peerTransport.CloseIdleConnections()
	if err := s.syncer.close(); err != nil {
		log.Printf("close raft log: %v", err)
	}
}

func (s *raftServer) isLeader() bool { return s.raft.State() == raft.Leader }

// leader returns the current leader's name and URLs, if one is known.
func (s *raftServer) leader() (string, member, bool) {
	name := s.leaderNameNow()
	if name == "" {
		return "", member{}, false
	}
	m, ok := s.members.get(name)
	return name, m, ok
}

// setLeader records the leader goraft follows.
func (s *raftServer) setLeader(name string) {
	if prev := s.leaderName.Swap(&name); prev == nil || *prev != name {
		now := time.Now()
		s.leaderSince.Store(&now)
		log.Printf("raft: leader is now %q", name)
	}
}

// leaderNameNow is the current leader's name, "" when none is known.
func (s *raftServer) leaderNameNow() string {
	if name := s.leaderName.Load(); name != nil {
		return *name
	}
	return ""
}

// machineURLs returns the client URLs of all members, the leader first.
func (s *raftServer) machineURLs() []string {
	leaderName, leader, hasLeader := s.leader()
	var urls []string
	if hasLeader {
		urls = append(urls, leader.EtcdURL)
	}
	for _, name := range s.members.names() {
		if hasLeader && name == leaderName {
			continue
		}
		if m, ok := s.members.get(name); ok {
			urls = append(urls, m.EtcdURL)
		}
	}
	return urls
}

// dispatch replicates a write and returns its result once it is applied and
// durable. It fails with errNotLeader on a follower, with an *etcderr.Error
// when the store refused the write, and with other errors when raft failed.
func (s *raftServer) dispatch(cmd raft.Command) (*store.Event, error) {
	if !s.isLeader() {
		return nil, errNotLeader
	}
	v, err := s.doWithTimeout(cmd)
	var etcdErr *etcderr.Error
	if err != nil && !errors.As(err, &etcdErr) {
		return nil, err
	}
	// The entry is committed whatever the store made of it: make it durable
	// before anyone hears the outcome. A leader with peers fsynced it before
	// it could commit it; goraft never does so for a lone node.
	if s.members.count() <= 1 {
		if syncErr := s.syncer.sync(); syncErr != nil {
			log.Printf("raft: %v", syncErr)
			return nil, syncErr
		}
	}
	if err != nil {
		return nil, err
	}
	event, _ := v.(*store.Event)
	return event, nil
}

// doWithTimeout is goraft's Do with a deadline: Do itself waits forever
// when there is no quorum. A timed-out command may still commit later.
func (s *raftServer) doWithTimeout(cmd raft.Command) (any, error) {
	type result struct {
		value any
		err   error
	}
	done := make(chan result, 1)
	go func() {
		v, err := s.raft.Do(cmd)
		done <- result{v, err}
	}()
	timer := time.NewTimer(s.cfg.CommandTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if errors.Is(r.err, raft.NotLeaderError) {
			return nil, errNotLeader
		}
		return r.value, r.err
	case <-timer.C:
		return nil, errCommandTimeout
	}
}

// recordCandidacy persists this node's vote for itself before it asks any
// peer for a vote.
func (s *raftServer) recordCandidacy(req *raft.RequestVoteRequest) error {
	return s.terms.observeVote(req.Term, req.CandidateName)
}

// applied is called by every applied store write, from goraft's apply loop.
func (s *raftServer) applied(srv raft.Server) {
	if s.appliedWrites.Add(1)%flushCommitEvery == 0 {
		srv.FlushCommitIndex()
	}
}

// Save is goraft's snapshot hook: the whole store.
func (s *raftServer) Save() ([]byte, error) { return s.store.Save() }

// Recovery is goraft's snapshot restore hook.
func (s *raftServer) Recovery(state []byte) error {
	if err := s.store.Recover(state); err != nil {
		return fmt.Errorf("recover store from snapshot: %w", err)
	}
	s.members.rebuild(s.store)
	return nil
}

// every runs job at each interval until the node stops.
func (s *raftServer) every(interval time.Duration, job func()) {
	defer s.wg.Done()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ticker.C:
			job()
		}
	}
}

// snapshotIfDue takes a snapshot once enough writes were applied since the
// last one, and compacts the log behind it.
func (s *raftServer) snapshotIfDue() {
	applied := s.appliedWrites.Load()
	if applied-s.snapshotAtApplied < s.cfg.SnapshotCount || !s.logFullyCommitted() {
		return
	}
	// Compaction renames a new log file into place: syncs are held back
	// meanwhile and then flush the new file.
	err := s.syncer.replaceFile(func() error {
		if err := removeStaleCompaction(s.cfg.DataDir); err != nil {
			return err
		}
		return s.positions.afterSnapshot(s.raft)
	})
	if err != nil {
		log.Printf("raft: snapshot: %v", err)
		return
	}
	s.snapshotAtApplied = applied
	log.Printf("raft: snapshot taken at index %d", s.store.Index())
}

// logFullyCommitted reports whether the log has no uncommitted tail: goraft's
// compaction records wrong file offsets for such a tail.
func (s *raftServer) logFullyCommitted() bool {
	return s.lastLogIndex() == s.raft.CommitIndex()
}

// runExpiry is the leader's TTL clock: it proposes an expire command for
// every key whose expiration has passed, so that all members remove it at
// the same index. Other members wait for those commands.
func (s *raftServer) runExpiry() {
	defer s.wg.Done()
	const maxInFlight = 256
	inFlight := make(map[string]bool)
	done := make(chan string, maxInFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-s.stop:
			return
		case key := <-done:
			delete(inFlight, key)
		case <-timer.C:
		}
		if s.isLeader() {
			now := time.Now()
			for _, e := range s.store.Expired(now, maxInFlight) {
				if inFlight[e.Key] || len(inFlight) >= maxInFlight {
					continue
				}
				inFlight[e.Key] = true
				go func(e store.Expiry) {
					if _, err := s.dispatch(&ExpireCommand{Key: e.Key, ExpireTime: e.Expiration}); err != nil && !errors.Is(err, errNotLeader) {
						log.Printf("expire %s: %v", e.Key, err)
					}
					done <- e.Key
				}(e)
			}
		}
		timer.Reset(s.nextExpiryWait(len(inFlight) > 0))
	}
}

// nextExpiryWait is how long the expiry loop may sleep: until the next
// expiration, but never so long that a key set meanwhile expires late by much.
func (s *raftServer) nextExpiryWait(busy bool) time.Duration {
	const (
		idle  = 100 * time.Millisecond
		retry = 10 * time.Millisecond
	)
	next, ok := s.store.NextExpiration()
	if !ok || !s.isLeader() {
		return idle
	}
	wait := time.Until(next)
	switch {
	case wait > idle:
		return idle
	case wait > 0:
		return wait
	case busy:
		// Everything due is proposed; a finished proposal wakes the loop.
		return idle
	default:
		return retry
	}
}

// leaveStuckSnapshotting frees a follower stuck in goraft's snapshotting
// state. goraft leaves a follower there after it installs a snapshot, for as
// long as the leader's term lasts; such a follower still replicates but
// never campaigns, so if the leader dies it cannot help elect another. Once
// no append has arrived for a while the leader is gone: moving to a new term
// makes goraft a follower again, and it campaigns as usual.
func (s *raftServer) leaveStuckSnapshotting() {
	silence := max(5*s.cfg.ElectionTimeout, 2*time.Second)
	if s.raft.State() != raft.Snapshotting || time.Since(time.Unix(0, s.lastAppend.Load())) < silence {
		return
	}
	term := s.raft.Term() + 1
	if err := s.terms.observeVote(term, fenceCandidate); err != nil {
		log.Printf("raft: leaving the snapshotting state: %v", err)
		return
	}
	log.Printf("raft: stuck in the snapshotting state with no leader for %v; moving to term %d", silence, term)
	moveToTerm(s.raft, term, fenceCandidate)
}
