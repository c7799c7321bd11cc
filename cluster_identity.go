package main

import (
	"fmt"
	"log"
	"net/http"

	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// The cluster's identity, as this node keeps and checks it
// (internal/raftguard/identity.go says why and how).

// operatorPeerPaths are the peer routes that take requests without a
// cluster identity: those an operator calls with curl, and those a joiner
// calls before it holds one. Every other route, goraft's first, is refused
// without this node's identity.
var operatorPeerPaths = []string{"/name", "/version", "/etcdURL", "/log", termPath, commitIndexPath, "/join", "/remove/"}

// openIdentity loads the cluster identity kept in the data directory.
func (s *raftServer) openIdentity() error {
	text, err := s.disk.ReadClusterID()
	if err != nil {
		return err
	}
	var id raftguard.Identity
	if text != "" {
		if id, err = raftguard.ParseIdentity(text); err != nil {
			return fmt.Errorf("the cluster identity in %s is corrupt (use -f to start afresh): %w", s.cfg.DataDir, err)
		}
	}
	// A stray cluster retries many times a second.
	refusals := newLogLimiter("raft: cluster identity", handshakeLogInterval, func(line string) { log.Print(line) })
	save := func(id raftguard.Identity) error { return s.disk.WriteClusterID(id.String()) }
	s.identity = raftguard.NewIdentityKeeper(id, save, refusals.print)
	return nil
}

// identityFromBefore marks a node whose data directory holds raft state
// but no cluster identity: it was written before identities, and the node
// takes its leader's (see raftguard.IdentityKeeper.SetLegacy). Called once
// goraft has read the log.
func (s *raftServer) identityFromBefore() {
	if _, held := s.identity.Identity(); held || s.raft.IsLogEmpty() {
		return
	}
	s.identity.SetLegacy()
	log.Printf("raft: %s holds no cluster identity (it was written before identities): this node takes its leader's, or draws one if it leads", s.cfg.DataDir)
}

// claimIdentity draws the cluster's identity when a node from before
// identities becomes the leader, before it sends its first append. It runs
// in goraft's state listener, so it calls no goraft getter.
func (s *raftServer) claimIdentity() {
	if !s.identity.Legacy() {
		return
	}
	id, err := s.identity.Found()
	if err != nil {
		s.fail(err)
		return
	}
	log.Printf("raft: this leader gave its cluster the identity %s", id)
}

// adoptLeaderIdentity takes the identity carried by an append goraft
// accepted, on a node from before identities, if the leader is a member
// this node knows.
func (s *raftServer) adoptLeaderIdentity(r *http.Request, leader string) {
	if _, member := s.members.get(leader); !member || !s.identity.Legacy() {
		return
	}
	adopted, err := s.identity.AdoptFromLeader(r.Header)
	if err != nil {
		s.fail(err)
		return
	}
	if adopted {
		id, _ := s.identity.Identity()
		log.Printf("raft: took the cluster identity %s from the leader %q", id, leader)
	}
}

// checkSeedsIdentity stops a node that holds a cluster's data and is
// pointed with -C/-CF at a member of another cluster: it would otherwise
// go on in its own cluster as if it had joined the other. Members that do
// not answer are passed over.
func (s *raftServer) checkSeedsIdentity(machines []string) error {
	if _, held := s.identity.Identity(); !held {
		return nil
	}
	client := &http.Client{Transport: s.peerTransport, Timeout: 2 * s.cfg.ElectionTimeout}
	defer client.CloseIdleConnections()
	for _, machine := range machines {
		resp, err := client.Get(s.peerURL(machine) + "/version")
		if _, other := raftguard.IsIdentityMismatch(err); other {
			return fmt.Errorf("-C/-CF: %w", s.explainOtherCluster(err))
		}
		if err == nil {
			resp.Body.Close()
		}
	}
	return nil
}

// explainOtherCluster adds to an answer of another cluster what the
// operator can do about it.
func (s *raftServer) explainOtherCluster(err error) error {
	mismatch, ok := raftguard.IsIdentityMismatch(err)
	if !ok {
		return err
	}
	return fmt.Errorf("%w; this node's data directory %s holds cluster %s: to join cluster %s instead, start it with -f, which removes the data here",
		mismatch, s.cfg.DataDir, mismatch.Ours, mismatch.Theirs)
}
