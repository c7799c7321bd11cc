package raftguard

import (
	"testing"
	"time"
)

// TestSilencesOnTheLeader: a leader counts each member's silence from its
// last answer, or from the start of its leadership if that is later; a
// member being sent a snapshot is not silent; a follower reports nothing.
func TestSilencesOnTheLeader(t *testing.T) {
	if s := follower(t, "L").guard.Silences(time.Now()); s != nil {
		t.Fatalf("a follower reports silences %v", s)
	}
	leader := newMemNet(t).found("L")[0]
	g := leader.guard
	for _, m := range []string{"B", "C", "D"} {
		g.MemberAdded(m)
	}
	_, _, since := g.leader.current()
	now := since.Add(time.Minute)
	q := g.quorum
	q.mu.Lock()
	q.heard["B"] = since.Add(-time.Hour) // before this node led
	q.heard["C"] = now.Add(-3 * time.Second)
	q.heard["D"] = since.Add(-time.Hour)
	q.snapshotting["D"] = 1
	q.mu.Unlock()
	got := g.Silences(now)
	want := map[string]time.Duration{"B": time.Minute, "C": 3 * time.Second, "D": 0}
	if len(got) != len(want) {
		t.Fatalf("silences %v, want %v", got, want)
	}
	for name, d := range want {
		if got[name] != d {
			t.Errorf("%s silent for %v, want %v (all: %v)", name, got[name], d, got)
		}
	}
}
