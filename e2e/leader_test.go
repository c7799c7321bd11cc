package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestErrorsTellWhetherAWriteWasProposed: error 301 says that nothing was
// proposed, so a client may send the write again; error 300 leaves the
// outcome open.
func TestErrorsTellWhetherAWriteWasProposed(t *testing.T) {
	// A longer election timeout than the default, so that the leader still
	// proposes the first write after its followers are killed, whatever the
	// load: it refuses only after three election timeouts of silence.
	c := startCluster(t, 3, "-timeout", "1s", "-election", "500ms")
	leader := c.waitLeader(electionTimeout)
	followers := c.others(leader)
	for _, f := range followers {
		f.crash()
	}

	r := leader.do(http.MethodPost, "/v1/keys/errs/proposed", form("value", "x"))
	if e := expectError(t, r, http.StatusInternalServerError, 300); !strings.Contains(e.Cause, "outcome is unknown") {
		t.Fatalf("%v: a write proposed and never committed; want a cause saying that its outcome is unknown", r)
	}
	// The leader refuses writes for want of a quorum, and steps down: then
	// it knows no leader. Both say that nothing was proposed (error 301).
	testnode.WaitFor(t, electionTimeout, "the leader to refuse writes for want of a quorum", func() (bool, string) {
		r := leader.do(http.MethodPost, "/v1/keys/errs/refused", form("value", "x"))
		if e, ok := errorOf(r); ok && e.ErrorCode == 300 && strings.Contains(e.Cause, "outcome is unknown") {
			return false, r.String()
		}
		if e := expectError(t, r, http.StatusInternalServerError, 301); !strings.Contains(e.Cause, "nothing was proposed") && !strings.Contains(e.Cause, "no leader is known") {
			t.Fatalf("%v: want a cause saying that nothing was proposed, or that no leader is known", r)
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
	testnode.WaitFor(t, readyTimeout, starting.name+" to answer while it starts", func() (bool, string) {
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
	silent := killed.Add(500*time.Millisecond + silenceSlack)
	testnode.WaitFor(t, electionTimeout, survivor.name+" to say that it knows no leader", func() (bool, string) {
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

// TestNewLeaderServesNoStaleRead: a new leader holds every committed entry
// but may not have applied them yet; it serves plain reads and watches only
// once it has committed an entry of its own term. The write below commits
// on the leader and heir alone, the leader is killed before heir hears of
// the commit, and the third member is kept from taking any entry: heir is
// elected and can commit nothing.
func TestNewLeaderServesNoStaleRead(t *testing.T) {
	// A long election timeout: were the third member to campaign (its
	// heartbeats late on a loaded machine), heir would step down, and a
	// follower's reads may be stale by design.
	c, gates := startGatedCluster(t, 3, "-timeout", "1s", "-election", "1s")
	leader := c.waitLeader(electionTimeout)
	followers := c.others(leader)
	heir, other := followers[0], followers[1]
	const marker = "acknowledged-before-the-election"
	gates[other].starve()
	gates[heir].cutAfter([]byte(marker))
	w := leader.set("/stale/k", marker)
	leader.crash()

	testnode.WaitFor(t, electionTimeout, heir.name+" to lead", func() (bool, string) {
		status, body := heir.peek("/v1/leader")
		return status == http.StatusOK && body == heir.raftURL(""), fmt.Sprintf("%d %s", status, body)
	})
	r := heir.do(http.MethodGet, "/v1/keys/stale/k", nil)
	if r.Status == http.StatusNotFound {
		t.Fatalf("%v: a stale read on the new leader: the write at index %d was acknowledged before the election", r, w.Index)
	}
	expectError(t, r, http.StatusInternalServerError, 301)
	r = heir.do(http.MethodGet, "/v1/watch/stale", nil)
	expectError(t, r, http.StatusInternalServerError, 301)

	gates[other].open()
	testnode.WaitFor(t, electionTimeout, heir.name+" to serve the acknowledged write", func() (bool, string) {
		r := heir.do(http.MethodGet, "/v1/keys/stale/k", nil)
		if r.Status == http.StatusOK {
			if e := expectEvent(t, r); e.Value != marker || e.Index != w.Index {
				t.Fatalf("%v: want the write at index %d", r, w.Index)
			}
			return true, ""
		}
		expectError(t, r, http.StatusInternalServerError, 301)
		return false, r.String()
	})
}

// startGatedCluster starts a cluster like startCluster, with an appendGate
// on each member's raft address.
func startGatedCluster(t *testing.T, size int, flags ...string) (*cluster, map[*node]*appendGate) {
	t.Helper()
	c := newCluster(t, flags...)
	gates := map[*node]*appendGate{}
	for i := 1; i <= size; i++ {
		name := fmt.Sprintf("node%d", i)
		l, err := testnode.Listen()
		if err != nil {
			t.Fatal(err)
		}
		listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
		extra := []string{"-sl", listen}
		if i > 1 {
			extra = append(extra, "-C", c.members[0].raftAddr())
		}
		n := newNode(t, name, freePort(t), l.Addr().(*net.TCPAddr).Port, filepath.Join(c.base, name+".etcd"), c.base,
			append(append([]string{}, flags...), extra...)...)
		gates[n] = newAppendGate(t, l, listen)
		n.start()
		n.mustBeReady()
		c.members = append(c.members, n)
	}
	c.waitLeader(readyTimeout)
	return c, gates
}

// appendGate serves a member's advertised raft address and forwards every
// peer message to the address it listens on, except appends it holds back.
type appendGate struct {
	rp *httputil.ReverseProxy

	mu     sync.Mutex
	mode   gateMode
	marker []byte
}

type gateMode int

const (
	// passing forwards everything.
	passing gateMode = iota
	// starving forwards each append emptied of its entries and pointing
	// past the end of the member's log: the member refuses it, so it takes
	// no entry and tells the leader so, yet it hears from the leader and
	// does not campaign.
	starving
	// cutting forwards appends until one carries the marker, then turns
	// to refusing.
	cutting
	// refusing answers every append 503.
	refusing
)

func newAppendGate(t *testing.T, l net.Listener, target string) *appendGate {
	tr := testnode.NewTransport()
	g := &appendGate{rp: &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: target}) },
		Transport: tr,
		ErrorLog:  log.New(io.Discard, "", 0),
	}}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: requestTimeout, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return g
}

func (g *appendGate) starve() { g.set(starving, nil) }

func (g *appendGate) cutAfter(marker []byte) { g.set(cutting, marker) }

func (g *appendGate) open() { g.set(passing, nil) }

func (g *appendGate) set(mode gateMode, marker []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.mode, g.marker = mode, marker
}

func (g *appendGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/log/append" {
		g.rp.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	g.mu.Lock()
	mode := g.mode
	if mode == cutting && bytes.Contains(body, g.marker) {
		// This one passes; none after it.
		g.mode = refusing
	}
	g.mu.Unlock()
	switch mode {
	case refusing:
		http.Error(w, "held back by the test", http.StatusServiceUnavailable)
		return
	case starving:
		req := &raft.AppendEntriesRequest{}
		if _, err := req.Decode(bytes.NewReader(body)); err != nil {
			http.Error(w, "the gate cannot decode the append: "+err.Error(), http.StatusBadRequest)
			return
		}
		req.Entries = nil
		req.PrevLogIndex = math.MaxInt64
		var b bytes.Buffer
		if _, err := req.Encode(&b); err != nil {
			http.Error(w, "the gate cannot encode the append: "+err.Error(), http.StatusInternalServerError)
			return
		}
		body = b.Bytes()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	g.rp.ServeHTTP(w, r)
}
