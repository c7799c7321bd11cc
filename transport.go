package main

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/goraft/raft"
)

// Peer routes on the raft port. Bodies are goraft's own protobuf encoding.
const (
	votePath             = "/vote"
	appendEntriesPath    = "/log/append"
	snapshotPath         = "/snapshot"
	snapshotRecoveryPath = "/snapshotRecovery"
	commitIndexPath      = "/commitIndex"
)

// transporter carries goraft's RPCs to peers over HTTP. Unlike goraft's own,
// every request has a deadline: a peer that stops answering halfway must not
// wedge the leader, whose event loop waits for these calls when it steps down.
type transporter struct {
	client      *http.Client
	rpcTimeout  time.Duration
	snapTimeout time.Duration
	stats       *raftStats
	// beforeVoteRequest runs before a vote is asked for; an error cancels
	// the request.
	beforeVoteRequest func(*raft.RequestVoteRequest) error
}

// newPeerTransport is the HTTP transport of every call a member makes to
// its peers: raft messages, joins and catch-up checks. With peer TLS it
// presents this member's certificate and checks the peer's.
func newPeerTransport(electionTimeout time.Duration, peerTLS *tlsSide) *http.Transport {
	dialer := &net.Dialer{Timeout: electionTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: 2 * electionTimeout,
		TLSHandshakeTimeout:   2 * electionTimeout,
	}
	if peerTLS != nil {
		tr.TLSClientConfig = peerTLS.clientConfig()
	}
	return tr
}

func newTransporter(peers *http.Transport, electionTimeout time.Duration, stats *raftStats, beforeVoteRequest func(*raft.RequestVoteRequest) error) *transporter {
	return &transporter{
		client:            &http.Client{Transport: peers},
		rpcTimeout:        2 * electionTimeout,
		snapTimeout:       time.Minute,
		stats:             stats,
		beforeVoteRequest: beforeVoteRequest,
	}
}

type encoder interface {
	Encode(io.Writer) (int, error)
}

type decoder interface {
	Decode(io.Reader) (int, error)
}

// post sends req to the peer's route and decodes the answer into resp. It
// reports false on any failure: goraft treats a missing answer as a lost
// message and retries on the next heartbeat.
func (t *transporter) post(peer *raft.Peer, route string, timeout time.Duration, req encoder, resp decoder) bool {
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, peer.ConnectionString+route, &body)
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
func (t *transporter) SendVoteRequest(_ raft.Server, peer *raft.Peer, req *raft.RequestVoteRequest) *raft.RequestVoteResponse {
	if err := t.beforeVoteRequest(req); err != nil {
		log.Printf("raft: not asking %s for a vote: %v", peer.Name, err)
		return nil
	}
	resp := &raft.RequestVoteResponse{}
	if !t.post(peer, votePath, t.rpcTimeout, req, resp) {
		return nil
	}
	return resp
}

// SendAppendEntriesRequest replicates entries (or a heartbeat) to a peer.
func (t *transporter) SendAppendEntriesRequest(_ raft.Server, peer *raft.Peer, req *raft.AppendEntriesRequest) *raft.AppendEntriesResponse {
	resp := &raft.AppendEntriesResponse{}
	start := time.Now()
	ok := t.post(peer, appendEntriesPath, t.rpcTimeout, req, resp)
	t.stats.sentAppend(peer.Name, time.Since(start), ok)
	if !ok {
		return nil
	}
	return resp
}

// SendSnapshotRequest tells a lagging peer a snapshot is coming.
func (t *transporter) SendSnapshotRequest(_ raft.Server, peer *raft.Peer, req *raft.SnapshotRequest) *raft.SnapshotResponse {
	resp := &raft.SnapshotResponse{}
	if !t.post(peer, snapshotPath, t.rpcTimeout, req, resp) {
		return nil
	}
	return resp
}

// SendSnapshotRecoveryRequest sends a lagging peer the whole state.
func (t *transporter) SendSnapshotRecoveryRequest(_ raft.Server, peer *raft.Peer, req *raft.SnapshotRecoveryRequest) *raft.SnapshotRecoveryResponse {
	resp := &raft.SnapshotRecoveryResponse{}
	if !t.post(peer, snapshotRecoveryPath, t.snapTimeout, req, resp) {
		return nil
	}
	return resp
}
