package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/raftdisk"
	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// Peer routes on the raft port. Bodies are goraft's own protobuf encoding.
const (
	votePath             = "/vote"
	appendEntriesPath    = "/log/append"
	snapshotPath         = "/snapshot"
	snapshotRecoveryPath = "/snapshotRecovery"
	snapshotStatePath    = "/snapshotState"
	preVotePath          = "/preVote"
	commitIndexPath      = "/commitIndex"
	termPath             = "/term"
)

// transporter carries goraft's RPCs to peers over HTTP. Unlike goraft's own,
// every request has a deadline: a peer that stops answering halfway must not
// wedge the leader, whose event loop waits for these calls when it steps down.
type transporter struct {
	client     *http.Client
	rpcTimeout time.Duration
	// voteTimeout is the shortest round of an election: a candidate's
	// next round starts no sooner.
	voteTimeout time.Duration
	snapTimeout time.Duration
	stats       *raftStats
	gate        *peerGate
	replicator  *replicator
	disk        *raftdisk.Dir // where the state files of snapshots are
	// guard is told of every message sent and every answer, and decides
	// whether a vote may be asked for.
	guard sendGuard
	// members are the members as applied here, with their URLs.
	members *memberRegistry
	// fence orders goraft's unlocked write after a snapshot transfer
	// with the reads of its event loop (snapshot_fence.go).
	fence *snapshotFence
}

// newPeerTransport is the HTTP transport of every call a member makes to
// its peers: raft messages, joins and catch-up checks. With peer TLS it
// presents this member's certificate and checks the peer's. Every call
// carries the cluster's identity, and an answer of another cluster fails.
func newPeerTransport(electionTimeout time.Duration, peerTLS *tlsSide, identity *raftguard.IdentityKeeper) *raftguard.IdentityTransport {
	dialer := &net.Dialer{Timeout: electionTimeout, KeepAlive: 30 * time.Second}
	// No ResponseHeaderTimeout: every call has a deadline of its own, and
	// one for all would cut off a follower that takes longer to install a
	// large snapshot, which it then installs again and again.
	tr := &http.Transport{
		DialContext:         dialer.DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
		TLSHandshakeTimeout: 2 * electionTimeout,
	}
	if peerTLS != nil {
		tr.TLSClientConfig = peerTLS.clientConfig()
	}
	return identity.Transport(tr)
}

func newTransporter(peers http.RoundTripper, electionTimeout time.Duration, s *raftServer) *transporter {
	return &transporter{
		client:      &http.Client{Transport: peers},
		rpcTimeout:  2 * electionTimeout,
		voteTimeout: electionTimeout,
		snapTimeout: time.Minute,
		stats:       s.stats,
		gate:        s.gate,
		members:     s.members,
		replicator:  s.replicator,
		disk:        s.disk,
		fence:       s.fence,
	}
}

// sendGuard is what the transporter tells raftguard.Guard of the messages
// it sends.
type sendGuard interface {
	BeforeVoteRequest(*raft.RequestVoteRequest) error
	VoteAnswered(peer string, resp *raft.RequestVoteResponse)
	AppendAnswered(peer string, req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse)
	SnapshotSendStarts(peer string)
	SnapshotSendEnds(peer string, answered bool)
}

type encoder interface {
	Encode(io.Writer) (int, error)
}

type decoder interface {
	Decode(io.Reader) (int, error)
}

// minPeerBytesPerSecond is the slowest transfer between peers that a
// request's deadline allows for, on top of its base timeout.
const minPeerBytesPerSecond = 8 << 20

// post sends req to the peer's route and decodes the answer into resp. It
// reports false on any failure: goraft treats a missing answer as a lost
// message and retries on the next heartbeat. The deadline is timeout plus
// the time the body takes at minPeerBytesPerSecond.
func (t *transporter) post(peer *raft.Peer, route string, timeout time.Duration, req encoder, resp decoder) bool {
	return t.postTo(peer.ConnectionString, route, timeout, req, resp)
}

func (t *transporter) postTo(baseURL, route string, timeout time.Duration, req encoder, resp decoder) bool {
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		return false
	}
	timeout += time.Duration(body.Len()) * time.Second / minPeerBytesPerSecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+route, &body)
	if err != nil {
		return false
	}
	httpReq.Header.Set("Content-Type", "application/protobuf")
	r, err := t.client.Do(httpReq)
	if err != nil {
		return false
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		io.Copy(io.Discard, r.Body)
		return false
	}
	_, err = resp.Decode(r.Body)
	return err == nil
}

// SendVoteRequest asks a peer for its vote.
//
// A request refused here, or that fails, gets a denial of the request's
// term, within voteTimeout: goraft's candidate reads its term without a
// lock in each request's goroutine, and only receiving the answer orders
// that read before the term's increment in the candidate's next round. A
// candidate whose requests went unanswered raced with them (-race reported
// it under load); a denial changes nothing else in goraft.
func (t *transporter) SendVoteRequest(_ raft.Server, peer *raft.Peer, req *raft.RequestVoteRequest) *raft.RequestVoteResponse {
	denial := &raft.RequestVoteResponse{Term: req.Term, VoteGranted: false}
	if err := t.guard.BeforeVoteRequest(req); err != nil {
		log.Printf("raft: not asking %s for a vote: %v", peer.Name, err)
		return denial
	}
	resp := &raft.RequestVoteResponse{}
	if !t.post(peer, votePath, t.voteTimeout, req, resp) {
		return denial
	}
	t.guard.VoteAnswered(peer.Name, resp)
	return resp
}

// PreVote asks a member whether it would vote for req (raftguard's
// elections), within the shortest round of an election.
func (t *transporter) PreVote(name string, req *raft.RequestVoteRequest) (*raft.RequestVoteResponse, error) {
	m, ok := t.members.get(name)
	if !ok {
		return nil, fmt.Errorf("pre-vote: %q is not a member", name)
	}
	resp := &raft.RequestVoteResponse{}
	if !t.postTo(m.RaftURL, preVotePath, t.voteTimeout, req, resp) {
		return nil, fmt.Errorf("pre-vote: %s did not answer", name)
	}
	return resp, nil
}

// SendAppendEntriesRequest replicates entries to a peer. An empty request,
// a heartbeat, is held until there is news for the peer (see
// replication.go).
//
// A peer that is no longer a member when the call returns is still sent
// the request (a removed member learns of its removal from the commit
// index), but goraft is told, answered or not, that it refused at the
// request's commit index, which sets goraft's mark of how far the peer's
// log matches to that index. goraft stops a removed peer's heartbeat in a
// goroutine of its own, which can wait in this call while this node steps
// down and cuts its log below a higher mark; the heartbeat's last send then
// read past the log's end and goraft panicked (seen under make faults'
// membership changes). A log is never cut below a committed entry, and the
// last send still carries the removal's commit to the removed member.
func (t *transporter) SendAppendEntriesRequest(srv raft.Server, peer *raft.Peer, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	t.fence.closeWindow(peer)
	resp := t.sendAppend(srv, peer, req)
	if _, member := t.members.get(peer.Name); !member {
		return raftdisk.AppendResponse(req.Term, req.CommitIndex, req.CommitIndex, false)
	}
	return resp
}

func (t *transporter) sendAppend(srv raft.Server, peer *raft.Peer, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	r := t.replicator
	if len(req.Entries) == 0 {
		if caughtUp, peerCommit := r.caughtUp(peer.Name, req.Term, req.PrevLogIndex); caughtUp && !r.awaitNews(srv, req, peerCommit) {
			return nil
		}
	}
	trimBatch(req, appendBatchBytes)
	if n := len(req.Entries); n > 0 {
		// goraft's own appends carry entries too, not only held heartbeats.
		r.syncAhead(req.Term, req.Entries[n-1].GetIndex())
	}
	t.gate.appendStarts(peer.Name, req.PrevLogIndex)
	resp := &raft.AppendEntriesResponse{}
	sent := time.Now()
	ok := t.post(peer, appendEntriesPath, t.rpcTimeout, req, resp)
	t.stats.sentAppend(peer.Name, time.Since(sent), ok)
	if !ok {
		t.gate.appendEnds(peer.Name, req.PrevLogIndex)
		r.forget(peer.Name)
		r.pause(srv, req.Term)
		return nil
	}
	t.guard.AppendAnswered(peer.Name, req, resp)
	if resp.Success() && resp.Term() == req.Term {
		r.answered(peer.Name, req.Term, req.PrevLogIndex+uint64(len(req.Entries)), resp.CommitIndex())
	} else {
		r.forget(peer.Name)
	}
	t.gate.appendEnds(peer.Name, heldAfterAppend(req, resp))
	return resp
}

// trimBatch cuts the entries of an append to about limit bytes, keeping at
// least one. goraft sends up to 2,000 entries at once, which of large
// values is more than one request should carry; it reads the entries sent
// back from the request, and sends the rest next time.
func trimBatch(req *raft.AppendEntriesRequest, limit int64) {
	var size int64
	for i, e := range req.Entries {
		size += entrySize(e.GetCommandName(), e.Command)
		if i > 0 && size > limit {
			req.Entries = req.Entries[:i]
			return
		}
	}
}

// heldAfterAppend is the least goraft believes a peer holds once it has
// handled the peer's answer: all that was sent when it succeeded, else as
// little as one entry less than before or what the peer says it holds.
func heldAfterAppend(req *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) uint64 {
	if resp.Success() {
		return req.PrevLogIndex + uint64(len(req.Entries))
	}
	held := req.PrevLogIndex
	if held > 0 {
		held--
	}
	return min(held, resp.Index())
}

// SendSnapshotRequest tells a lagging peer a snapshot is coming.
//
// A peer that answers it has all the snapshot holds is asked again only
// after the idle heartbeat: goraft learns where a peer stands only from
// appends, and would announce the snapshot again at once.
func (t *transporter) SendSnapshotRequest(srv raft.Server, peer *raft.Peer, req *raft.SnapshotRequest) *raft.SnapshotResponse {
	t.fence.closeWindow(peer)
	if _, member := t.members.get(peer.Name); !member {
		return nil
	}
	t.gate.snapshotCallStarts(peer.Name)
	resp := &raft.SnapshotResponse{}
	ok := t.post(peer, snapshotPath, t.rpcTimeout, req, resp)
	t.gate.snapshotCallEnds(peer.Name, false, 0)
	if !ok || !resp.Success {
		t.replicator.pause(srv, srv.Term())
	}
	if !ok {
		return nil
	}
	return resp
}

// SendSnapshotRecoveryRequest sends a lagging peer the whole state: the
// state file goraft's snapshot refers to first, then goraft's message. A
// success returns only once goraft's loop is held for goraft's unlocked
// write that follows (snapshot_fence.go).
func (t *transporter) SendSnapshotRecoveryRequest(srv raft.Server, peer *raft.Peer, req *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	if _, member := t.members.get(peer.Name); !member {
		return nil
	}
	t.gate.snapshotCallStarts(peer.Name)
	t.guard.SnapshotSendStarts(peer.Name)
	resp := &raft.SnapshotRecoveryResponse{}
	timeout := t.snapTimeout
	sf, isRef, err := raftdisk.StateRef(req.State)
	ok := err == nil
	if ok && isRef {
		ok = t.sendState(peer, req.LeaderName, sf)
		// The peer reads the state it was sent before it answers.
		timeout += time.Duration(sf.Size()) * time.Second / minPeerBytesPerSecond
	}
	ok = ok && t.post(peer, snapshotRecoveryPath, timeout, req, resp) && resp.Success
	t.gate.snapshotCallEnds(peer.Name, ok, req.LastIndex)
	t.guard.SnapshotSendEnds(peer.Name, ok)
	if !ok {
		t.replicator.pause(srv, srv.Term())
		return nil
	}
	t.fence.transferSucceeded(srv, peer)
	return resp
}

// sendState streams the state file sf to a peer waiting for a snapshot from
// leader.
func (t *transporter) sendState(peer *raft.Peer, leader string, sf raftdisk.StateFile) bool {
	f, err := t.disk.OpenState(sf)
	if err != nil {
		// A newer snapshot replaced it: goraft sends that one next.
		log.Printf("raft: sending the snapshot to %s: %v", peer.Name, err)
		return false
	}
	defer f.Close()
	timeout := t.snapTimeout + time.Duration(sf.Size())*time.Second/minPeerBytesPerSecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	query := url.Values{"file": {sf.Name}, "leader": {leader}}
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, peer.ConnectionString+snapshotStatePath+"?"+query.Encode(), f)
	if err != nil {
		return false
	}
	httpReq.ContentLength = sf.Size()
	r, err := t.client.Do(httpReq)
	if err != nil {
		return false
	}
	defer r.Body.Close()
	io.Copy(io.Discard, r.Body)
	return r.StatusCode == http.StatusNoContent
}
