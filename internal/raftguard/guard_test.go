package raftguard

import (
	"testing"
	"time"

	"code.google.com/p/goprotobuf/proto"
	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"
)

// nops are no-op entries first..last of a term, as a leader sends them.
func nops(first, last, term uint64) []*protobuf.LogEntry {
	var out []*protobuf.LogEntry
	for i := first; i <= last; i++ {
		out = append(out, &protobuf.LogEntry{Index: proto.Uint64(i), Term: proto.Uint64(term), CommandName: proto.String("raft:nop")})
	}
	return out
}

// follower is a node that never leads here: the tests hand it messages
// of their own making, as a leader's would be.
func follower(t *testing.T, members ...string) *memNode {
	t.Helper()
	node := newMemNet(t).start("F")
	for _, m := range append(members, "F") {
		node.guard.MemberAdded(m)
	}
	return node
}

func (node *memNode) append(t *testing.T, leader string, term, prevIndex, prevTerm, commit uint64, entries []*protobuf.LogEntry) *raft.AppendEntriesResponse {
	t.Helper()
	resp, err := node.guard.Append(&raft.AppendEntriesRequest{Term: term, PrevLogIndex: prevIndex, PrevLogTerm: prevTerm,
		CommitIndex: commit, LeaderName: leader, Entries: entries})
	if err != nil {
		t.Fatalf("append from %s in term %d: %v", leader, term, err)
	}
	return resp
}

// TestSnapshotInstallKeepsTheTerm: goraft's install sets its term to the
// snapshot's last term. A follower of term 5 that installed a snapshot of
// term 3 then followed a deposed leader of term 4, whose writes were
// acknowledged and then lost. The guard gives goraft its term back, and no
// message below the recorded term reaches goraft.
func TestSnapshotInstallKeepsTheTerm(t *testing.T) {
	f := follower(t, "A", "B")
	if resp := f.append(t, "A", 3, 0, 0, 10, nops(1, 10, 3)); !resp.Success() {
		t.Fatal("the first entries were refused")
	}
	// A wins term 5 (B, cut off, still leads term 4).
	if resp := f.append(t, "A", 5, 10, 3, 10, nil); !resp.Success() || f.srv.Term() != 5 {
		t.Fatalf("A's append of term 5: success %v, term %d", resp.Success(), f.srv.Term())
	}
	if resp, err := f.guard.Snapshot(&raft.SnapshotRequest{LeaderName: "A", LastIndex: 20, LastTerm: 3}); err != nil || !resp.Success {
		t.Fatalf("A's snapshot announcement: %+v, %v", resp, err)
	}
	peers := []*raft.Peer{{Name: "A"}, {Name: "B"}, {Name: "F"}}
	if _, err := f.guard.InstallSnapshot(&raft.SnapshotRecoveryRequest{LeaderName: "A", LastIndex: 20, LastTerm: 3, Peers: peers, State: []byte("{}")}); err != nil {
		t.Fatalf("install: %v", err)
	}
	if term := f.srv.Term(); term != 5 {
		t.Errorf("after installing a snapshot of term 3, goraft is in term %d, want 5", term)
	}
	resp := f.append(t, "B", 4, 20, 3, 21, nops(21, 21, 4))
	if resp.Success() || resp.Term() != 5 {
		t.Fatalf("the deposed leader's append of term 4 answered success %v in term %d; want a refusal in term 5", resp.Success(), resp.Term())
	}
}

// TestStaleSnapshotIsRefused: a snapshot that ends where this node has
// committed would take its store back, and goraft takes one whenever the
// entry it ends at is no longer in the log (compacted by a snapshot of the
// node's own).
func TestStaleSnapshotIsRefused(t *testing.T) {
	f := follower(t, "A")
	f.append(t, "A", 3, 0, 0, 300, nops(1, 300, 3))
	if err := f.disk.TakeSnapshot(f.srv); err != nil {
		t.Fatal(err)
	}
	if first := f.srv.LogEntries()[0].Index(); first <= 50 {
		t.Fatalf("the log still starts at %d: the test needs entry 50 compacted", first)
	}
	resp, err := f.guard.Snapshot(&raft.SnapshotRequest{LeaderName: "A", LastIndex: 50, LastTerm: 3})
	if err != nil || resp.Success || f.srv.State() == raft.Snapshotting {
		t.Fatalf("a snapshot ending at 50 on a node committed to 300: %+v, %v, state %s; want it refused", resp, err, f.srv.State())
	}
}

// TestVotesWaitForTheLeadersSilence: a member that heard from its leader
// within the election timeout neither grants a vote nor moves to the
// candidate's term (the Raft dissertation, 4.2.3); once the leader is
// silent for that long, it does.
func TestVotesWaitForTheLeadersSilence(t *testing.T) {
	f := follower(t, "A", "C")
	f.append(t, "A", 2, 0, 0, 5, nops(1, 5, 2))
	req := &raft.RequestVoteRequest{Term: 9, CandidateName: "C", LastLogIndex: 5, LastLogTerm: 2}
	if pre := f.guard.PreVote(req); pre.VoteGranted {
		t.Fatal("a pre-vote was granted while the leader is heard")
	}
	resp, err := f.guard.Vote(req)
	if err != nil || resp.VoteGranted || resp.Term != 2 || f.srv.Term() != 2 {
		t.Fatalf("vote while the leader is heard: %+v, %v, term %d; want a denial in term 2", resp, err, f.srv.Term())
	}
	time.Sleep(testElection)
	if pre := f.guard.PreVote(req); !pre.VoteGranted || f.srv.Term() != 2 {
		t.Fatalf("pre-vote after the leader's silence: %+v, term %d; want it granted, the term unchanged", pre, f.srv.Term())
	}
	if resp, err := f.guard.Vote(req); err != nil || !resp.VoteGranted || f.srv.Term() != 9 {
		t.Fatalf("vote after the leader's silence: %+v, %v, term %d; want it granted in term 9", resp, err, f.srv.Term())
	}
	if term, vote := f.terms().Recorded(); term != 9 || vote != "C" {
		t.Fatalf("recorded term %d vote %q, want 9 and C", term, vote)
	}
}

func (node *memNode) terms() interface{ Recorded() (uint64, string) } { return node.disk.Terms() }

// TestStaleMessagesAreRefused: no append or vote of a term below the
// recorded one reaches goraft, nor gets a success, even while goraft's own
// term is behind the record (between a term's recording and goraft's
// moving to it, or a snapshot install and its repair).
func TestStaleMessagesAreRefused(t *testing.T) {
	f := follower(t, "A", "B")
	f.append(t, "A", 6, 0, 0, 3, nops(1, 3, 6))
	if _, _, err := f.disk.Terms().Advance(7); err != nil {
		t.Fatal(err)
	}
	if resp := f.append(t, "A", 6, 3, 6, 4, nops(4, 4, 6)); resp.Success() || resp.Term() != 7 {
		t.Fatalf("append of term 6 after term 7 was recorded: success %v, term %d", resp.Success(), resp.Term())
	}
	time.Sleep(testElection)
	resp, err := f.guard.Vote(&raft.RequestVoteRequest{Term: 6, CandidateName: "B", LastLogIndex: 9, LastLogTerm: 6})
	if err != nil || resp.VoteGranted || resp.Term != 7 {
		t.Fatalf("vote of term 6 after term 7 was recorded: %+v, %v", resp, err)
	}
}

// TestAMemberCountsFromItsAdmission: a member just added has had no
// chance to answer; counted silent, it made the leader refuse the next
// joins and every write until it answered.
func TestAMemberCountsFromItsAdmission(t *testing.T) {
	net := newMemNet(t)
	leader := net.found("L")[0]
	leader.guard.MemberAdded("newcomer")
	if err := leader.guard.CheckQuorum(); err != nil {
		t.Fatalf("right after admitting a member: %v", err)
	}
	net.waitFor(2*leader.guard.quorumSilence(), "the silent newcomer to cost the quorum", func() bool {
		return leader.guard.CheckQuorum() != nil
	})
}

// TestARemovedLeaderDoesNotCountItself: a leader that applied its own
// removal leads until it stops, but no longer counts towards a quorum.
func TestARemovedLeaderDoesNotCountItself(t *testing.T) {
	q := newQuorum("A")
	for _, m := range []string{"A", "B", "C"} {
		q.members[m] = true
	}
	start := time.Now()
	q.answered("B", start.Add(time.Second))
	delete(q.members, "A")
	if q.heardMajority(start) {
		t.Fatal("B alone was counted a majority of B and C")
	}
	q.answered("C", start.Add(time.Second))
	if !q.heardMajority(start) {
		t.Fatal("B and C were not counted a majority of B and C")
	}
}

// TestReadsWaitAfterEveryElection: a leader that lost and won back its
// leadership while a read checked it must judge the read by the new
// leadership's mark, not let it through.
func TestReadsWaitAfterEveryElection(t *testing.T) {
	var r readGate
	r.elected(10)
	calls := 0
	commitIndex := func() uint64 {
		if calls++; calls == 1 {
			// Elected again, at 20, after the mark 11 was read.
			r.elected(20)
		}
		return 15
	}
	if !r.behind(func() bool { return true }, commitIndex) {
		t.Fatal("a read passed a leader that has committed 15 of a term that began after 20")
	}
	if !r.behind(func() bool { return true }, func() uint64 { return 20 }) {
		t.Fatal("a read passed before the new term's first entry (21) committed")
	}
	if r.behind(func() bool { return true }, func() uint64 { return 21 }) {
		t.Fatal("a read waits although the new term's first entry committed")
	}
}

// TestStaleAppendDoesNotOverrideLeader: goraft announces leader changes in
// order, but an append may report the leader it learned after a newer
// announcement.
func TestStaleAppendDoesNotOverrideLeader(t *testing.T) {
	var l leaderView
	seen := l.changesSeen()
	l.mu.Lock()
	l.seq++
	l.setLocked("")
	l.mu.Unlock()
	l.learned(seen, "old")
	if got := l.name(); got != "" {
		t.Fatalf("leader = %q after a stale append; want none", got)
	}
	l.learned(l.changesSeen(), "new")
	if got := l.name(); got != "new" {
		t.Fatalf("leader = %q, want new", got)
	}
}

// TestLeaderChangesCountsNewLeaders: each leader learned counts, one
// learned again after none included; losing the leader and hearing again
// from the same one do not.
func TestLeaderChangesCountsNewLeaders(t *testing.T) {
	g := &Guard{}
	g.LeaderLearned(g.LeaderChangesSeen(), "a")
	g.LeaderLearned(g.LeaderChangesSeen(), "a")
	g.leaderChanged("", 0)
	g.leaderChanged("b", 0)
	g.leaderChanged("", 0)
	g.LeaderLearned(g.LeaderChangesSeen(), "b")
	if got := g.LeaderChanges(); got != 3 {
		t.Fatalf("LeaderChanges = %d after a, none, b, none, b; want 3", got)
	}
}
