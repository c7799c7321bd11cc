package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestOwnProposalAlreadyAppliedIsAnError: a leader whose store holds
// positions its log does not (a snapshot saved entries a power cut took
// from the log) finds its own new entries already applied. The client must
// hear error 300 with the cause, single writes and batches alike, not have
// its connection dropped by a nil event.
func TestOwnProposalAlreadyAppliedIsAnError(t *testing.T) {
	n := startTestNode(t)
	n.set("before", "1")
	ahead := n.e.raft.raft.CommitIndex() + 100
	if _, err := n.e.store.Set("/ahead", "x", time.Time{}, ahead); err != nil {
		t.Fatal(err)
	}
	write := func(key string) {
		resp, err := testClient.PostForm(n.url+"/v1/keys/"+key, url.Values{"value": {"1"}})
		if err != nil {
			t.Errorf("write %s whose entry was already applied: %v", key, err)
			return
		}
		defer resp.Body.Close()
		var r response
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusInternalServerError ||
			r.ErrorCode != 300 || r.Cause != errEntryAlreadyApplied.Error() {
			t.Errorf("write %s whose entry was already applied: HTTP %d %+v (%v); want 500, error 300: %q", key, resp.StatusCode, r, err, errEntryAlreadyApplied)
		}
	}
	write("single")
	// Concurrent writes share entries (batch.go).
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { write("batched" + strconv.Itoa(i)) })
	}
	wg.Wait()
}
