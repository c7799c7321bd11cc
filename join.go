package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// joinRetryInterval is how long a round of join attempts lasts, and
// joinQuickRetry the pause between attempts within a round.
const (
	joinRetryInterval = time.Second
	joinQuickRetry    = 100 * time.Millisecond
)

// errJoinRefused is a join the cluster answered and refused: trying again
// cannot help.
var errJoinRefused = errors.New("join refused")

// seedMachines returns the raft addresses given with -C, or read from the
// -CF file.
func (c *Config) seedMachines() ([]string, error) {
	list := c.Machines
	if list == "" && c.MachinesFile != "" {
		b, err := os.ReadFile(c.MachinesFile)
		if err != nil {
			return nil, fmt.Errorf("-CF: %w", err)
		}
		list = string(b)
	}
	var machines []string
	for _, m := range strings.Split(list, ",") {
		if m = strings.TrimSpace(m); m != "" {
			machines = append(machines, m)
		}
	}
	return machines, nil
}

// joinCluster asks the members at machines to add this node, in up to -r
// rounds of joinRetryInterval. Any member will do: a follower sends the
// request on to the leader. Within a round the members are asked again
// every joinQuickRetry: members started together come up within moments
// of each other, and a joiner that waited a whole round for the first to
// listen was admitted a second late.
func (s *raftServer) joinCluster(machines []string) error {
	client := s.joinClient()
	defer client.CloseIdleConnections()
	self := JoinCommand{RaftVersion: raftVersion, Name: s.cfg.Name, RaftURL: s.cfg.RaftURL(), EtcdURL: s.cfg.ClientURL()}
	for round := 1; round <= s.cfg.JoinRetries; round++ {
		roundEnd := time.Now().Add(joinRetryInterval)
		failures := make(map[string]error)
		for {
			for _, machine := range machines {
				seen := s.guard.LeaderChangesSeen()
				leader, err := joinVia(client, s.peerURL(machine), self, s.identity)
				if err == nil {
					log.Printf("raft: joined the cluster through %s as %q", machine, s.cfg.Name)
					// The leader may first reach this member with a
					// snapshot, which is taken only from the leader.
					if leader != "" {
						s.guard.LeaderLearned(seen, leader)
					}
					return nil
				}
				if errors.Is(err, errJoinRefused) {
					return err
				}
				failures[machine] = err
			}
			if !time.Now().Add(joinQuickRetry).Before(roundEnd) {
				break
			}
			select {
			case <-s.stop:
				return errors.New("stopped while joining")
			case <-time.After(joinQuickRetry):
			}
		}
		for _, machine := range machines {
			log.Printf("raft: cannot join through %s: %v", machine, failures[machine])
		}
		if round < s.cfg.JoinRetries {
			log.Printf("raft: cannot join the cluster via the given machines, trying again")
		}
	}
	return fmt.Errorf("cannot join the cluster via %s after %d attempts", strings.Join(machines, ", "), s.cfg.JoinRetries)
}

// peerURL turns a -C entry into a URL: a bare host:port is reached with
// this node's own peer scheme, as every member uses the same.
func (s *raftServer) peerURL(machine string) string {
	if strings.Contains(machine, "://") {
		return strings.TrimSuffix(machine, "/")
	}
	return s.peerTLS.scheme() + "://" + machine
}

// joinVia checks that the member runs the same peer protocol and belongs
// to this node's cluster (a joiner takes the member's cluster identity
// first), then posts the join; Go's client follows a follower's 307 to the
// leader, body and all. It returns the name of the leader that took the
// join, if it tells it.
func joinVia(client *http.Client, base string, self JoinCommand, identity *raftguard.IdentityKeeper) (string, error) {
	resp, err := client.Get(base + "/version")
	if err != nil {
		return "", explainMismatch(err)
	}
	version, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if err != nil {
		return "", err
	}
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(version, []byte("HTTPS server")) {
		return "", fmt.Errorf("%w: the member serves its peers over HTTPS: start this node with -serverCert and -serverKey (and -serverCAFile) too", errJoinRefused)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /version: HTTP %d", resp.StatusCode)
	}
	if strings.HasPrefix(string(version), "etcd ") {
		return "", fmt.Errorf("%w: %s is a client port (it answered %q to GET /version): -C wants a member's peer address, port 7001 by default", errJoinRefused, base, version)
	}
	if string(version) != raftVersion {
		return "", fmt.Errorf("%w: the member runs raft version %q, this node %q; every member must run the same version", errJoinRefused, version, raftVersion)
	}
	if err := identity.AgreeWith(base, resp.Header); err != nil {
		return "", explainMismatch(err)
	}
	body, _ := json.Marshal(self)
	resp, err = client.Post(base+"/join", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", explainMismatch(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	leader := strings.TrimSuffix(resp.Request.URL.String(), "/join")
	switch {
	case resp.StatusCode == http.StatusOK:
		// The leader that took the join, maybe after a 307, is of this
		// node's cluster too.
		if err := identity.AgreeWith(leader, resp.Header); err != nil {
			return "", explainMismatch(err)
		}
		return leaderName(client, leader), nil
	case resp.StatusCode == http.StatusBadRequest:
		var etcdErr etcderr.Error
		if json.Unmarshal(answer, &etcdErr) == nil && etcdErr.Code != 0 {
			return "", fmt.Errorf("%w: %v", errJoinRefused, &etcdErr)
		}
		return "", fmt.Errorf("%w: HTTP 400 %s", errJoinRefused, answer)
	default:
		return "", fmt.Errorf("POST /join: HTTP %d %s", resp.StatusCode, bytes.TrimSpace(answer))
	}
}

// leaderName asks the leader at base for its name; "" when it does not say.
func leaderName(client *http.Client, base string) string {
	resp, err := client.Get(base + "/name")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	name, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(name)
}

// explainMismatch turns the failures that a retry cannot mend (TLS on one
// side only, a member of another cluster) into refusals that say what is
// wrong.
func explainMismatch(err error) error {
	var plain tls.RecordHeaderError
	var alert tls.AlertError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var verify *tls.CertificateVerificationError
	if mismatch, ok := raftguard.IsIdentityMismatch(err); ok {
		return fmt.Errorf("%w: %v", errJoinRefused, mismatch)
	}
	switch {
	// net/http reports the plain answer to its TLS hello in words only.
	case errors.As(err, &plain), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w: the member serves its peers over plain HTTP; a cluster uses TLS on every peer port or on none", errJoinRefused)
	case errors.As(err, &alert):
		return fmt.Errorf("%w: the member refused this node's certificate (%v): it must be signed by the member's -serverCAFile", errJoinRefused, err)
	case errors.As(err, &unknownCA), errors.As(err, &badHost), errors.As(err, &verify):
		return fmt.Errorf("%w: the member's certificate does not verify against -serverCAFile: %v", errJoinRefused, err)
	}
	return err
}
