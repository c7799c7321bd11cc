package raftguard

import (
	"testing"
	"time"

	"github.com/goraft/raft"
)

// steadyFor checks, for d, that leader keeps leading in term and that no
// node moves past term.
func (n *memNet) steadyFor(d time.Duration, leader *memNode, term uint64) {
	n.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if leader.srv.State() != raft.Leader {
			n.t.Fatalf("%s stopped leading", leader.name)
		}
		n.mu.Lock()
		for name, node := range n.nodes {
			if got := node.guard.Term(); got > term {
				n.mu.Unlock()
				n.t.Fatalf("%s moved to term %d, past the leader's %d", name, got, term)
			}
		}
		n.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
}

// threeMembers founds a cluster of A, B and C, and returns its leader and
// the name of a follower.
func threeMembers(t *testing.T) (net *memNet, leader *memNode, follower string) {
	net = newMemNet(t)
	net.found("A", "B", "C")
	leader = net.oneLeader(5 * time.Second)
	follower = "B"
	if leader.name == "B" {
		follower = "C"
	}
	return net, leader, follower
}

// TestACutOffMemberCannotRaiseTheTerm: a member that hears no leader asks
// the others for pre-votes; they hear the leader and refuse, so it never
// campaigns, its term stays, and when it can talk again nobody is deposed.
func TestACutOffMemberCannotRaiseTheTerm(t *testing.T) {
	net, leader, other := threeMembers(t)
	term := leader.guard.Term()
	net.isolate(other)
	net.steadyFor(15*testElection, leader, term)
	net.heal()
	net.steadyFor(10*testElection, leader, term)
	net.waitFor(5*time.Second, other+" to follow the leader again", func() bool {
		return net.node(other).guard.Leader() == leader.name
	})
}

// TestAOneWayCutDoesNotDeposeTheLeader: a follower that cannot hear the
// leader, though the leader hears it, must not depose the leader the
// others follow.
func TestAOneWayCutDoesNotDeposeTheLeader(t *testing.T) {
	net, leader, deaf := threeMembers(t)
	term := leader.guard.Term()
	net.cutOff(leader.name, deaf)
	net.steadyFor(15*testElection, leader, term)
	net.heal()
	net.steadyFor(5*testElection, leader, term)
}

// TestALeaderCutOffStepsDown: a leader that hears no majority steps down
// instead of waiting to be voted out; the others elect one of their own,
// and after the cut heals there is one leader, which the old one follows.
func TestALeaderCutOffStepsDown(t *testing.T) {
	net, old, _ := threeMembers(t)
	term := old.guard.Term()
	net.isolate(old.name)
	net.waitFor(old.guard.quorumSilence()+5*testElection, old.name+" to step down", func() bool {
		return old.srv.State() != raft.Leader
	})
	fresh := net.oneLeader(5*time.Second, old.name)
	net.heal()
	net.waitFor(5*time.Second, old.name+" to follow "+fresh.name, func() bool {
		return old.guard.Leader() == fresh.name && old.guard.Term() == fresh.guard.Term()
	})
	if got := fresh.guard.Term(); got > term+3 {
		t.Errorf("one leader change took the term from %d to %d", term, got)
	}
	if ls := net.leaders(); len(ls) != 1 {
		t.Errorf("leaders after the cut healed: %v", ls)
	}
}

// TestTheOthersElectWhenTheLeaderStops: a dead leader is replaced within a
// few election timeouts, in the next term or so.
func TestTheOthersElectWhenTheLeaderStops(t *testing.T) {
	net, old, _ := threeMembers(t)
	term := old.guard.Term()
	net.isolate(old.name)
	old.stop()
	fresh := net.oneLeader(10*testElection, old.name)
	if got := fresh.guard.Term(); got > term+2 {
		t.Errorf("replacing a dead leader took the term from %d to %d", term, got)
	}
}
