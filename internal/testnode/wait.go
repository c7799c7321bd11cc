package testnode

import (
	"testing"
	"time"
)

// PollInterval is how often tests look again for a condition to hold.
const PollInterval = 20 * time.Millisecond

// WaitFor polls cond until it holds, failing the test after timeout with
// the last state cond described.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, state)
		}
		time.Sleep(PollInterval)
	}
}
