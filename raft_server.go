package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/metrics"
	"github.com/etcd-recreation/etcd/internal/notify"
	"github.com/etcd-recreation/etcd/internal/raftdisk"
	"github.com/etcd-recreation/etcd/internal/raftguard"
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
	disk      *raftdisk.Dir
	stats     *raftStats
	metrics   *metrics.Node
	startTime time.Time

	peerListener  net.Listener
	peerServer    *http.Server
	peerTLS       *tlsSide
	peerTransport *raftguard.IdentityTransport
	identity      *raftguard.IdentityKeeper // the cluster's (cluster_identity.go)

	joinMu sync.Mutex // one membership change at a time
	// installMu lets one snapshot install at a time: an install removes
	// the state files its snapshot replaced, which another may be loading.
	installMu sync.Mutex
	// memberChange keeps goraft's peer map still while TakeSnapshot copies
	// it without a lock: held by a snapshot, and shared by every append or
	// snapshot install that may change membership.
	memberChange sync.RWMutex
	gate         *peerGate
	fence        *snapshotFence
	guard        *raftguard.Guard
	news         *leaderNews
	leadership   *leadership
	replicator   *replicator
	syncMarks    syncMarks     // how far syncAhead made the log durable
	proposals    chan struct{} // a slot per proposal waiting for goraft
	batcher      *writeBatcher
	// durableIndex is the store index up to which writes are known to be
	// on disk: a lone node applies a write before it syncs it.
	durableIndex atomic.Uint64
	durableRises notify.Broadcast // announced when durableIndex rises
	// storeApplied is announced when an entry of store writes is applied.
	storeApplied notify.Broadcast

	appliedEntries atomic.Uint64 // log entries of store writes applied since start
	snapshotAt     uint64        // the commit index at the last snapshot (snapshot loop only)
	// recoveredFrom is the state file the store was last recovered from,
	// read at start-up only, before goraft runs.
	recoveredFrom *raftdisk.StateFile

	// lastAppend is when the leader's last append arrived (UnixNano).
	lastAppend atomic.Int64
	// lastVoteRequest is when a candidate last asked for a vote (UnixNano).
	lastVoteRequest atomic.Int64

	// failed receives the error that stopped the node from keeping its
	// promises (a failed fsync, a lost snapshot): it must stop.
	failed   chan error
	failOnce sync.Once

	// serving is set once the node has caught up and serves clients.
	serving atomic.Bool
	// removedSelf is told when the node applies its own removal while
	// serving; removed is closed when it must stop for that.
	removedSelf chan struct{}
	removed     chan struct{}
	// becameLeader is told when goraft becomes leader: the expiry job
	// sleeps until then, not waking an idle node.
	becameLeader chan struct{}

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// entriesPerCommitFlush is how many log entries of store writes are
// applied between saves of the commit index (an entry may hold many
// writes), which bounds how much of the log a restart applies before it
// has a leader again.
const entriesPerCommitFlush = 1000

// errTooManyProposals is a leader with as many proposals waiting for a
// quorum as it keeps.
var errTooManyProposals = errors.New("raft: too many writes are waiting for the cluster; nothing was proposed")

// maxProposals bounds the proposals waiting for goraft at once, and the
// writes queued for the next batch: a Do that never commits holds its
// goroutine for good.
const maxProposals = 4096

var (
	errNotLeader      = errors.New("this node is not the leader")
	errCommandTimeout = errors.New("raft: the command was not committed in time; its outcome is unknown")
	errNoLeader       = errors.New("no leader is known")
	errLeaderBehind   = errors.New("raft: this leader was just elected and has not yet committed an entry of its term, so its store may be behind")
)

// newRaftServer opens the data directory and starts goraft over it. The
// peer listener must already be bound; peerTLS is nil for plain HTTP.
func newRaftServer(cfg *Config, st *store.Store, peerListener net.Listener, peerTLS *tlsSide) (*raftServer, error) {
	m := metrics.New()
	s := &raftServer{
		cfg:          cfg,
		store:        st,
		members:      newMemberRegistry(),
		stats:        newRaftStats(m.PeerRTT),
		metrics:      m,
		startTime:    time.Now(),
		peerListener: peerListener,
		peerTLS:      peerTLS,
		gate:         newPeerGate(),
		fence:        newSnapshotFence(cfg.ElectionTimeout),
		news:         &leaderNews{},
		leadership:   &leadership{},
		proposals:    make(chan struct{}, maxProposals),
		failed:       make(chan error, 1),
		removedSelf:  make(chan struct{}, 1),
		becameLeader: make(chan struct{}, 1),
		removed:      make(chan struct{}),
		stop:         make(chan struct{}),
	}
	disk, err := raftdisk.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s.disk = disk
	disk.TimeSyncs(func(took time.Duration) { m.WALFsync.Observe(took.Seconds()) })
	if err := s.openIdentity(); err != nil {
		return nil, err
	}
	s.peerTransport = newPeerTransport(cfg.ElectionTimeout, peerTLS, s.identity)
	s.snapshotAt = disk.SnapshotIndex()
	s.batcher = &writeBatcher{propose: func(cmd raft.Command) (any, error) {
		m.WritesPerEntry.Observe(float64(writesIn(cmd)))
		v, _, err := s.proposeDurably(cmd)
		return v, err
	}}
	s.replicator = &replicator{
		news:          s.news,
		leadership:    s.leadership,
		idleHeartbeat: cfg.HeartbeatInterval,
		stopped:       s.stop,
		syncAhead:     s.syncAhead,
	}
	tr := newTransporter(s.peerTransport, cfg.ElectionTimeout, s)
	srv, err := raft.NewServer(cfg.Name, cfg.DataDir, tr, s, s, cfg.RaftURL())
	if err != nil {
		return nil, fmt.Errorf("create raft server: %w", err)
	}
	s.raft = srv
	// The transporter holds heartbeats until there is news, or until
	// cfg.HeartbeatInterval passes (replication.go).
	srv.SetHeartbeatInterval(replicationTick)
	// Before the log is replayed: applied joins and snapshots tell the
	// guard the membership.
	s.guard = raftguard.New(raftguard.Config{Raft: srv, Disk: disk, Transport: tr, ElectionTimeout: cfg.ElectionTimeout})
	tr.guard = s.guard
	s.watchMetrics()
	s.replicator.terms = s.guard
	if err := disk.LoadSnapshot(srv); err != nil {
		return nil, err
	}
	disk.RemoveStatesExcept(s.recoveredFrom)
	if err := srv.Init(); err != nil {
		return nil, fmt.Errorf("open raft state in %s: %w", cfg.DataDir, err)
	}
	if err := disk.Attach(srv); err != nil {
		return nil, err
	}
	s.identityFromBefore()
	// goraft runs its listeners in its event loop, under its own lock: they
	// may read the log, but not call goraft's other getters.
	srv.AddEventListener(raft.StateChangeEventType, func(e raft.Event) {
		state := e.Value().(string)
		s.leadership.stateChanged(state)
		if state == raft.Leader {
			s.news.leaderElected(s.lastLogIndex())
			s.claimIdentity()
			tell(s.becameLeader)
		}
		s.news.Announce()
	})
	srv.AddEventListener(raft.CommitEventType, func(raft.Event) { s.news.Announce() })
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	// A node that founds a cluster holds its identity before any peer can
	// ask for it: members started with it would be told it has none.
	if srv.IsLogEmpty() {
		if machines, err := cfg.seedMachines(); err == nil && len(machines) == 0 {
			if _, err := s.identity.Found(); err != nil {
				return nil, fmt.Errorf("found a new cluster: %w", err)
			}
		}
	}
	// Before any peer can reach this node.
	s.guard.Start()
	go func() {
		select {
		case err := <-s.guard.Failures():
			s.fail(err)
		case <-s.stop:
		}
	}()
	s.servePeers()
	return s, nil
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
			if err := s.checkSeedsIdentity(machines); err != nil {
				return err
			}
			log.Printf("raft: the log in %s is not empty: restarting as the member it records, with the membership it holds; -C/-CF are asked, with the members it knows, to count it again only if no leader reaches it within %v or the log shows it was removed",
				s.cfg.DataDir, s.rejoinAfter())
		}
	case len(machines) > 0:
		if err := s.joinCluster(machines); err != nil {
			return fmt.Errorf("-C/-CF: %w", s.explainOtherCluster(err))
		}
		return s.waitCaughtUp(last, machines, true)
	default:
		id, err := s.identity.Found()
		if err != nil {
			return fmt.Errorf("found a new cluster: %w", err)
		}
		self := &JoinCommand{RaftVersion: raftVersion, Name: s.cfg.Name, RaftURL: s.cfg.RaftURL(), EtcdURL: s.cfg.ClientURL()}
		// On an empty log goraft lets a node's join of itself make it the
		// leader of a one-member cluster at once.
		if _, err := s.doWithTimeout(self); err != nil {
			return fmt.Errorf("found a new cluster: %w", err)
		}
		log.Printf("raft: founded a new cluster, %s, as %q", id, s.cfg.Name)
		return nil
	}
	return s.waitCaughtUp(last, machines, false)
}

// catchUpPoll is how often a starting node checks whether it has caught up.
const catchUpPoll = 20 * time.Millisecond

// waitCaughtUp returns once this node knows a leader and has applied
// everything the leader had committed when asked. A leader has caught up
// when it has committed the no-op every new leader appends after the log's
// last entry: goraft applies at start-up only what its saved commit index
// covers, and the rest once a leader commits past it.
//
// A node that restarts over a log in which it was removed, or that no
// leader reaches for a while (it may have been removed while it was down),
// asks to join again, through the members it knows and machines: a
// cluster that no longer counts it never sends it anything. For a member
// the join is a no-op. joined is true when this start has joined already.
func (s *raftServer) waitCaughtUp(last uint64, machines []string, joined bool) error {
	client := &http.Client{Transport: s.peerTransport, Timeout: s.cfg.ElectionTimeout}
	nextReport := time.Now().Add(5 * time.Second)
	noLeaderSince := time.Now()
	var lastAsked time.Time
	for {
		_, _, leaderKnown := s.leader()
		if leaderKnown {
			noLeaderSince = time.Now()
		}
		if _, member := s.members.get(s.cfg.Name); !joined && time.Since(lastAsked) >= joinRetryInterval &&
			(!member || time.Since(noLeaderSince) >= s.rejoinAfter()) {
			lastAsked = time.Now()
			var err error
			if joined, err = s.askToJoinAgain(member, machines); err != nil {
				return err
			}
		}
		if s.isLeader() {
			if s.raft.CommitIndex() > last {
				break
			}
			// goraft stops applying after each join until it is asked to
			// commit again, and a lone node is asked only by a new command.
			if s.members.count() <= 1 {
				s.doWithTimeout(raft.NOPCommand{})
			}
		} else if _, leader, ok := s.leader(); ok {
			if _, joined := s.members.get(s.cfg.Name); joined {
				if target, err := fetchCommitIndex(client, leader.RaftURL); err == nil && s.raft.CommitIndex() >= target {
					break
				}
			}
		}
		if time.Now().After(nextReport) {
			s.reportWaiting()
			nextReport = time.Now().Add(5 * time.Second)
		}
		select {
		case <-s.stop:
			return errors.New("stopped while catching up")
		case <-time.After(catchUpPoll):
		}
	}
	log.Printf("raft: %q caught up at index %d (store index %d)", s.cfg.Name, s.raft.CommitIndex(), s.store.Index())
	return nil
}

// reportWaiting says why the node is not serving yet, and how to get out
// when no leader can be elected.
func (s *raftServer) reportWaiting() {
	names := s.members.names()
	if _, leader, ok := s.leader(); ok {
		log.Printf("raft: catching up with the leader at %s (state %s, commit index %d)", leader.RaftURL, s.raft.State(), s.raft.CommitIndex())
		return
	}
	log.Printf("raft: waiting for a leader (state %s, commit index %d): %d of the %d members (%s) must be running to elect one; "+
		"start the missing members, or start this node afresh with -f (losing its data here) to found or join another cluster",
		s.raft.State(), s.raft.CommitIndex(), len(names)/2+1, len(names), strings.Join(names, ", "))
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
	s.serving.Store(true)
	s.wg.Add(2)
	go s.runExpiry()
	go s.watchRemoval()
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
	s.guard.Stop()
	s.raft.Stop()
	s.peerTransport.CloseIdleConnections()
	if err := s.disk.Close(); err != nil {
		log.Printf("close raft log: %v", err)
	}
}

// fail stops the node for good: it can no longer keep what it acknowledges
// (a failed fsync, a compaction without its snapshot, a term it cannot
// record). It may be called from goraft's listeners, so it never blocks.
func (s *raftServer) fail(err error) {
	s.failOnce.Do(func() {
		log.Printf("raft: FATAL: %v; this node stops, as it can no longer keep what it acknowledges", err)
		s.failed <- err
	})
}

// confWritten makes the conf goraft just rewrote durable; a node that
// cannot stops.
func (s *raftServer) confWritten() {
	if err := s.disk.ConfWritten(); err != nil {
		s.fail(err)
	}
}

// failures delivers the error that makes the node stop.
func (s *raftServer) failures() <-chan error { return s.failed }

func (s *raftServer) isLeader() bool { return s.raft.State() == raft.Leader }

// leader returns the current leader's name and URLs, if one is known.
func (s *raftServer) leader() (string, member, bool) {
	name := s.guard.Leader()
	if name == "" {
		return "", member{}, false
	}
	m, ok := s.members.get(name)
	return name, m, ok
}

// liveLeader is the leader clients may be sent to: the one goraft names,
// unless this node follows it and has not heard from it for an election
// timeout. goraft goes on naming a dead leader until this node campaigns.
func (s *raftServer) liveLeader() (member, error) {
	name, silent := s.guard.LeaderHeard()
	if name == "" {
		return member{}, errNoLeader
	}
	if silent > s.cfg.ElectionTimeout {
		return member{}, fmt.Errorf("%w: %s has not been heard from for %v", errNoLeader, name, silent.Round(time.Millisecond))
	}
	m, ok := s.members.get(name)
	if !ok {
		return member{}, fmt.Errorf("%w: %s is not a member here yet", errNoLeader, name)
	}
	return m, nil
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
	event, _, err := s.dispatchEntry(cmd)
	return event, err
}

// dispatchEntry is dispatch that also returns the index of the log entry
// that held the write, 0 when it is not known, as for every store write:
// it may share its entry with others (batch.go), and its event tells its
// own index.
func (s *raftServer) dispatchEntry(cmd raft.Command) (*store.Event, uint64, error) {
	if !s.isLeader() {
		return nil, 0, errNotLeader
	}
	if err := s.guard.CheckQuorum(); err != nil {
		return nil, 0, err
	}
	if write, ok := cmd.(storeCommand); ok {
		out := s.batcher.write(write, s.cfg.CommandTimeout)
		return out.event, 0, out.err
	}
	v, index, err := s.proposeDurably(cmd)
	event, _ := v.(*store.Event)
	return event, index, err
}

// proposeDurably proposes cmd and returns its result once it is applied
// and durable, with the index of its entry.
func (s *raftServer) proposeDurably(cmd raft.Command) (any, uint64, error) {
	v, index, err := s.doIndexed(cmd)
	var etcdErr *etcderr.Error
	if err != nil && !errors.As(err, &etcdErr) {
		return nil, 0, err
	}
	// The entry is committed whatever the store made of it: make it durable
	// before anyone hears the outcome. goraft never fsyncs a lone node's log
	// and ignores its own fsync errors as a leader, so every entry syncs the
	// log here, unless a sync started while the entry was on its way to the
	// followers already has; concurrent proposals share one fsync.
	if index == 0 || !s.syncMarks.covers(s.raft.Term(), index) {
		if err := s.syncLog(); err != nil {
			return nil, 0, err
		}
	}
	return v, index, err
}

// errNotDurable is what clients hear when the log could not be synced; the
// cause is in the node's log.
var errNotDurable = errors.New("raft: the log could not be written to disk; this node is stopping")

// syncLog makes everything in the log durable, and the store's writes with
// it. A failure stops the node.
func (s *raftServer) syncLog() error {
	applied := s.store.Index()
	if err := s.disk.Sync(); err != nil {
		s.fail(err)
		return errNotDurable
	}
	if raise(&s.durableIndex, applied) {
		s.durableRises.Announce()
	}
	return nil
}

// durableWait is how long a read waits for the sync of the proposal that
// applied what it sees before it syncs the log itself: that proposal may
// have given up (a timeout) before its sync.
const durableWait = 25 * time.Millisecond

// awaitDurable returns once every write the store shows is on disk. A lone
// node applies a write before it syncs it, and a read must not show what a
// power cut could take back. Elsewhere what the store shows is committed,
// so on the disks of a majority. The proposal that applied a write syncs
// it next: a read waits for that sync rather than start one more, which
// under a mix of reads and writes doubled the syncs.
func (s *raftServer) awaitDurable() error {
	target := s.store.Index()
	if target <= s.durableIndex.Load() || s.members.count() > 1 {
		return nil
	}
	timer := time.NewTimer(durableWait)
	defer timer.Stop()
	for {
		rises := s.durableRises.Wait()
		if target <= s.durableIndex.Load() {
			return nil
		}
		select {
		case <-rises:
		case <-timer.C:
			return s.syncLog()
		case <-s.stop:
			return errNotDurable
		}
	}
}

// readBarrier returns once a no-op has gone through the log: then this node
// was still the leader when the read arrived and holds every acknowledged
// write.
func (s *raftServer) readBarrier() error {
	if !s.isLeader() {
		return errNotLeader
	}
	if err := s.guard.CheckQuorum(); err != nil {
		return err
	}
	_, err := s.doWithTimeout(raft.NOPCommand{})
	return err
}

// awaitLeaderCaughtUp returns once this node, if it leads, has committed
// an entry of its own term, and so applied every entry committed before
// it: a new leader holds every acknowledged write, but applies those its
// predecessor committed only once it commits an entry itself. It waits as
// long as a write would. A follower returns at once: its reads may be
// stale by design.
func (s *raftServer) awaitLeaderCaughtUp() error {
	if !s.guard.LeaderBehind() {
		return nil
	}
	deadline := time.NewTimer(s.cfg.CommandTimeout)
	defer deadline.Stop()
	for {
		// Every commit is announced to the held heartbeats; the reads
		// listen too.
		committed := s.news.Wait()
		if !s.guard.LeaderBehind() {
			return nil
		}
		select {
		case <-committed:
		case <-deadline.C:
			return errLeaderBehind
		case <-s.stop:
			return errLeaderBehind
		}
	}
}

// doWithTimeout is goraft's Do with a deadline: Do itself waits forever
// when there is no quorum. A timed-out command may still commit later. At
// most maxProposals wait at once.
func (s *raftServer) doWithTimeout(cmd raft.Command) (any, error) {
	v, _, err := s.doIndexed(cmd)
	return v, err
}

// doIndexed is doWithTimeout that also returns the index of the command's
// entry, 0 when it is not known.
func (s *raftServer) doIndexed(cmd raft.Command) (any, uint64, error) {
	select {
	case s.proposals <- struct{}{}:
	default:
		return nil, 0, errTooManyProposals
	}
	type result struct {
		value any
		index uint64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var index uint64
		v, err := s.raft.Do(s.news.announceCommand(cmd, s.lastLogIndex, &index))
		<-s.proposals
		done <- result{v, index, err}
	}()
	timer := time.NewTimer(s.cfg.CommandTimeout)
	defer timer.Stop()
	select {
	case r := <-done:
		if proposalFailed(r.err) {
			s.metrics.ProposalsFailed.Inc()
		}
		if errors.Is(r.err, raft.NotLeaderError) {
			return nil, 0, errNotLeader
		}
		return r.value, r.index, r.err
	case <-timer.C:
		s.metrics.ProposalsFailed.Inc()
		return nil, 0, errCommandTimeout
	}
}

// entryApplied is called for every log entry of store writes applied (a
// write, a batch of them, a join or a remove), from goraft's apply loop.
func (s *raftServer) entryApplied(srv raft.Server) {
	s.storeApplied.Announce()
	if s.appliedEntries.Add(1)%entriesPerCommitFlush == 0 {
		srv.FlushCommitIndex()
		s.confWritten()
	}
}

// Save is goraft's snapshot hook. The store goes to a state file of its
// own, streamed; goraft's snapshot holds only a reference to it, and so
// does the copy goraft keeps in memory (raftdisk/state.go).
func (s *raftServer) Save() ([]byte, error) {
	start := time.Now()
	state, err := s.disk.SaveState(s.store.Index(), s.store.SaveTo)
	if err == nil {
		s.metrics.SnapshotSave.Observe(time.Since(start).Seconds())
	}
	return state, err
}

// Recovery is goraft's snapshot restore hook: at start-up, and when a
// leader installs a snapshot (whose state file it sent first). A state
// saved inline by an earlier version is read as it is.
func (s *raftServer) Recovery(state []byte) error {
	sf, isRef, err := raftdisk.StateRef(state)
	switch {
	case err != nil:
	case isRef:
		var r io.ReadCloser
		if r, err = s.disk.OpenState(sf); err == nil {
			err = s.store.RecoverFrom(r)
			r.Close()
		}
		s.recoveredFrom = &sf
	default:
		err = s.store.Recover(state)
	}
	if err != nil {
		return fmt.Errorf("recover store from snapshot: %w", err)
	}
	s.members.rebuild(s.store)
	s.guard.SetMembers(s.members.names())
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

// snapshotIfDue takes a snapshot once -snapshotCount entries were committed
// since the last one, whatever they are (writes, no-ops of consistent
// reads, joins), and compacts the log behind it: goraft keeps the whole log
// in memory and replays it at start-up.
func (s *raftServer) snapshotIfDue() {
	commit := s.raft.CommitIndex()
	if commit-s.snapshotAt < s.cfg.SnapshotCount {
		return
	}
	// TakeSnapshot also reads each peer's mark, which goraft writes
	// without a lock after a snapshot transfer (snapshot_fence.go). Paused
	// before the membership locks: a transfer's window closes only once
	// goraft's loop, which may apply a membership change, took its barrier.
	unpause, ok := s.fence.pause(time.Second)
	if !ok {
		log.Printf("raft: snapshot put off: a peer sent a snapshot did not call again in time")
		return
	}
	defer unpause()
	// TakeSnapshot copies goraft's peer map without a lock: no join or
	// remove may be applied meanwhile. New ones wait for joinMu, those from a
	// leader for memberChange, and one already in the log waits for the next
	// round.
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	s.memberChange.Lock()
	defer s.memberChange.Unlock()
	if s.disk.Pending(s.raft, joinCommandName) || s.disk.Pending(s.raft, removeCommandName) {
		return
	}
	var peers []string
	if s.isLeader() {
		peers = s.members.others(s.cfg.Name)
		if s.deferSnapshot(peers, commit) {
			return
		}
	}
	release, ok := s.gate.hold(peers, raftdisk.LogStart(s.raft), time.Second)
	if !ok {
		log.Printf("raft: snapshot put off: a peer being sent a snapshot did not pause in time")
		return
	}
	err := s.disk.TakeSnapshot(s.raft)
	release(raftdisk.LogStart(s.raft))
	if errors.Is(err, raftdisk.ErrSnapshotLost) {
		s.fail(err)
		return
	}
	if err != nil {
		log.Printf("raft: %v", err)
		return
	}
	s.snapshotAt = commit
	log.Printf("raft: snapshot taken at index %d", commit)
}

// keptAfterSnapshot is how many entries before its index goraft keeps
// when it compacts the log (its NumberOfLogEntriesAfterSnapshot).
const keptAfterSnapshot = 200

// deferSnapshot reports whether a leader should put its snapshot off: the
// compaction would drop entries a member still needs, which would then
// need a snapshot of its own, and a member slower to install one than the
// leader is to take the next never catches up. The log still stays within
// maxDeferredSnapshots times -snapshotCount, for a member that is down.
func (s *raftServer) deferSnapshot(peers []string, commit uint64) bool {
	const maxDeferredSnapshots = 4
	behind := commit - min(commit, s.gate.leastHeld(peers))
	return behind > keptAfterSnapshot && commit-s.snapshotAt < maxDeferredSnapshots*s.cfg.SnapshotCount
}

// runExpiry is the leader's TTL clock: it proposes an expire command for
// every key whose expiration has passed, so that all members remove it at
// the same index. Other members wait for those commands. It sleeps until
// the next expiration, or until this node leads, a key may expire sooner,
// or a proposal ends.
func (s *raftServer) runExpiry() {
	defer s.wg.Done()
	const maxInFlight = 256
	inFlight := make(map[string]bool)
	done := make(chan string, maxInFlight)
	timer := time.NewTimer(0)
	defer timer.Stop()
	var expiryChanged <-chan struct{}
	for {
		select {
		case <-s.stop:
			return
		case key := <-done:
			delete(inFlight, key)
		case <-timer.C:
		case <-expiryChanged:
		case <-s.becameLeader:
		}
		// Before the store is read, so that no change goes unseen.
		expiryChanged = s.store.ExpiryChanged()
		if s.isLeader() {
			now := time.Now()
			for _, e := range s.store.Expired(now, maxInFlight) {
				if inFlight[e.Key] || len(inFlight) >= maxInFlight {
					continue
				}
				inFlight[e.Key] = true
				s.wg.Add(1)
				go func(e store.Expiry) {
					defer s.wg.Done()
					if _, err := s.dispatch(&ExpireCommand{Key: e.Key, ExpireTime: e.Expiration}); err != nil && !errors.Is(err, errNotLeader) {
						log.Printf("expire %s: %v", e.Key, err)
					}
					done <- e.Key
				}(e)
			}
		}
		if wait, ok := s.nextExpiryWait(len(inFlight) > 0); ok {
			timer.Reset(wait)
		} else {
			timer.Stop()
		}
	}
}

// maxExpirySleep bounds the expiry loop's sleep while keys have an
// expiration: expirations are wall-clock times, and the wall clock may be
// stepped while the loop sleeps on the monotonic one.
const maxExpirySleep = time.Second

// nextExpiryWait is how long the expiry loop may sleep, and false when it
// has nothing to wait for but a wake-up: this node does not lead, no key
// has an expiration, or every due key is being expired.
func (s *raftServer) nextExpiryWait(busy bool) (time.Duration, bool) {
	const retry = 10 * time.Millisecond
	next, ok := s.store.NextExpiration()
	if !ok || !s.isLeader() {
		return 0, false
	}
	wait := time.Until(next)
	switch {
	case wait > 0:
		return min(wait, maxExpirySleep), true
	case busy:
		// Everything due is proposed; a finished proposal wakes the loop.
		return 0, false
	default:
		return retry, true
	}
}

// tell wakes the job waiting on c, which holds at most one wake-up: it
// never blocks, and may run in goraft's listeners.
func tell(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
