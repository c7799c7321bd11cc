package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestReplicationDoesNotWaitForHeartbeat runs a cluster whose idle
// heartbeat is a minute: joins, writes and what the followers show must
// all come through long before a heartbeat would carry them. goraft alone
// sends entries only on the heartbeat's tick.
func TestReplicationDoesNotWaitForHeartbeat(t *testing.T) {
	const heartbeat = time.Minute
	c := startCluster(t, 3, "-heartbeat", heartbeat.String(), "-election", (4 * heartbeat).String())
	leader := c.waitLeader(readyTimeout)
	started := time.Now()
	var last string
	for i := range 20 {
		last = fmt.Sprintf("write %d", i)
		leader.set("/paced", last)
	}
	for _, f := range c.others(leader) {
		deadline := time.Now().Add(requestTimeout)
		for {
			r := f.do(http.MethodGet, "/v1/keys/paced", nil)
			if r.Status == http.StatusOK && expectEvent(t, r).Value == last {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("follower %s still shows %v, %v after the leader acknowledged %q", f.name, r, requestTimeout, last)
			}
			time.Sleep(pollInterval)
		}
	}
	if took := time.Since(started); took > heartbeat/2 {
		t.Fatalf("20 writes and their replication took %v with a heartbeat of %v: replication waits for the heartbeat", took, heartbeat)
	}
}
