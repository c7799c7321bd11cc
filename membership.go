package main

import (
	"errors"
	"log"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/raftguard"
)

// Membership changes (etcd:join, etcd:remove) and what they take beyond
// goraft.
//
// goraft counts a peer from the moment each member applies the change, not
// when the entry is appended, and a follower applies it only when the
// leader's next append tells it the entry committed. A leader that dies in
// between leaves followers counting the old membership: after a third
// member joined two, the old follower still needed the dead leader's vote
// and the cluster elected no one. So a change is answered only once every
// member of the new membership that answered the leader lately and holds
// the entry has applied the change (the leader learns each follower's log
// length and commit index from its answers to appends). Then every live
// member counts the new membership, any majority of it can elect a leader
// when the leader dies right after the answer, and no answer is ever
// undone. A leader that dies before answering leaves an unanswered change:
// the joiner asks again (a known name is a no-op), an operator's remove
// ends in error 300 and is asked again.
//
// The guard (internal/raftguard) is told each change as it is applied: a
// node campaigns only while it counts itself a member, and a member counts
// towards the quorum from the moment it is added.

// memberRemoved forgets a removed member everywhere; a node that applies
// its own removal while serving stops (see watchRemoval), one replaying it
// at start-up asks to join again (see waitCaughtUp).
func (s *raftServer) memberRemoved(name string) {
	s.members.remove(name)
	s.guard.MemberRemoved(name)
	s.stats.dropFollower(name)
	s.gate.forget(name)
	s.replicator.forget(name)
	if name != s.cfg.Name {
		return
	}
	if s.serving.Load() {
		select {
		case s.removedSelf <- struct{}{}:
		default:
		}
	}
}

// removalGrace is how long a removed member stays after the last message
// from a peer: until every member has applied the removal, one that has not
// may need its vote to elect a leader.
func (s *raftServer) removalGrace() time.Duration { return 3 * s.cfg.ElectionTimeout }

// watchRemoval stops the node once it has applied its own removal: once no
// peer has written to it for removalGrace, and any membership change it
// leads has been answered.
func (s *raftServer) watchRemoval() {
	defer s.wg.Done()
	select {
	case <-s.stop:
		return
	case <-s.removedSelf:
	}
	for {
		last := time.Unix(0, max(s.lastAppend.Load(), s.lastVoteRequest.Load()))
		quietFor := time.Since(last)
		if quietFor >= s.removalGrace() {
			break
		}
		select {
		case <-s.stop:
			return
		case <-time.After(s.removalGrace() - quietFor):
		}
	}
	s.joinMu.Lock()
	_, member := s.members.get(s.cfg.Name)
	s.joinMu.Unlock()
	if member {
		return
	}
	log.Printf("raft: %q was removed from the cluster; this node stops (start it again to ask to join again)", s.cfg.Name)
	close(s.removed)
}

// removedFromCluster is closed when the node must stop because it was
// removed.
func (s *raftServer) removedFromCluster() <-chan struct{} { return s.removed }

// awaitMembersApplied returns once the membership change at index is
// applied by every member that answered this leader lately and holds the
// entry (see the comment at the top). A member that does not hold it yet
// cannot win an election against those that do, whatever membership it
// counts, and applies the change as soon as the entry reaches it (the
// append that carries it carries the commit index too). A joiner is not
// waited for: it may first have a whole log or snapshot to fetch. It is
// called with joinMu held, right after the change was applied here.
func (s *raftServer) awaitMembersApplied(index uint64, joiner string) error {
	deadline := time.Now().Add(s.cfg.CommandTimeout)
	for {
		others := slices.DeleteFunc(s.members.others(s.cfg.Name), func(name string) bool { return name == joiner })
		behind := s.guard.NotApplied(others, index)
		if len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return etcderr.Newf(etcderr.RaftInternal, "the membership change committed at index %d, but %s had not applied it within -timeout; ask again",
				index, strings.Join(behind, ", "))
		}
		select {
		case <-s.stop:
			return errors.New("stopped while members applied a membership change")
		case <-time.After(appliedPoll):
		}
	}
}

// appliedPoll is how often a leader looks whether the members have applied
// a membership change: they say so in their answers to appends, which
// come as soon as the leader commits, not on the idle heartbeat.
const appliedPoll = 5 * time.Millisecond

// removeHandler takes a member out of the cluster: DELETE /remove/NAME.
// Followers send the request to the leader, as for a join, with the path
// as the request escaped it: the name unescaped could end the path early
// (node2%3Fx would become node2 and a query).
func (s *raftServer) removeHandler(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !s.isLeader() {
		if _, leader, ok := s.leader(); ok {
			http.Redirect(w, r, leader.RaftURL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
			return
		}
		writeError(w, etcderr.New(etcderr.RaftInternal, "remove: no leader is known"))
		return
	}
	s.joinMu.Lock()
	defer s.joinMu.Unlock()
	if _, known := s.members.get(name); !known {
		writeError(w, etcderr.Newf(etcderr.KeyNotFound, "remove: %q is not a member", name))
		return
	}
	if s.members.count() <= 1 {
		writeError(w, etcderr.Newf(etcderr.InvalidField, "remove: %q is the last member; a cluster cannot remove its last member", name))
		return
	}
	event, index, err := s.dispatchEntry(&RemoveCommand{Name: name})
	if err == nil {
		if index == 0 {
			index = s.raft.CommitIndex()
		}
		err = s.awaitMembersApplied(index, "")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, event)
	// A leader that removed itself stops once joinMu is free: the answer
	// must be on its way first.
	http.NewResponseController(w).Flush()
}

// rejoinAfter is how long a restarted member waits to be reached by a
// leader before it asks whether it is still a member.
func (s *raftServer) rejoinAfter() time.Duration { return 10 * s.cfg.ElectionTimeout }

// askToJoinAgain asks the cluster once, through the members this node
// knows and machines, to count it as a member; it reports whether the
// cluster did. One of machines that belongs to another cluster is an
// error: this node must not go on as if it had not been told to join it.
// A known member's address may have been taken by a node of another
// cluster meanwhile: that one is passed over.
func (s *raftServer) askToJoinAgain(member bool, machines []string) (bool, error) {
	var bases []string
	for _, name := range s.members.others(s.cfg.Name) {
		if m, ok := s.members.get(name); ok {
			bases = append(bases, m.RaftURL)
		}
	}
	known := len(bases)
	for _, machine := range machines {
		// -C often names a member this node knows already: ask it once.
		if base := s.peerURL(machine); !slices.Contains(bases, base) {
			bases = append(bases, base)
		}
	}
	if len(bases) == 0 {
		return false, nil
	}
	if member {
		log.Printf("raft: no leader has reached %q for %v: it may have been removed while it was down; asking to join again through %s",
			s.cfg.Name, s.rejoinAfter(), strings.Join(bases, ", "))
	} else {
		log.Printf("raft: %q was removed from the cluster, as its log shows; asking to join again through %s", s.cfg.Name, strings.Join(bases, ", "))
	}
	client := s.joinClient()
	defer client.CloseIdleConnections()
	self := JoinCommand{RaftVersion: raftVersion, Name: s.cfg.Name, RaftURL: s.cfg.RaftURL(), EtcdURL: s.cfg.ClientURL()}
	for i, base := range bases {
		seen := s.guard.LeaderChangesSeen()
		leader, err := joinVia(client, base, self, s.identity)
		if _, other := raftguard.IsIdentityMismatch(err); other && i >= known {
			return false, s.explainOtherCluster(err)
		}
		if err != nil {
			log.Printf("raft: cannot join again through %s: %v", base, err)
			continue
		}
		log.Printf("raft: the cluster counts %q as a member (asked through %s)", s.cfg.Name, base)
		if leader != "" {
			s.guard.LeaderLearned(seen, leader)
		}
		return true, nil
	}
	return false, nil
}

// joinClient sends join requests. The leader answers once the join has
// committed and the members have applied it, each within -timeout.
func (s *raftServer) joinClient() *http.Client {
	return &http.Client{Transport: s.peerTransport, Timeout: 2*s.cfg.CommandTimeout + 5*time.Second}
}
