package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/goraft/raft"
	"github.com/goraft/raft/protobuf"

	"github.com/etcd-recreation/etcd/internal/raftdisk"
)

// Regression tests for defects found by review: each failed before its fix.

// startMember starts an in-process node that joins the cluster of seed.
func startMember(t *testing.T, seed *testNode, name string, extra ...string) *testNode {
	t.Helper()
	return startTestNode(t, append([]string{"-n", name, "-C", seed.e.cfg.RaftAddr}, extra...)...)
}

func (n *testNode) peerURL(path string) string { return n.e.cfg.RaftURL() + path }

func (n *testNode) machines() string {
	n.t.Helper()
	resp, err := testClient.Get(n.url + "/v1/machines")
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestJoinWithBadNameChangesNothing(t *testing.T) {
	n := startTestNode(t, "-timeout", "1s")
	for _, name := range []string{"..", ".", "a/b", "x y", "_etcd/../x", "é"} {
		body, _ := json.Marshal(JoinCommand{RaftVersion: raftVersion, Name: name, RaftURL: "http://127.0.0.1:1", EtcdURL: "http://127.0.0.1:2"})
		resp, err := testClient.Post(n.peerURL("/join"), "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ ErrorCode int }
		if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(answer, &e) != nil || e.ErrorCode != 209 {
			t.Errorf("join as %q: HTTP %d %s; want 400 with error 209", name, resp.StatusCode, answer)
		}
	}
	if got := n.machines(); got != n.url {
		t.Fatalf("/v1/machines = %q, want only %s", got, n.url)
	}
	n.set("after", "joins")
}

// TestBadJoinInLogDoesNotWedgeRestart: a log written by a build that did not
// check names may hold such a join; applying it must change nothing, live
// and on replay.
func TestBadJoinInLogDoesNotWedgeRestart(t *testing.T) {
	n := startTestNode(t, "-timeout", "1s")
	for _, name := range []string{"..", "a/b"} {
		_, err := n.e.raft.doWithTimeout(&JoinCommand{RaftVersion: raftVersion, Name: name, RaftURL: "http://127.0.0.1:1", EtcdURL: "http://127.0.0.1:2"})
		if err == nil {
			t.Fatalf("a join as %q was applied", name)
		}
	}
	n.set("before", "restart")
	n.restart()
	n.set("after", "restart")
	if got := n.machines(); got != n.url {
		t.Fatalf("/v1/machines = %q, want only %s", got, n.url)
	}
}

func TestNodeNameMustBeOneSegment(t *testing.T) {
	for _, name := range []string{"..", ".", "a/b", "node 1"} {
		cfg, err := parseFlags([]string{"-n", name}, io.Discard)
		if err == nil {
			err = cfg.validate()
		}
		if err == nil || !strings.HasPrefix(err.Error(), "-n:") {
			t.Errorf("-n %q: %v; want an error about -n", name, err)
		}
	}
}

// snapshotFiles lists the snapshots in a node's data directory.
func snapshotFiles(n *testNode) []string {
	files, _ := filepath.Glob(filepath.Join(n.e.cfg.DataDir, "snapshot", "*.ss"))
	return files
}

func firstLogIndex(n *testNode) uint64 {
	if entries := n.e.raft.raft.LogEntries(); len(entries) > 0 {
		return entries[0].Index()
	}
	return 0
}

// TestSnapshotCountsEveryEntry: the log is bounded by -snapshotCount
// entries of any kind; consistent reads append a no-op each.
func TestSnapshotCountsEveryEntry(t *testing.T) {
	n := startTestNode(t, "-snapshotCount", "100")
	n.set("k", "v")
	for range 300 {
		if code, r := n.do(http.MethodGet, "/v1/keys/k?consistent=true", nil); code != http.StatusOK {
			t.Fatalf("consistent read: HTTP %d %+v", code, r)
		}
	}
	waitFor(t, 10*time.Second, "a snapshot and a compacted log", func() bool {
		return len(snapshotFiles(n)) > 0 && firstLogIndex(n) > 1
	})
}

// TestSnapshotsUnderLoadWithJoinsAndALaggingPeer: a leader under steady
// load snapshots (its log always has an uncommitted tail), while a member
// that is down falls behind the log's start and a new member joins. Under
// -race this also checks that goraft's unlocked peer map and snapshot
// pointer are never touched by two goroutines at once.
func TestSnapshotsUnderLoadWithJoinsAndALaggingPeer(t *testing.T) {
	leader := startTestNode(t, "-snapshotCount", "50")
	second := startMember(t, leader, "node2", "-snapshotCount", "50")
	lagging := startMember(t, leader, "node3", "-snapshotCount", "50")
	lagging.e.stop()
	lagging.e = nil

	stop := make(chan struct{})
	var writers sync.WaitGroup
	var acked sync.Map
	for w := range 4 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := fmt.Sprintf("load/w%d/k%d", w, i)
				resp, err := testClient.PostForm(leader.url+"/v1/keys/"+key, url.Values{"value": {"v"}})
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					acked.Store(key, true)
				}
			}
		}()
	}
	waitFor(t, 20*time.Second, "the leader to snapshot under load", func() bool { return firstLogIndex(leader) > 1 })
	joiner := startMember(t, leader, "node4", "-snapshotCount", "50")
	start := leader.e.raft.raft.CommitIndex()
	waitFor(t, 20*time.Second, "more snapshots after the join", func() bool { return firstLogIndex(leader) > start })
	close(stop)
	writers.Wait()

	lagging.start()
	waitFor(t, 20*time.Second, "the lagging member to catch up", func() bool {
		return lagging.e.store.Index() >= leader.e.store.Index()
	})
	for _, n := range []*testNode{second, lagging, joiner} {
		acked.Range(func(key, _ any) bool {
			if code, _ := n.do(http.MethodGet, "/v1/keys/"+key.(string), nil); code != http.StatusOK {
				t.Errorf("%s: acknowledged %s missing: HTTP %d", n.e.cfg.Name, key, code)
				return false
			}
			return true
		})
	}
}

// TestLeaderWithoutQuorumStepsDown: goraft's leader never notices it lost
// its followers; every write it proposed then held a goroutine and a log
// entry for good. It steps down, and until then refuses writes.
func TestLeaderWithoutQuorumStepsDown(t *testing.T) {
	leader := startTestNode(t, "-timeout", "300ms")
	followers := []*testNode{startMember(t, leader, "node2"), startMember(t, leader, "node3")}
	for _, m := range followers {
		m.e.stop()
		m.e = nil
	}
	waitFor(t, 5*time.Second, "the leader to step down", func() bool { return !leader.e.raft.isLeader() })
	waitFor(t, 5*time.Second, "writes to be refused with error 301", func() bool {
		code, r := leader.do(http.MethodPost, "/v1/keys/probe", url.Values{"value": {"x"}})
		return code == http.StatusInternalServerError && r.ErrorCode == 301
	})
	goroutines := runtime.NumGoroutine()
	entries := len(leader.e.raft.raft.LogEntries())
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/v1/keys/refused" + strconv.Itoa(i)
			if i%2 == 1 {
				path += "?consistent=true"
				resp, err := testClient.Get(leader.url + path)
				if err == nil {
					resp.Body.Close()
				}
				return
			}
			resp, err := testClient.PostForm(leader.url+path, url.Values{"value": {"x"}})
			if err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	testClient.CloseIdleConnections()
	if got := len(leader.e.raft.raft.LogEntries()); got > entries+2 {
		t.Fatalf("the log grew from %d to %d entries for refused requests", entries, got)
	}
	waitFor(t, 5*time.Second, "goroutines back to where they were", func() bool { return runtime.NumGoroutine() <= goroutines+10 })
}

// TestTermThatCannotBeRecordedStopsTheNode: an answer carrying a term the
// node could not save would let a restart vote twice in that term.
func TestTermThatCannotBeRecordedStopsTheNode(t *testing.T) {
	n := startTestNode(t)
	// A directory where the term file's temporary copy goes makes saving fail.
	if err := os.Mkdir(filepath.Join(n.e.cfg.DataDir, "term.tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	req := &raft.AppendEntriesRequest{Term: n.e.raft.guard.Term() + 5, LeaderName: "other", PrevLogIndex: 1 << 40}
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	n.e.raft.peerServer.Handler.ServeHTTP(rec, peerRequest(n, http.MethodPost, appendEntriesPath, &body))
	if rec.Code == http.StatusOK {
		t.Fatalf("an append answer in term %d left without the term on disk", req.Term)
	}
	select {
	case <-n.e.raft.failures():
	case <-time.After(5 * time.Second):
		t.Fatal("the node did not stop after failing to record its term")
	}
}

// TestFailedFirstStartLeavesNothing: a join the cluster refuses must not
// leave an identity behind that a corrected start would then be bound to.
func TestFailedFirstStartLeavesNothing(t *testing.T) {
	seed := startTestNode(t, "-maxsize", "1")
	dir := filepath.Join(t.TempDir(), "node2.etcd")
	args := []string{"-n", "node2", "-d", dir, "-C", seed.e.cfg.RaftAddr,
		"-c", "127.0.0.1:" + freePort(t), "-s", "127.0.0.1:" + freePort(t)}
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := startEtcd(cfg); err == nil {
		e.stop()
		t.Fatal("a join past -maxsize succeeded")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the failed first start left %s behind (%v)", dir, err)
	}
}

func TestPeerLogRouteHidesValues(t *testing.T) {
	n := startTestNode(t)
	n.set("secret", "hunter2")
	resp, err := testClient.Get(n.peerURL("/log"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "etcd:set") || strings.Contains(string(body), "hunter2") {
		t.Fatalf("GET /log: HTTP %d %s; want the entries without their values", resp.StatusCode, body)
	}
}

func TestClientsAreNotToldInternals(t *testing.T) {
	inner := fmt.Errorf("sync raft log: %w", &os.PathError{Op: "fsync", Path: "/secret/dir/log", Err: errors.New("EIO")})
	if got := publicCause(inner); strings.Contains(got, "/secret") {
		t.Fatalf("publicCause(%v) = %q", inner, got)
	}
	if got := publicCause(fmt.Errorf("set: %w", errCommandTimeout)); got != errCommandTimeout.Error() {
		t.Fatalf("publicCause hides what happened to the request: %q", got)
	}
}

// TestNoExpiryAfterStopBackground: stopping the node's jobs must wait for
// the expiries they proposed.
func TestNoExpiryAfterStopBackground(t *testing.T) {
	n := startTestNode(t)
	for i := range 300 {
		n.set("ttl/k"+strconv.Itoa(i), "v", "ttl", "1")
	}
	setIndex := n.e.store.Index()
	waitFor(t, 10*time.Second, "expiries to start", func() bool { return n.e.store.Index() > setIndex })
	n.e.raft.stopBackground()
	stopped := n.e.store.Index()
	time.Sleep(200 * time.Millisecond) // room for a straggler to show
	if got := n.e.store.Index(); got != stopped {
		t.Fatalf("store index moved from %d to %d after the background jobs stopped", stopped, got)
	}
}

// TestAppendBatchesAreBounded: goraft sends up to 2,000 entries at once;
// of large values that is more than a peer may take in one request.
func TestAppendBatchesAreBounded(t *testing.T) {
	value := bytes.Repeat([]byte("x"), 100<<10)
	req := &raft.AppendEntriesRequest{}
	for i := range 2000 {
		name := "etcd:set"
		index := uint64(i + 1)
		req.Entries = append(req.Entries, &protobuf.LogEntry{Index: &index, Term: &index, CommandName: &name, Command: value})
	}
	trimBatch(req, appendBatchBytes)
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		t.Fatal(err)
	}
	if len(req.Entries) == 0 || body.Len() > appendBatchBytes+maxSmallPeerBody {
		t.Fatalf("batch of %d entries, %d bytes; want at most about %d", len(req.Entries), body.Len(), appendBatchBytes)
	}
}

// TestJoinThroughClientPortSaysSo: -C with a client address is a common
// slip; the error must say what is wrong.
func TestJoinThroughClientPortSaysSo(t *testing.T) {
	seed := startTestNode(t)
	args := []string{"-n", "node2", "-d", t.TempDir(), "-C", seed.e.cfg.ClientAddr, "-r", "1",
		"-c", "127.0.0.1:" + freePort(t), "-s", "127.0.0.1:" + freePort(t)}
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	e, err := startEtcd(cfg)
	if err == nil {
		e.stop()
		t.Fatal("joined through a client port")
	}
	if !strings.Contains(err.Error(), "client port") || !strings.Contains(err.Error(), "7001") {
		t.Fatalf("error %q does not say that -C wants a peer address", err)
	}
}

// TestSnapshotAnnouncedAgainIsAccepted: goraft leaves a follower that a
// snapshot was announced to waiting for it, and refuses every further
// announcement; a leader whose first snapshot did not arrive announces it
// again, and the follower, starting or not, waited for good.
func TestSnapshotAnnouncedAgainIsAccepted(t *testing.T) {
	leader := startTestNode(t)
	member := startMember(t, leader, "node2")
	announce := func() int { return announceSnapshot(t, leader, member) }
	if code := announce(); code != http.StatusOK {
		t.Fatalf("first announcement: HTTP %d", code)
	}
	if state := member.e.raft.raft.State(); state != raft.Snapshotting {
		t.Fatalf("after the announcement the member is %s, want %s", state, raft.Snapshotting)
	}
	if code := announce(); code != http.StatusOK {
		t.Fatalf("the same announcement again: HTTP %d; the leader would announce it forever", code)
	}
}

// TestSnapshotStateTakenOnlyWhenAnnounced: a member keeps the state file of
// a snapshot only from the leader that announced the snapshot to it, and
// only if it holds what its name says.
func TestSnapshotStateTakenOnlyWhenAnnounced(t *testing.T) {
	leader := startTestNode(t)
	member := startMember(t, leader, "node2")
	ref, err := leader.e.raft.disk.SaveState(7, func(w io.Writer) error {
		_, err := io.WriteString(w, `{"index":7}`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	sf, _, err := raftdisk.StateRef(ref)
	if err != nil {
		t.Fatal(err)
	}
	send := func(leaderName, content string) int {
		query := url.Values{"file": {sf.Name}, "leader": {leaderName}}
		rec := httptest.NewRecorder()
		member.e.raft.peerServer.Handler.ServeHTTP(rec, peerRequest(member, http.MethodPost, snapshotStatePath+"?"+query.Encode(), strings.NewReader(content)))
		return rec.Code
	}
	if code := send("node1", `{"index":7}`); code != http.StatusConflict {
		t.Fatalf("a state sent with no snapshot announced: HTTP %d, want %d", code, http.StatusConflict)
	}
	if code := announceSnapshot(t, leader, member); code != http.StatusOK {
		t.Fatalf("announcement: HTTP %d", code)
	}
	if code := send("node3", `{"index":7}`); code != http.StatusConflict {
		t.Fatalf("a state sent in the name of another leader: HTTP %d, want %d", code, http.StatusConflict)
	}
	if code := send("node1", `{"index":8}`); code != http.StatusBadRequest {
		t.Fatalf("a state that is not what its name says: HTTP %d, want %d", code, http.StatusBadRequest)
	}
	if member.e.raft.disk.HasState(sf) {
		t.Fatal("the member kept a state that is not what its name says")
	}
	if code := send("node1", `{"index":7}`); code != http.StatusNoContent {
		t.Fatalf("the announced snapshot's state: HTTP %d, want %d", code, http.StatusNoContent)
	}
	if !member.e.raft.disk.HasState(sf) {
		t.Fatal("the member does not have the state it accepted")
	}
}

// TestStuckSnapshottingIsLeftWithoutLeader: a follower left in goraft's
// snapshotting state never campaigns; once its leader is silent it moves
// on. Both followers are left there: only that can elect a leader.
func TestStuckSnapshottingIsLeftWithoutLeader(t *testing.T) {
	leader := startTestNode(t)
	members := []*testNode{startMember(t, leader, "node2"), startMember(t, leader, "node3")}
	for _, m := range members {
		code := announceSnapshot(t, leader, m)
		if state := m.e.raft.raft.State(); code != http.StatusOK || state != raft.Snapshotting {
			t.Fatalf("announcement: HTTP %d, %s %s; want 200 and %s", code, m.e.cfg.Name, state, raft.Snapshotting)
		}
	}
	leader.e.stop()
	leader.e = nil
	waitFor(t, 10*time.Second, "a member to leave the snapshotting state and lead", func() bool {
		return members[0].e.raft.isLeader() || members[1].e.raft.isLeader()
	})
}

// TestReadsShareTheWritesSync: on a single node a read waits until what it
// sees is on disk. The proposal that applied a write syncs it next, so a
// read waits for that sync: reads that started syncs of their own doubled
// the syncs under a mix of reads and writes.
func TestReadsShareTheWritesSync(t *testing.T) {
	const writes, readers = 100, 16
	n := startTestNode(t)
	client := &http.Client{Timeout: 10 * time.Second}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(n.url + "/v1/keys/mix")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	before := n.e.raft.disk.Syncs()
	for i := range writes {
		resp, err := client.PostForm(n.url+"/v1/keys/mix", url.Values{"value": {strconv.Itoa(i)}})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	syncs := n.e.raft.disk.Syncs() - before
	close(stop)
	wg.Wait()
	if syncs > writes+writes/4 {
		t.Fatalf("%d syncs for %d writes under %d readers: reads sync on their own", syncs, writes, readers)
	}
}

// announceSnapshot has leader (node1) announce to member a snapshot far
// past its log, as goraft does before it sends one, and returns the
// member's HTTP status.
func announceSnapshot(t *testing.T, leader, member *testNode) int {
	t.Helper()
	req := &raft.SnapshotRequest{LeaderName: "node1", LastIndex: 1 << 20, LastTerm: leader.e.raft.raft.Term()}
	var body bytes.Buffer
	if _, err := req.Encode(&body); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	member.e.raft.peerServer.Handler.ServeHTTP(rec, peerRequest(member, http.MethodPost, snapshotPath, &body))
	return rec.Code
}
