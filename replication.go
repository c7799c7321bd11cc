package main

import (
	"encoding/json"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etcd-recreation/etcd/internal/notify"
	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"
)

// Replication that does not wait for the heartbeat.
//
// goraft's leader sends a follower what it lacks only on the tick of that
// peer's heartbeat, so with goraft alone a write waits for the next tick
// and an idle cluster pays for every tick. Here goraft's tick is made so
// short that it is always due (replicationTick), and the transporter holds
// each empty heartbeat until there is news for the follower: entries the
// leader appended, which it adds to the request; a commit index the
// follower has not heard; or the idle heartbeat (-heartbeat) falling due.
// goraft reads a request's entries back only after the transporter
// returns, and counts what it finds there as sent, so entries added here
// are accounted for as if goraft had sent them itself.

// replicationTick is goraft's heartbeat interval. A peer goroutine that
// waits on its ticker longer than this has nothing to wait for: the
// transporter does the waiting. Go keeps a ticker off the timer heap while
// nobody waits on it, so a held heartbeat costs nothing.
const replicationTick = 10 * time.Microsecond

// appendVisible bounds how long a held heartbeat looks for an entry goraft
// has begun to append: it does so in a few microseconds, unless the append
// failed.
const appendVisible = 10 * time.Millisecond

// leaderNews wakes the heartbeats a leader holds when there may be
// something to send, or a reason to stop holding: every applied entry is
// announced.
type leaderNews struct {
	notify.Broadcast

	// appendingIndex is the index of the entry goraft last began to
	// append, and appendingAt when (UnixNano).
	appendingIndex atomic.Uint64
	appendingAt    atomic.Int64
}

// appending announces the entry at index, which goraft's event loop is
// about to append.
func (n *leaderNews) appending(index uint64) {
	n.appendingAt.Store(time.Now().UnixNano())
	n.appendingIndex.Store(index)
	n.Announce()
}

// leaderElected announces the no-op goraft appends when it becomes leader,
// after the log's last entry (lastIndex), itself, not through doIndexed.
// Held heartbeats look for it until it is there, and no longer.
func (n *leaderNews) leaderElected(lastIndex uint64) { n.appending(lastIndex + 1) }

// appendPending reports whether goraft has begun to append an entry past
// last, the log's last entry as seen, and may not have finished.
func (n *leaderNews) appendPending(last uint64) bool {
	return n.appendingIndex.Load() > last && time.Since(time.Unix(0, n.appendingAt.Load())) < appendVisible
}

// announced is a command as handed to goraft. goraft encodes a command
// last before it appends it, and tells no one when it has: the encoding
// tells the held heartbeats which entry to look for. goraft applies a
// copy decoded from the log, never this value.
type announced struct {
	raft.Command
	news      *leaderNews
	lastIndex func() uint64
	// index receives the entry's index: goraft encodes the command in its
	// event loop, which then answers Do.
	index *uint64
}

// Encode writes the command as goraft would: as JSON, with a newline.
func (a announced) Encode(w io.Writer) error {
	*a.index = a.lastIndex() + 1
	a.news.appending(*a.index)
	return json.NewEncoder(w).Encode(a.Command)
}

// Decode is never called: goraft decodes the log's copy by its name.
func (announced) Decode(io.Reader) error {
	return errors.New("an announced command is only encoded")
}

// announcedJoin keeps a join recognisable to goraft, which founds a
// cluster on a node's join of itself.
type announcedJoin struct{ announced }

func (a announcedJoin) NodeName() string { return a.Command.(raft.JoinCommand).NodeName() }

// announceCommand wraps cmd so that held heartbeats learn of its append,
// and index of its place in the log.
func (n *leaderNews) announceCommand(cmd raft.Command, lastIndex func() uint64, index *uint64) raft.Command {
	a := announced{Command: cmd, news: n, lastIndex: lastIndex, index: index}
	if _, ok := cmd.(raft.JoinCommand); ok {
		return announcedJoin{a}
	}
	return a
}

// raise sets a to v if v is larger, and reports whether it did.
func raise(a *atomic.Uint64, v uint64) bool {
	for {
		old := a.Load()
		if v <= old {
			return false
		}
		if a.CompareAndSwap(old, v) {
			return true
		}
	}
}

// leadership says whether this node leads, as goraft's event loop sets it.
// A leader's log is cut only after goraft has left the leader state, and
// leaving waits for the write lock: the log's entries can be read under
// the read lock while leading is true.
type leadership struct {
	mu      sync.RWMutex
	leading bool
}

// stateChanged runs in goraft's event loop, on every change of state.
func (l *leadership) stateChanged(state string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.leading = state == raft.Leader
}

// termWatch tells of the terms peers have shown (raftguard.Guard): a term
// above the one a leader leads makes goraft step down, which it does only
// once every held heartbeat has returned, so they must let go at once.
type termWatch interface {
	TermSeen() uint64
	TermRaised() <-chan struct{}
}

// replicator holds a leader's empty heartbeats until there is news, and
// paces the calls to a peer that does not answer.
type replicator struct {
	news          *leaderNews
	terms         termWatch
	leadership    *leadership
	idleHeartbeat time.Duration
	stopped       <-chan struct{}
	// syncAhead starts making the log durable up to an index of a term
	// being sent, so that the leader's fsync overlaps the followers'
	// instead of following them.
	syncAhead func(term, index uint64)

	mu sync.Mutex
	// confirmed is, for each peer, how far its last answer said its log
	// matches this leader's, in which term, and its commit index then.
	// Only a heartbeat from exactly there is held: goraft's guess of where
	// a peer stands (all of the log, for a peer just added or a leader
	// just elected) must be corrected by an answer at once.
	confirmed map[string]peerPosition
}

// forget drops what peer said: it did not answer, refused, or is no
// longer a member.
func (r *replicator) forget(peer string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.confirmed, peer)
}

type peerPosition struct{ term, index, commit uint64 }

// caughtUp reports whether peer confirmed holding the leader's log up to
// index, in term, and returns the commit index it reported.
func (r *replicator) caughtUp(peer string, term, index uint64) (ok bool, commit uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, known := r.confirmed[peer]
	return known && p.term == term && p.index == index, p.commit
}

// answered records how far peer's answer in term says its log matches, and
// its commit index.
func (r *replicator) answered(peer string, term, index, commit uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.confirmed == nil {
		r.confirmed = make(map[string]peerPosition)
	}
	r.confirmed[peer] = peerPosition{term, index, commit}
}

// awaitNews holds req, an empty heartbeat to a follower whose commit index
// is peerCommit, until there is something to tell the follower, and adds
// it: the entries the leader appended since, and its commit index. It
// reports false when this node no longer leads the request's term, or is
// stopping: the heartbeat is then not sent.
func (r *replicator) awaitNews(srv raft.Server, req *raft.AppendEntriesRequest, peerCommit uint64) bool {
	idle := time.NewTimer(r.idleHeartbeat)
	defer idle.Stop()
	var grace <-chan time.Time
	for {
		news, raised := r.news.Wait(), r.terms.TermRaised()
		if !r.stillLeads(srv, req.Term) {
			return false
		}
		commit := srv.CommitIndex()
		added, last := r.addAppended(srv, req)
		if added {
			req.CommitIndex = max(req.CommitIndex, commit)
			return true
		}
		// goraft's follower applies no further than the next join on each
		// append, so its own commit index is the one to compare.
		if commit > peerCommit && grace == nil {
			t := time.NewTimer(commitGrace)
			defer t.Stop()
			grace = t.C
		}
		if r.news.appendPending(last) {
			// Look again in a moment rather than sleep: Go's timers below
			// a millisecond sleep for one.
			runtime.Gosched()
			continue
		}
		select {
		case <-news:
		case <-raised:
		case <-grace:
			req.CommitIndex = max(req.CommitIndex, srv.CommitIndex())
			return true
		case <-idle.C:
			return true
		case <-r.stopped:
			return false
		}
	}
}

// commitGrace is how long a commit index that is the only news for a
// follower waits for entries to go with: goraft's follower fsyncs its log
// on every append, and a message of its own for each commit kept a
// follower busy when the next write's entry came (a lone client's writes
// waited 430 µs on average before they were sent).
const commitGrace = 2 * time.Millisecond

// pause waits out the idle heartbeat after a call a peer did not answer,
// so that a dead peer is not called in a loop. It returns early when this
// node stops leading the term or stops.
func (r *replicator) pause(srv raft.Server, term uint64) {
	idle := time.NewTimer(r.idleHeartbeat)
	defer idle.Stop()
	for {
		news, raised := r.news.Wait(), r.terms.TermRaised()
		if !r.stillLeads(srv, term) {
			return
		}
		select {
		case <-news:
		case <-raised:
		case <-idle.C:
			return
		case <-r.stopped:
			return
		}
	}
}

func (r *replicator) stillLeads(srv raft.Server, term uint64) bool {
	select {
	case <-r.stopped:
		return false
	default:
	}
	return r.terms.TermSeen() <= term && srv.Term() == term && srv.State() == raft.Leader
}

// addAppended adds to req the entries of its term that the leader's log
// holds after req.PrevLogIndex, within the batch budget, and reports
// whether there were any, and the log's last index. Only the leader of a
// term makes entries of that term, so they are the ones goraft would have
// sent.
func (r *replicator) addAppended(srv raft.Server, req *raft.AppendEntriesRequest) (added bool, last uint64) {
	r.leadership.mu.RLock()
	defer r.leadership.mu.RUnlock()
	if !r.leadership.leading {
		return false, 0
	}
	entries := srv.LogEntries()
	if len(entries) == 0 {
		// A compaction kept nothing past the commit index.
		return false, srv.CommitIndex()
	}
	first := entries[0].Index()
	last = entries[len(entries)-1].Index()
	if req.PrevLogIndex+1 < first {
		return false, last
	}
	var size int64
	for i := req.PrevLogIndex + 1 - first; i < uint64(len(entries)); i++ {
		e := entries[i]
		if e.Term() != req.Term || len(req.Entries) >= raft.MaxLogEntriesPerRequest {
			break
		}
		size += entrySize(e.CommandName(), e.Command())
		if len(req.Entries) > 0 && size > appendBatchBytes {
			break
		}
		index, term, name := e.Index(), e.Term(), e.CommandName()
		req.Entries = append(req.Entries, &protobuf.LogEntry{Index: &index, Term: &term, CommandName: &name, Command: e.Command()})
	}
	return len(req.Entries) > 0, last
}

// entrySize is about what an entry adds to an append's body.
func entrySize(name string, command []byte) int64 {
	return int64(len(command)+len(name)) + 32
}

// syncAhead makes the log durable through index in the background, once
// per index: goraft fsyncs a leader's log only when a majority has answered,
// and in its event loop. The error of a failed sync stops the node, as
// every failed sync does.
func (s *raftServer) syncAhead(term, index uint64) {
	if !s.syncMarks.start(term, index) {
		return
	}
	go func() {
		if err := s.disk.Sync(); err != nil {
			s.fail(err)
			return
		}
		s.syncMarks.done(term, index)
	}()
}

// syncMarks records how far syncAhead has made a leader's log durable, in
// the term it leads: a log is cut and rewritten only across terms, so an
// index synced in an earlier term says nothing of the entry there now.
type syncMarks struct {
	mu      sync.Mutex
	term    uint64
	ahead   uint64 // the last index a sync was started for
	through uint64 // the last index a finished sync covered
}

// start reports whether a sync must start to cover index in term.
func (m *syncMarks) start(term, index uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if term > m.term {
		m.term, m.ahead, m.through = term, 0, 0
	}
	if term < m.term || index <= m.ahead {
		return false
	}
	m.ahead = index
	return true
}

// done records that a sync started for index in term has finished.
func (m *syncMarks) done(term, index uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if term == m.term {
		m.through = max(m.through, index)
	}
}

// covers reports whether a finished sync covered index in term.
func (m *syncMarks) covers(term, index uint64) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return term == m.term && index <= m.through
}
