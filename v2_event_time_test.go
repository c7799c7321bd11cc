package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestV2HistoryTTLIsTheWrites: a watch answered from the history shows the
// ttl of the event's node and previous node as they were when the write
// was made, as etcd 3.5 does, not as they are when the watch asks; a read
// shows the ttl now. The write's time travels in its log entry.
func TestV2HistoryTTLIsTheWrites(t *testing.T) {
	n := startTestNode(t)
	base := firstV2Write(t, n, "/v2/keys/t", "value=v&ttl=100")
	replace := v2Do(t, n, "PUT", "/v2/keys/t", "value=w&ttl=50")
	if replace.status != 200 || !strings.Contains(replace.body, `"ttl":50,`) || !strings.Contains(replace.body, `"ttl":100,`) {
		t.Fatalf("PUT /t again: HTTP %d %q, want ttl 50 and a prevNode's ttl 100", replace.status, replace.body)
	}
	// Until a second has gone by since the write.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(v2Do(t, n, "GET", "/v2/keys/t", "").body, `"ttl":49,`) {
		if time.Now().After(deadline) {
			t.Fatal("GET /t never showed ttl 49")
		}
		time.Sleep(50 * time.Millisecond)
	}
	watch := v2Do(t, n, "GET", fmt.Sprintf("/v2/keys/t?wait=true&waitIndex=%d", base+2), "")
	if watch.status != 200 || !strings.Contains(watch.body, `"ttl":50,`) || !strings.Contains(watch.body, `"ttl":100,`) {
		t.Errorf("the write from the history: HTTP %d %q, want the ttls it had when made: 50, and 100 before", watch.status, watch.body)
	}
}
