package main

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"strconv"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/raftdisk"
	"github.com/etcd-recreation/etcd/internal/raftguard"
	"github.com/etcd-recreation/etcd/store"
)

// Limits on peer request bodies. An append carries at most a batch of
// entries; a snapshot's state is the whole store.
const (
	maxSmallPeerBody = 64 << 10
	maxSnapshotBody  = 1 << 30
)

// The limits of appends are the same on every member, whatever its flags:
// a follower that refused an entry its leader accepted would refuse it on
// every retry, and replication would stop for good.
const (
	// appendBatchBytes bounds the entries of one append, but for a single
	// entry, which may be larger.
	appendBatchBytes = 8 << 20
	// appendBodyLimit is the largest append a peer may send: a batch, its
	// framing, and one entry more.
	appendBodyLimit = appendBatchBytes + maxEntryBytes + maxSmallPeerBody
)

// maxEntryBytes bounds the log entries any member proposes, about 193 MiB:
// Config.entryBytes of a member with the largest -maxbody and -maxkey. A
// join's entry is bounded by its request, maxSmallPeerBody. raftdisk's
// bound on a log record, 256 MiB, must stay above it.
const maxEntryBytes = 6*(maxBodyFlag+3*maxKeyFlag+headerRoom+4<<10) + 4<<10

// servePeers serves the peer API on the raft port. goraft's handlers are
// wrapped with guards: goraft trusts its peers completely, and some
// well-formed requests crash or wedge it.
func (s *raftServer) servePeers() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /name", s.textHandler(func() string { return s.cfg.Name }))
	mux.HandleFunc("GET /version", s.textHandler(func() string { return raftVersion }))
	mux.HandleFunc("GET /etcdURL", s.textHandler(s.cfg.ClientURL))
	mux.HandleFunc("GET /log", s.logHandler)
	mux.HandleFunc("GET "+commitIndexPath, s.commitIndexHandler)
	mux.HandleFunc("GET "+termPath, s.termHandler)
	mux.HandleFunc("POST /join", s.joinHandler)
	mux.HandleFunc("DELETE /remove/{name}", s.removeHandler)
	mux.HandleFunc("POST "+votePath, s.voteHandler)
	mux.HandleFunc("POST "+preVotePath, s.preVoteHandler)
	mux.HandleFunc("POST "+appendEntriesPath, s.appendEntriesHandler)
	mux.HandleFunc("POST "+snapshotPath, s.snapshotHandler)
	mux.HandleFunc("POST "+snapshotRecoveryPath, s.snapshotRecoveryHandler)
	mux.HandleFunc("POST "+snapshotStatePath, s.snapshotStateHandler)
	mux.HandleFunc("POST "+forwardPath, s.forwardHandler)
	mux.HandleFunc("POST "+readIndexPath, s.readIndexHandler)
	s.peerServer = &http.Server{
		Handler:           s.identity.Handler(mux, operatorPeerPaths...),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          serverErrorLog("peer port " + s.cfg.RaftListenAddr()),
	}
	listener := s.peerListener
	if s.peerTLS != nil {
		listener = tls.NewListener(listener, s.peerTLS.serverConfig())
	}
	go func() {
		if err := s.peerServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("peer server: %v", err)
		}
	}()
}

func (s *raftServer) textHandler(value func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, value())
	}
}

// decodeBody reads a goraft protobuf message, answering 400 when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, msg decoder) bool {
	if _, err := msg.Decode(http.MaxBytesReader(w, r.Body, limit)); err != nil {
		http.Error(w, "malformed request: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func writeMessage(w http.ResponseWriter, msg encoder) {
	w.Header().Set("Content-Type", "application/protobuf")
	if _, err := msg.Encode(w); err != nil {
		log.Printf("peer: write response: %v", err)
	}
}

// guardRefused answers the error of a message the guard did not hand to
// goraft, or that goraft could not take.
func guardRefused(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), raftguard.StatusOf(err))
}

func (s *raftServer) voteHandler(w http.ResponseWriter, r *http.Request) {
	req := &raft.RequestVoteRequest{}
	if !decodeBody(w, r, maxSmallPeerBody, req) {
		return
	}
	s.lastVoteRequest.Store(time.Now().UnixNano())
	resp, err := s.guard.Vote(req)
	if err != nil {
		guardRefused(w, err)
		return
	}
	writeMessage(w, resp)
}

func (s *raftServer) preVoteHandler(w http.ResponseWriter, r *http.Request) {
	req := &raft.RequestVoteRequest{}
	if !decodeBody(w, r, maxSmallPeerBody, req) {
		return
	}
	writeMessage(w, s.guard.PreVote(req))
}

func (s *raftServer) appendEntriesHandler(w http.ResponseWriter, r *http.Request) {
	req := &raft.AppendEntriesRequest{}
	if !decodeBody(w, r, appendBodyLimit, req) {
		return
	}
	s.stats.receivedAppend()
	if len(req.Entries) > 0 {
		procs.busy()
	}
	s.lastAppend.Store(time.Now().UnixNano())
	// A join or remove applied while a snapshot copies goraft's peer map
	// would race with the copy.
	if carriesJoin(req) {
		s.memberChange.RLock()
		defer s.memberChange.RUnlock()
	}
	resp, err := s.guard.Append(req)
	if err != nil {
		guardRefused(w, err)
		return
	}
	// A node from before identities takes its leader's.
	if resp.Term() == req.Term && resp.Success() {
		s.adoptLeaderIdentity(r, req.LeaderName)
	}
	writeMessage(w, resp)
}

// carriesJoin reports whether an append holds a join or a remove:
// membership changes when it is applied.
func carriesJoin(req *raft.AppendEntriesRequest) bool {
	for _, e := range req.Entries {
		if name := e.GetCommandName(); name == joinCommandName || name == removeCommandName {
			return true
		}
	}
	return false
}

func (s *raftServer) snapshotHandler(w http.ResponseWriter, r *http.Request) {
	req := &raft.SnapshotRequest{}
	if !decodeBody(w, r, maxSmallPeerBody, req) {
		return
	}
	resp, err := s.guard.Snapshot(req)
	if err != nil {
		guardRefused(w, err)
		return
	}
	writeMessage(w, resp)
}

func (s *raftServer) snapshotRecoveryHandler(w http.ResponseWriter, r *http.Request) {
	procs.busy()
	req := &raft.SnapshotRecoveryRequest{}
	if !decodeBody(w, r, maxSnapshotBody, req) {
		return
	}
	if err := s.guard.AcceptSnapshotFrom(req.LeaderName); err != nil {
		guardRefused(w, err)
		return
	}
	// The snapshot replaces goraft's peer map; and no snapshot of this
	// node's own, nor another install, removes the state file meanwhile.
	s.memberChange.RLock()
	defer s.memberChange.RUnlock()
	s.installMu.Lock()
	defer s.installMu.Unlock()
	// goraft panics when the state machine cannot recover: check the state
	// first, its file whole (sent just before, see snapshotStateHandler), or
	// an inline state (from an earlier version) on a scratch store.
	sf, isRef, err := raftdisk.StateRef(req.State)
	switch {
	case err != nil:
		http.Error(w, "malformed snapshot state: "+err.Error(), http.StatusBadRequest)
		return
	case isRef && !s.disk.HasState(sf):
		http.Error(w, "the snapshot's state file was not received", http.StatusConflict)
		return
	case !isRef:
		if err := store.New(0).Recover(req.State); err != nil {
			http.Error(w, "malformed snapshot state: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	resp, err := s.guard.InstallSnapshot(req)
	if err != nil {
		guardRefused(w, err)
		return
	}
	writeMessage(w, resp)
}

// snapshotStateHandler receives the state file of the snapshot the
// current leader is about to install here: goraft's own message names it.
func (s *raftServer) snapshotStateHandler(w http.ResponseWriter, r *http.Request) {
	sf, ok := raftdisk.ParseStateFile(r.URL.Query().Get("file"))
	if !ok || sf.Size() > maxSnapshotBody {
		http.Error(w, "want file=the name of a snapshot state file", http.StatusBadRequest)
		return
	}
	if err := s.guard.AcceptSnapshotFrom(r.URL.Query().Get("leader")); err != nil {
		guardRefused(w, err)
		return
	}
	if err := s.disk.ReceiveState(sf, http.MaxBytesReader(w, r.Body, sf.Size()+1)); err != nil {
		log.Printf("raft: receiving a snapshot: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// logHandler lists the entries of the in-memory log, for debugging: their
// index, term and command, but not the commands' contents, which hold the
// keys' values and are no business of whoever can reach the peer port.
func (s *raftServer) logHandler(w http.ResponseWriter, _ *http.Request) {
	type entry struct {
		Index       uint64 `json:"index"`
		Term        uint64 `json:"term"`
		CommandName string `json:"commandName"`
	}
	entries := s.raft.LogEntries()
	out := make([]entry, len(entries))
	for i, e := range entries {
		out[i] = entry{Index: e.Index(), Term: e.Term(), CommandName: e.CommandName()}
	}
	writeJSON(w, http.StatusOK, out)
}

// joinHandler adds a member. Followers send the joiner to the leader.
func (s *raftServer) joinHandler(w http.ResponseWriter, r *http.Request) {
	procs.busy()
	var cmd JoinCommand
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSmallPeerBody)).Decode(&cmd); err != nil || cmd.Name == "" || cmd.RaftURL == "" || cmd.EtcdURL == "" {
		writeError(w, etcderr.New(etcderr.InvalidForm, "join: want JSON with name, raftURL and etcdURL"))
		return
	}
	if err := checkMemberName(cmd.Name); err != nil {
		writeError(w, etcderr.New(etcderr.InvalidField, "join: "+err.Error()))
		return
	}
	if cmd.RaftVersion != raftVersion {
		writeError(w, etcderr.Newf(etcderr.InvalidField, "join: raft version %q differs from this cluster's %q", cmd.RaftVersion, raftVersion))
		return
	}
	if !s.isLeader() {
		if _, leader, ok := s.leader(); ok {
			http.Redirect(w, r, leader.RaftURL+"/join", http.StatusTemporaryRedirect)
			return
		}
		writeError(w, etcderr.New(etcderr.RaftInternal, "join: no leader is known"))
		return
	}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if m, known := s.members.get(cmd.Name); known && m.RaftURL != cmd.RaftURL {
		writeError(w, etcderr.Newf(etcderr.InvalidField, "join: the name %q is taken by the member at %s", cmd.Name, m.RaftURL))
		return
	} else if !known && s.members.count() >= s.cfg.MaxClusterSize {
		writeError(w, etcderr.New(etcderr.NoMorePeer, ""))
		return
	}
	_, index, err := s.dispatchEntry(&cmd)
	if index == 0 {
		// Not known when the entry was not appended here; the commit index
		// then covers it, if it committed.
		index = s.raft.CommitIndex()
	}
	if err == nil {
		err = s.awaitMembersApplied(index, cmd.Name)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strconv.FormatUint(index, 10))
}

// commitIndexHandler tells a member catching up how far the leader has
// committed. Right after an election the leader's commit index may still be
// the stale one it restarted with: it answers only once it has committed an
// entry of its own term, which covers every entry acknowledged before.
func (s *raftServer) commitIndexHandler(w http.ResponseWriter, _ *http.Request) {
	commit := s.raft.CommitIndex()
	if !s.isLeader() || commit <= s.guard.ElectedAt() {
		http.Error(w, "not a leader that has committed in its term", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, strconv.FormatUint(commit, 10))
}

// raftPosition is the body of GET /term: where this member stands in raft,
// for operators and for the fault tests, which follow every member's term.
type raftPosition struct {
	Term         uint64 `json:"term"`
	State        string `json:"state"`
	Leader       string `json:"leader"`
	CommitIndex  uint64 `json:"commitIndex"`
	LastLogIndex uint64 `json:"lastLogIndex"`
	LastLogTerm  uint64 `json:"lastLogTerm"`
}

// termHandler answers GET /term.
func (s *raftServer) termHandler(w http.ResponseWriter, _ *http.Request) {
	pos := raftPosition{Term: s.guard.Term(), State: s.raft.State(), Leader: s.guard.Leader(), CommitIndex: s.raft.CommitIndex()}
	if entries := s.raft.LogEntries(); len(entries) > 0 {
		last := entries[len(entries)-1]
		pos.LastLogIndex, pos.LastLogTerm = last.Index(), last.Term()
	}
	writeJSON(w, http.StatusOK, pos)
}
