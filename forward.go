package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

// The v2 API takes writes on every member, as etcd 2.x did: clients of 2.x
// and curl without -L do not follow a redirect to the leader. A follower
// sends the write over the peer port to its leader, which proposes it as
// its own clients' writes and answers the outcome; the follower answers
// once its own store has applied it, so that a read there after the answer
// sees the write. A quorum read on a follower asks the leader for a read
// index the same way. The leader never sends such a request on: a member
// that is asked but does not lead refuses, so a write travels one hop at
// most. v1 keeps its 307.

// Peer routes of the v2 API; like every peer route but the operator's,
// they carry the cluster identity.
const (
	forwardPath   = "/v2/forward"
	readIndexPath = "/v2/readIndex"
)

var (
	// errLeaderUnreachable is a forwarded write or read index that got no
	// answer from the leader: it may have died or been cut off with the
	// request in hand, so the write may or may not have happened.
	errLeaderUnreachable = errors.New("raft: the leader did not answer; a write sent to it may or may not have taken effect")
	// errLeaderChanged is a member asked as the leader that no longer
	// leads: it refused, and proposed nothing.
	errLeaderChanged = errors.New("raft: the member asked to lead does not lead any more; nothing was proposed")
	// errLeaderFailed is a failure the leader did not name to this member
	// (its log has it); the write may or may not have happened.
	errLeaderFailed = errors.New("raft: the leader failed to replicate the request; its log has the details")
	// errNotAppliedHere is a write the leader applied that this member
	// did not apply within -timeout: it happened, but a read here may not
	// show it yet.
	errNotAppliedHere = errors.New("raft: the write took effect, but this member has not applied it yet")
)

// forwardResult is the leader's answer to a forwarded write (and the body
// of its refusal): the event, or the store's error, or why raft could not
// replicate it.
type forwardResult struct {
	// Event is the write's event in v1's form; V2 is its Event.V2, which
	// v1's JSON leaves out.
	Event *store.Event   `json:"event,omitempty"`
	V2    *store.V2Event `json:"v2,omitempty"`
	// StoreError and StoreErrorV2 are the store's refusal of the write, in
	// the type it had: v1's errors and v2's are both *etcderr.Error today,
	// and an error carrying its index is an *etcderr.V2.
	StoreError   *etcderr.Error `json:"storeError,omitempty"`
	StoreErrorV2 *etcderr.V2    `json:"storeErrorV2,omitempty"`
	// RaftError is the public text (publicCause) of a raft failure.
	RaftError string `json:"raftError,omitempty"`
	// Index is the leader's store index once the write was applied: the
	// follower answers once its own store has reached it.
	Index uint64 `json:"index,omitempty"`
}

// proposeAnywhere replicates a store write from any member: on the leader
// through dispatch, elsewhere through the leader (forwardWrite). It returns
// the write's event (Event.V2 included), the store's *etcderr.Error (or
// *etcderr.V2) when the store refused it, or a raft failure, which the v2
// API answers as error 300. It never returns errNotLeader.
func (s *raftServer) proposeAnywhere(cmd storeCommand) (*store.Event, error) {
	if s.isLeader() {
		event, err := s.dispatch(cmd)
		// A leader that has just stepped down proposed nothing: the new
		// leader may take the write.
		if !errors.Is(err, errNotLeader) {
			return event, err
		}
	}
	return s.forwardWrite(cmd)
}

// forwardTimeout bounds a forwarded write: the leader may wait -timeout for
// its turn in a batch and -timeout more for raft, and the answer has an
// election timeout to arrive.
func (s *raftServer) forwardTimeout() time.Duration {
	return 2*s.cfg.CommandTimeout + s.cfg.ElectionTimeout
}

// forwardWrite sends cmd to the leader and returns its outcome once this
// member's store has applied it.
func (s *raftServer) forwardWrite(cmd storeCommand) (*store.Event, error) {
	body, err := json.Marshal(cmd.inBatch())
	if err != nil {
		return nil, fmt.Errorf("forward a write: encode %s: %w", cmd.CommandName(), err)
	}
	var result forwardResult
	if err := s.askLeader(forwardPath, body, s.forwardTimeout(), &result); err != nil {
		return nil, err
	}
	if result.RaftError != "" {
		return nil, remoteRaftError(result.RaftError)
	}
	if err := s.awaitApplied(result.Index); err != nil {
		return nil, err
	}
	switch {
	case result.StoreErrorV2 != nil:
		return nil, result.StoreErrorV2
	case result.StoreError != nil:
		return nil, result.StoreError
	case result.Event == nil:
		return nil, fmt.Errorf("%w: the leader answered a forwarded write with no event", errLeaderFailed)
	}
	result.Event.V2 = result.V2
	return result.Event, nil
}

// askLeader posts body to the live leader's peer route and decodes the
// route's answer into out: its result, or its raft failure.
func (s *raftServer) askLeader(route string, body []byte, timeout time.Duration, out any) error {
	// The leader goraft names, even one not heard from for an election
	// timeout (liveLeader's test, which a loaded machine fails while its
	// leader is well): a dead leader refuses the connection, a deposed one
	// refuses the request, and a silent one runs into the deadline.
	name, leader, ok := s.leader()
	if !ok {
		return errNoLeader
	}
	if name == s.cfg.Name {
		return fmt.Errorf("%w: this member has just stopped leading", errNoLeader)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, leader.RaftURL+route, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", errLeaderUnreachable, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Transport: s.peerTransport}).Do(req)
	if err != nil {
		return fmt.Errorf("%w: POST %s%s: %v", errLeaderUnreachable, leader.RaftURL, route, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxEntryBytes))
	if err != nil {
		return fmt.Errorf("%w: POST %s%s: reading the answer: %v", errLeaderUnreachable, leader.RaftURL, route, err)
	}
	// The routes answer 200, or 503 with a raft failure.
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable {
		if err := json.Unmarshal(answer, out); err == nil {
			return nil
		}
	}
	// Not the route's answer: a refusal before the route (another
	// cluster's identity), or a proxy's 502 or 504 when the leader went
	// away.
	failure := errLeaderFailed
	if resp.StatusCode >= http.StatusInternalServerError {
		failure = errLeaderUnreachable
	}
	return fmt.Errorf("%w: POST %s%s: HTTP %d %q", failure, leader.RaftURL, route, resp.StatusCode, answer)
}

// remoteRaftError is the error a leader named by its public text: the same
// error, so that callers can tell whether anything was proposed.
func remoteRaftError(text string) error {
	if text == errNotLeader.Error() {
		return errLeaderChanged
	}
	for _, known := range publicErrors {
		if known.Error() == text {
			return known
		}
	}
	return errLeaderFailed
}

// awaitApplied returns once this member's store has applied index, or
// fails with errNotAppliedHere after -timeout.
func (s *raftServer) awaitApplied(index uint64) error {
	// The apply loop announces every store write it applies; a snapshot
	// installed meanwhile is caught by the poll.
	const poll = 10 * time.Millisecond
	deadline := time.NewTimer(s.cfg.CommandTimeout)
	defer deadline.Stop()
	for {
		applied := s.storeApplied.Wait()
		if s.store.Index() >= index {
			return nil
		}
		select {
		case <-applied:
		case <-time.After(poll):
		case <-deadline.C:
			return fmt.Errorf("%w: index %d, applied here %d", errNotAppliedHere, index, s.store.Index())
		case <-s.stop:
			return fmt.Errorf("%w: the member is stopping", errNotAppliedHere)
		}
	}
}

// forwardHandler proposes a write a follower forwarded. A member that does
// not lead refuses it (dispatch's errNotLeader): it never sends it on.
func (s *raftServer) forwardHandler(w http.ResponseWriter, r *http.Request) {
	procs.busy()
	var write batchedWrite
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxEntryBytes)).Decode(&write); err != nil {
		http.Error(w, "malformed forwarded write: "+err.Error(), http.StatusBadRequest)
		return
	}
	cmd, ok := write.command()
	if !ok {
		http.Error(w, "malformed forwarded write: want exactly one write", http.StatusBadRequest)
		return
	}
	// Only the leader decides that a key expired.
	if _, expiry := cmd.(*ExpireCommand); expiry {
		http.Error(w, "an expiry is not forwarded: the leader expires keys itself", http.StatusBadRequest)
		return
	}
	event, err := s.dispatch(cmd)
	result := forwardResult{Index: s.store.Index()}
	var storeErr *etcderr.Error
	var storeErrV2 *etcderr.V2
	switch {
	case errors.As(err, &storeErrV2):
		result.StoreErrorV2 = storeErrV2
	case errors.As(err, &storeErr):
		result.StoreError = storeErr
	case err != nil:
		result.RaftError = publicCause(err)
		writeJSON(w, http.StatusServiceUnavailable, result)
		return
	case event != nil:
		result.Event, result.V2 = event, event.V2
		result.Index = event.Index
	}
	writeJSON(w, http.StatusOK, result)
}

// command is the write's one command, false when it holds none or more.
// It looks at every field, so that a command added to batchedWrite is
// forwarded as it is batched.
func (b batchedWrite) command() (storeCommand, bool) {
	var found storeCommand
	v := reflect.ValueOf(b)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() != reflect.Pointer || f.IsNil() {
			continue
		}
		cmd, ok := f.Interface().(storeCommand)
		if !ok || found != nil {
			return nil, false
		}
		found = cmd
	}
	return found, found != nil
}

// linearizableRead returns once this member's store holds every write
// committed before the call: on the leader, once a no-op has gone through
// the log (readBarrier, as v1's consistent=true); elsewhere, once the store
// has applied the leader's store index after such a no-op of the leader's.
// Its failures are raft failures, error 300 in the v2 API.
func (s *raftServer) linearizableRead() error {
	if s.isLeader() {
		err := s.readBarrier()
		if !errors.Is(err, errNotLeader) {
			return err
		}
	}
	var answer readIndexAnswer
	if err := s.askLeader(readIndexPath, nil, s.cfg.CommandTimeout+s.cfg.ElectionTimeout, &answer); err != nil {
		return err
	}
	if answer.RaftError != "" {
		return remoteRaftError(answer.RaftError)
	}
	return s.awaitApplied(answer.Index)
}

// readIndexAnswer is the leader's answer to a read index request.
type readIndexAnswer struct {
	// Index is the leader's store index once it confirmed its leadership:
	// every write committed before the request is at or below it.
	Index     uint64 `json:"index,omitempty"`
	RaftError string `json:"raftError,omitempty"`
}

// readIndexHandler confirms this member's leadership with a read barrier
// and answers its store index.
func (s *raftServer) readIndexHandler(w http.ResponseWriter, _ *http.Request) {
	procs.busy()
	if err := s.readBarrier(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, readIndexAnswer{RaftError: publicCause(err)})
		return
	}
	writeJSON(w, http.StatusOK, readIndexAnswer{Index: s.store.Index()})
}
