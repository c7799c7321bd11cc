package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestErrorsTellWhetherAWriteWasProposed: error 301 says that nothing was
// proposed, so a client may send the write again; error 300 leaves the
// outcome open.
func TestErrorsTellWhetherAWriteWasProposed(t *testing.T) {
	// A longer election timeout than the default, so that the leader still
	// proposes the first write after its followers are killed, whatever the
	// load: it refuses only after three election timeouts of silence.
	c := startCluster(t, 3, "-timeout", "1s", "-election", "300ms")
	leader := c.waitLeader(electionTimeout)
	followers := c.others(leader)
	for _, f := range followers {
		f.crash()
	}

	r := leader.do(http.MethodPost, "/v1/keys/errs/proposed", form("value", "x"))
	if e := expectError(t, r, http.StatusInternalServerError, 300); !strings.Contains(e.Cause, "outcome is unknown") {
		t.Fatalf("%v: a write proposed and never committed; want a cause saying that its outcome is unknown", r)
	}
	waitFor(t, electionTimeout, "the leader to refuse writes for want of a quorum", func() (bool, string) {
		r := leader.do(http.MethodPost, "/v1/keys/errs/refused", form("value", "x"))
		if e, ok := errorOf(r); ok && e.ErrorCode == 300 && strings.Contains(e.Cause, "outcome is unknown") {
			return false, r.String()
		}
		if e := expectError(t, r, http.StatusInternalServerError, 301); !strings.Contains(e.Cause, "nothing was proposed") {
			t.Fatalf("%v: want a cause saying that nothing was proposed", r)
		}
		return true, ""
	})
	r = leader.do(http.MethodGet, "/v1/keys/errs/proposed?consistent=true", nil)
	expectError(t, r, http.StatusInternalServerError, 301)

	// Alone, a restarted member can elect no leader: it never finishes
	// starting.
	leader.crash()
	starting := followers[0]
	starting.start()
	waitFor(t, readyTimeout, starting.name+" to answer while it starts", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		r, err := starting.request(ctx, http.MethodPost, "/v1/keys/errs/starting", form("value", "x"))
		if err != nil {
			return false, err.Error()
		}
		if e := expectError(t, r, http.StatusInternalServerError, 301); !strings.Contains(e.Cause, "starting") {
			t.Fatalf("%v: want a cause saying that the node is starting", r)
		}
		return true, ""
	})

	// The two elect a leader; with it killed, the other has none.
	followers[1].start()
	for _, f := range followers {
		f.mustBeReady()
	}
	last := c.waitLeader(electionTimeout)
	survivor := c.others(last)[0]
	killed := time.Now()
	last.crash()
	silent := killed.Add(300*time.Millisecond + silenceSlack)
	waitFor(t, electionTimeout, survivor.name+" to say that it knows no leader", func() (bool, string) {
		sent := time.Now()
		r := survivor.do(http.MethodPost, "/v1/keys/errs/noleader", form("value", "x"))
		if r.Status == http.StatusTemporaryRedirect {
			if sent.After(silent) {
				t.Fatalf("%v: sent to the leader %v after it was killed; want error 301 once it has been silent for an election timeout", r, sent.Sub(killed))
			}
			return false, r.String()
		}
		if e := expectError(t, r, http.StatusInternalServerError, 301); !strings.Contains(e.Cause, "no leader") {
			t.Fatalf("%v: want a cause saying that no leader is known", r)
		}
		return true, ""
	})
}

// silenceSlack is what a member may take beyond its election timeout to
// notice that its leader went silent: an append sent just before the leader
// stopped may still arrive, late on a loaded machine.
const silenceSlack = 450 * time.Millisecond

// errorOf decodes an error answer.
func errorOf(r *testnode.Response) (testnode.Error, bool) {
	var e testnode.Error
	err := json.Unmarshal(r.Body, &e)
	return e, err == nil && e.ErrorCode != 0
}

// checkNoRedirectToSilentLeader pauses every member but n and checks that
// n stops sending writes to its leader once it has not heard from it for an
// election timeout (the default, 150 ms), and answers 301 instead. goraft
// names a silent leader until the member campaigns, which it does only up
// to twice the election timeout later, and in its snapshotting state not at
// all (until the node moves it on, after 2 s).
func checkNoRedirectToSilentLeader(t *testing.T, c *cluster, n *node) {
	t.Helper()
	var self struct {
		State string `json:"state"`
	}
	if err := json.Unmarshal(n.do(http.MethodGet, "/v1/stats/self", nil).Body, &self); err != nil {
		t.Fatalf("GET /v1/stats/self on %s: %v", n.name, err)
	}
	t.Logf("%s is in goraft's %s state when the others are paused", n.name, self.State)
	paused := c.others(n)
	stopped := time.Now()
	for _, m := range paused {
		if err := m.process().Pause(); err != nil {
			t.Fatalf("pause %s: %v", m.name, err)
		}
	}
	silent := stopped.Add(150*time.Millisecond + silenceSlack)
	answered := 0
	for time.Since(stopped) < 1500*time.Millisecond {
		sent := time.Now()
		r := n.do(http.MethodPost, "/v1/keys/silent/leader", form("value", "x"))
		if sent.After(silent) {
			if r.Status == http.StatusTemporaryRedirect {
				t.Fatalf("%v: sent to the leader %v after it was paused; want error 301 once it has been silent for an election timeout", r, sent.Sub(stopped))
			}
			expectError(t, r, http.StatusInternalServerError, 301)
			answered++
		}
		time.Sleep(pollInterval)
	}
	if answered == 0 {
		t.Fatalf("%s was asked nothing after its leader had been silent for %v", n.name, silent.Sub(stopped))
	}
	for _, m := range paused {
		if err := m.process().Resume(); err != nil {
			t.Fatalf("resume %s: %v", m.name, err)
		}
	}
	c.waitLeader(electionTimeout)
}
