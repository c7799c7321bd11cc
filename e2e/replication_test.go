package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
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

// TestCommitGoesWithTheNextEntries: a lone client's writes, one after the
// other, reach a follower as about one append each. A follower fsyncs its
// log on every append goraft handles, and a message of its own for each
// commit index, sent as the client was about to write again, doubled the
// follower's appends and held the next write back.
func TestCommitGoesWithTheNextEntries(t *testing.T) {
	const writes = 200
	c := startCluster(t, 3)
	leader := c.waitLeader(readyTimeout)
	follower := c.others(leader)[0]
	appends := func() uint64 {
		var self struct {
			RecvAppendRequestCnt uint64 `json:"recvAppendRequestCnt"`
		}
		r := follower.do(http.MethodGet, "/v1/stats/self", nil)
		if err := json.Unmarshal(r.Body, &self); err != nil {
			t.Fatalf("stats of %s: %v in %s", follower.name, err, r.Body)
		}
		return self.RecvAppendRequestCnt
	}
	before := appends()
	started := time.Now()
	for i := range writes {
		leader.set("/lone", strconv.Itoa(i))
	}
	// Idle heartbeats come every -heartbeat besides.
	idle := uint64(time.Since(started)/(50*time.Millisecond)) + 2
	if got := appends() - before; got > writes*3/2+idle {
		t.Fatalf("%s received %d appends for %d writes one after the other (and about %d idle heartbeats); want about one a write", follower.name, got, writes, idle)
	}
}
