package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/internal/raftdisk"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// These tests run the real node in-process (store, goraft, both HTTP
// servers), so that -race watches the daemon's own goroutines.

type testNode struct {
	t    testing.TB
	e    *etcd
	args []string
	url  string
}

// freePort is a port below the kernel's ephemeral range, so that no
// outgoing connection takes it before the node binds it.
func freePort(t testing.TB) string {
	t.Helper()
	port, err := testnode.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}

func startTestNode(t testing.TB, extra ...string) *testNode {
	t.Helper()
	clientPort, peerPort := freePort(t), freePort(t)
	args := append([]string{
		"-n", "node1", "-d", t.TempDir(),
		"-c", "127.0.0.1:" + clientPort, "-s", "127.0.0.1:" + peerPort,
	}, extra...)
	n := &testNode{t: t, args: args, url: "http://127.0.0.1:" + clientPort}
	n.start()
	t.Cleanup(func() {
		if n.e != nil {
			n.e.stop()
		}
	})
	return n
}

func (n *testNode) start() {
	n.t.Helper()
	cfg, err := parseFlags(n.args, io.Discard)
	if err != nil {
		n.t.Fatalf("parse flags %v: %v", n.args, err)
	}
	e, err := startEtcd(cfg)
	if err != nil {
		n.t.Fatalf("start node: %v", err)
	}
	n.e = e
}

func (n *testNode) restart() {
	n.t.Helper()
	n.e.stop()
	n.e = nil
	n.start()
}

var testClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

type response struct {
	Action     string  `json:"action"`
	Key        string  `json:"key"`
	PrevValue  string  `json:"prevValue"`
	Value      string  `json:"value"`
	NewKey     bool    `json:"newKey"`
	Expiration *string `json:"expiration"`
	TTL        int64   `json:"ttl"`
	Index      uint64  `json:"index"`
	ErrorCode  int     `json:"errorCode"`
	Cause      string  `json:"cause"`
}

func (n *testNode) do(method, path string, form url.Values) (int, response) {
	n.t.Helper()
	req, err := http.NewRequest(method, n.url+path, strings.NewReader(form.Encode()))
	if err != nil {
		n.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := testClient.Do(req)
	if err != nil {
		n.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		n.t.Fatalf("%s %s: bad JSON %q: %v", method, path, body, err)
	}
	return resp.StatusCode, r
}

func (n *testNode) set(key, value string, extra ...string) response {
	n.t.Helper()
	form := url.Values{"value": {value}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	code, r := n.do(http.MethodPost, "/v1/keys/"+key, form)
	if code != http.StatusOK {
		n.t.Fatalf("set %s: HTTP %d %+v", key, code, r)
	}
	return r
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAbandonedWatchesReleaseEverything(t *testing.T) {
	n := startTestNode(t)
	n.set("warm", "up")
	testClient.CloseIdleConnections()
	baseline := runtime.NumGoroutine()

	const watches = 50
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for i := range watches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/watch/w%d", n.url, i), nil)
			if resp, err := testClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	waitFor(t, 5*time.Second, "all watchers registered", func() bool { return n.e.store.Stats().Watchers == watches })
	cancel()
	wg.Wait()
	waitFor(t, 5*time.Second, "watchers released", func() bool { return n.e.store.Stats().Watchers == 0 })
	waitFor(t, 5*time.Second, "goroutines back to baseline", func() bool { return runtime.NumGoroutine() <= baseline })
}

func TestConcurrentClients(t *testing.T) {
	n := startTestNode(t)
	const clients, writes = 8, 50
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range writes {
				form := url.Values{"value": {strconv.Itoa(i)}}
				resp, err := testClient.PostForm(fmt.Sprintf("%s/v1/keys/dir%d/k%d", n.url, c, i), form)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("set dir%d/k%d: %v %v", c, i, resp, err)
					return
				}
				resp.Body.Close()
			}
		}()
		go func() {
			defer wg.Done()
			for range writes {
				for _, path := range []string{fmt.Sprintf("/v1/keys/dir%d", c), "/v1/stats/self", "/v1/machines"} {
					resp, err := testClient.Get(n.url + path)
					if err != nil {
						t.Errorf("GET %s: %v", path, err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	for c := range clients {
		code, r := n.do(http.MethodGet, fmt.Sprintf("/v1/keys/dir%d/k%d", c, writes-1), nil)
		if code != http.StatusOK || r.Value != strconv.Itoa(writes-1) {
			t.Fatalf("dir%d: HTTP %d %+v", c, code, r)
		}
	}
}

func TestExpiryGoesThroughTheLog(t *testing.T) {
	n := startTestNode(t)
	set := n.set("short", "lived", "ttl", "1")
	if set.Expiration == nil {
		t.Fatalf("set with ttl has no expiration: %+v", set)
	}
	code, event := n.do(http.MethodPost, "/v1/watch/short", url.Values{"index": {strconv.FormatUint(set.Index+1, 10)}})
	if code != http.StatusOK || event.Action != "DELETE" || event.PrevValue != "lived" || event.Index <= set.Index {
		t.Fatalf("expiry event: HTTP %d %+v (set at %d)", code, event, set.Index)
	}
	if got := n.e.store.Index(); got < event.Index {
		t.Fatalf("store index %d is behind the expiry at %d", got, event.Index)
	}
	// The expiry must be the leader's decision, replicated as a command at
	// the index the watcher saw: a timer deleting the key locally would
	// give the same event without any entry.
	var expiries []string
	for _, entry := range n.e.raft.raft.LogEntries() {
		if entry.CommandName() != "etcd:expire" {
			continue
		}
		var cmd ExpireCommand
		if err := json.Unmarshal(entry.Command(), &cmd); err != nil {
			t.Fatalf("log entry %d: etcd:expire with an undecodable command %q: %v", entry.Index(), entry.Command(), err)
		}
		expiries = append(expiries, fmt.Sprintf("%s at %d", cmd.Key, entry.Index()))
	}
	if want := fmt.Sprintf("%s at %d", event.Key, event.Index); len(expiries) != 1 || expiries[0] != want {
		t.Fatalf("etcd:expire entries in the log: %q; want exactly one, %s", expiries, want)
	}
}

func TestRestartKeepsDataAndIndexes(t *testing.T) {
	n := startTestNode(t, "-snapshotCount", "20")
	var last response
	for i := range 60 {
		last = n.set(fmt.Sprintf("k%d", i), strconv.Itoa(i))
	}
	snapshots := filepath.Join(n.args[3], "snapshot")
	waitFor(t, 5*time.Second, "a snapshot", func() bool {
		files, _ := filepath.Glob(filepath.Join(snapshots, "*.ss"))
		return len(files) > 0
	})
	n.restart()
	for i := range 60 {
		code, r := n.do(http.MethodGet, fmt.Sprintf("/v1/keys/k%d", i), nil)
		if code != http.StatusOK || r.Value != strconv.Itoa(i) || r.Index < last.Index {
			t.Fatalf("k%d after restart: HTTP %d %+v", i, code, r)
		}
	}
	if next := n.set("after", "restart"); next.Index <= last.Index {
		t.Fatalf("index went back: %d after %d", next.Index, last.Index)
	}
}

// TestVoteFromUnknownCandidate: a member that has not yet learned of every
// other member (a newcomer applies the joins only as the log reaches it) must
// still vote by the raft rules, or a cluster that just grew can be left
// without a leader (a regression). The voter's leader is gone: a member
// that hears its leader votes for no one.
func TestVoteFromUnknownCandidate(t *testing.T) {
	leader := startTestNode(t)
	n := startMember(t, leader, "node2")
	leader.e.stop()
	leader.e = nil
	waitFor(t, 5*time.Second, "the leader's silence to pass the election timeout", func() bool {
		_, silent := n.e.raft.guard.LeaderHeard()
		return silent > n.e.cfg.ElectionTimeout
	})
	req := &raft.RequestVoteRequest{Term: n.e.raft.guard.Term() + 5, CandidateName: "newcomer", LastLogIndex: 1 << 40, LastLogTerm: 1 << 40}
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	n.e.raft.peerServer.Handler.ServeHTTP(rec, peerRequest(n, http.MethodPost, votePath, &body))
	resp := &raft.RequestVoteResponse{}
	if _, err := resp.Decode(rec.Body); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("vote answer: HTTP %d, %v", rec.Code, err)
	}
	if !resp.VoteGranted {
		t.Fatalf("vote for an up-to-date candidate the node does not know refused: %+v", resp)
	}
	if term, votedFor, err := raftdisk.ReadTerm(n.args[3]); err != nil || votedFor != "newcomer" || term != req.Term {
		t.Fatalf("the vote was not recorded before the answer: term %d vote %q, %v", term, votedFor, err)
	}
}

// TestExpiryLoopSleepsUntilThereIsWork: the expiry loop of an idle member
// used to wake ten times a second whatever it had to do; it sleeps until
// the next expiration on a leader, and until a wake-up on a follower or
// with no key to expire.
func TestExpiryLoopSleepsUntilThereIsWork(t *testing.T) {
	leader := startTestNode(t)
	if wait, timed := leader.e.raft.nextExpiryWait(false); timed {
		t.Fatalf("a leader without expiring keys sleeps %v, not until woken", wait)
	}
	leader.set("later", "v", "ttl", "3600")
	if wait, timed := leader.e.raft.nextExpiryWait(false); !timed || wait != maxExpirySleep {
		t.Fatalf("a leader whose next key expires in an hour sleeps %v (timed %v), want %v", wait, timed, maxExpirySleep)
	}
	member := startMember(t, leader, "node2")
	waitFor(t, 5*time.Second, "the member to hold the key", func() bool {
		_, ok := member.e.store.NextExpiration()
		return ok
	})
	if wait, timed := member.e.raft.nextExpiryWait(false); timed {
		t.Fatalf("a follower sleeps %v, not until it leads", wait)
	}
	// A key expiring sooner wakes the sleeping loop.
	set := leader.set("sooner", "v", "ttl", "1")
	code, event := leader.do(http.MethodPost, "/v1/watch/sooner", url.Values{"index": {strconv.FormatUint(set.Index+1, 10)}})
	if code != http.StatusOK || event.Action != "DELETE" {
		t.Fatalf("expiry of /sooner: HTTP %d %+v", code, event)
	}
}
