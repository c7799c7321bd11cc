package main

import "testing"

// TestHeldHeartbeatsStopLookingOnceTheNoOpIsThere: a new leader's held
// heartbeats look, spinning, for the no-op goraft appends on election.
// They were told to look for an entry at no index in particular, and spun
// for 10 ms after every election, against goraft's event loop, on a 2-core
// machine.
func TestHeldHeartbeatsStopLookingOnceTheNoOpIsThere(t *testing.T) {
	var n leaderNews
	n.leaderElected(41)
	if !n.appendPending(41) {
		t.Fatal("a heartbeat holding at the log's last entry does not look for the new leader's no-op")
	}
	if n.appendPending(42) {
		t.Fatal("a heartbeat that sees the no-op at 42 still looks for an entry being appended")
	}
}
