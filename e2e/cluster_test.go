package e2e

// Clusters of three members (SPEC 6). Each test runs three processes or
// more, so these tests do not call t.Parallel: they run one after the
// other, before the parallel single-node tests start, and their elections
// are not slowed by other tests' work.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestClusterJoinAndRedirect joins two members to a founder, one with -C and
// one with -CF, and checks what every member says about the cluster, that
// writes are validated by a follower and redirected to the leader, and that
// reads are served locally unless they ask for consistency.
func TestClusterJoinAndRedirect(t *testing.T) {
	c := newCluster(t)
	n1 := c.add("node1")
	n2 := c.add("node2", "-C", n1.raftAddr())
	// -CF: a list in a file. Nothing listens at the first address, and the
	// second is a follower, which sends the join on to the leader.
	machinesFile := filepath.Join(c.base, "machines")
	list := fmt.Sprintf("127.0.0.1:%d,%s,%s", freePort(t), n2.raftAddr(), n1.raftAddr())
	if err := os.WriteFile(machinesFile, []byte(list+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.add("node3", "-CF", machinesFile)
	leader := c.waitMembership(electionTimeout)
	followers := c.others(leader)
	if len(followers) != 2 {
		t.Fatalf("followers of %s: %d, want 2", leader.name, len(followers))
	}
	f := followers[0]
	t.Logf("leader %s; followers %s, %s; node3 joined with -CF %s", leader.name, followers[0].name, followers[1].name, list)

	var indexes []uint64
	increasing := func(what string, index uint64) {
		t.Helper()
		if len(indexes) > 0 && index <= indexes[len(indexes)-1] {
			t.Fatalf("%s: index %d, not above the previous write's %d", what, index, indexes[len(indexes)-1])
		}
		indexes = append(indexes, index)
	}
	first := leader.set("/cluster/first", "on the leader")
	increasing("first write", first.Index)

	// A follower sends writes to the leader, with the same path and query,
	// and following the redirect works.
	redirect := func(method, path string, body url.Values, from *node) *testnode.Response {
		t.Helper()
		r := from.do(method, path, body)
		if r.Status != http.StatusTemporaryRedirect {
			t.Fatalf("%v on follower %s: want 307 to the leader", r, from.name)
		}
		if loc, want := r.Header.Get("Location"), leader.url(path); loc != want {
			t.Fatalf("%v on follower %s: Location %q, want %q", r, from.name, loc, want)
		}
		return leader.do(method, path, body)
	}
	setAt := time.Now()
	e := expectEvent(t, redirect(http.MethodPost, "/v1/keys/cluster/redirected?ttl=1000", form("value", "via a follower"), f))
	sameEvent(t, "POST via a follower, redirected", e, testnode.Event{Action: "SET", Key: "/cluster/redirected", Value: "via a follower", NewKey: true})
	checkTTL(t, "the redirected write's ttl from the query", e, 1000, setAt, time.Now())
	increasing("redirected POST", e.Index)

	e = expectEvent(t, redirect(http.MethodPut, "/v1/keys/cluster/put", form("value", "put via a follower"), followers[1]))
	sameEvent(t, "PUT via a follower, redirected", e, testnode.Event{Action: "SET", Key: "/cluster/put", Value: "put via a follower", NewKey: true})
	increasing("redirected PUT", e.Index)

	e = expectEvent(t, redirect(http.MethodPost, "/v1/keys/cluster/put", form("prevValue", "put via a follower", "value", "swapped"), f))
	sameEvent(t, "test-and-set via a follower, redirected", e, testnode.Event{Action: "SET", Key: "/cluster/put", PrevValue: "put via a follower", Value: "swapped"})
	increasing("redirected test-and-set", e.Index)

	e = expectEvent(t, redirect(http.MethodDelete, "/v1/keys/cluster/first?x=y", nil, f))
	sameEvent(t, "DELETE via a follower, redirected", e, testnode.Event{Action: "DELETE", Key: "/cluster/first", PrevValue: "on the leader"})
	increasing("redirected DELETE", e.Index)

	// Bad input gets its error from the follower itself, not a redirect.
	for _, bad := range []struct {
		method, path string
		form         url.Values
		code         int
	}{
		{http.MethodPost, "/v1/keys/cluster/novalue", nil, 200},
		{http.MethodPost, "/v1/keys/cluster/novalue", form("ttl", "10"), 200},
		{http.MethodPost, "/v1/keys/cluster/badttl", form("value", "v", "ttl", "abc"), 202},
		{http.MethodPut, "/v1/keys/_etcd/machines/intruder", form("value", "raft=x"), 400},
		{http.MethodDelete, "/v1/keys/_etcd/machines/" + leader.name, nil, 400},
	} {
		r := f.do(bad.method, bad.path, bad.form)
		if loc := r.Header.Get("Location"); loc != "" {
			t.Fatalf("%v on follower %s: redirected to %s; bad input must get its error there", r, f.name, loc)
		}
		expectError(t, r, http.StatusBadRequest, bad.code)
	}

	// Reads are served by every member: a follower has the writes once a
	// heartbeat has carried their commit.
	want := map[string]string{"/cluster/redirected": "via a follower", "/cluster/put": "swapped"}
	for _, m := range c.members {
		testnode.WaitFor(t, 5*time.Second, m.name+" to have the writes", func() (bool, string) {
			for key, value := range want {
				status, body := m.peek("/v1/keys" + key)
				if status == http.StatusTemporaryRedirect {
					t.Fatalf("GET %s on %s: redirected; reads are served locally", key, m.name)
				}
				if status != http.StatusOK || !strings.Contains(body, `"value":"`+value+`"`) {
					return false, fmt.Sprintf("GET %s: %d %s", key, status, body)
				}
			}
			status, body := m.peek("/v1/keys/cluster/first")
			return status == http.StatusNotFound, fmt.Sprintf("GET /cluster/first (deleted): %d %s", status, body)
		})
	}
	// A GET reports the index of the member's store, which has applied
	// every write so far.
	for _, m := range c.members {
		if got := m.get("/cluster/put"); got.Index < indexes[len(indexes)-1] {
			t.Fatalf("GET /cluster/put on %s: index %d, below the last write's %d", m.name, got.Index, indexes[len(indexes)-1])
		}
	}

	// A consistent read is the leader's: a follower redirects it, the
	// leader answers it with the latest value.
	path := "/v1/keys/cluster/put?consistent=true"
	r := f.do(http.MethodGet, path, nil)
	if r.Status != http.StatusTemporaryRedirect || r.Header.Get("Location") != leader.url(path) {
		t.Fatalf("%v on follower %s (Location %q): want 307 to %s", r, f.name, r.Header.Get("Location"), leader.url(path))
	}
	latest := leader.set("/cluster/put", "latest")
	increasing("write before the consistent read", latest.Index)
	got := expectEvent(t, leader.do(http.MethodGet, path, nil))
	if got.Value != "latest" || got.Index < latest.Index {
		t.Fatalf("consistent GET on the leader: %+v; want value latest at index %d or later", got, latest.Index)
	}
	// Leader statistics are the leader's too (SPEC 8).
	if r := f.do(http.MethodGet, "/v1/stats/leader", nil); r.Status != http.StatusTemporaryRedirect || r.Header.Get("Location") != leader.url("/v1/stats/leader") {
		t.Fatalf("%v on follower %s (Location %q): want 307 to the leader", r, f.name, r.Header.Get("Location"))
	}
	t.Logf("write indexes: %v", indexes)
}

// TestClusterMaxSize checks that a join beyond -maxsize is refused with
// error 103, that a second node cannot take a member's name, and that a
// member that lost its data joins again under its own name and URLs.
func TestClusterMaxSize(t *testing.T) {
	// The founder's flag alone would do; every member has it, so that a
	// leader change in the middle does not lift the limit.
	c := startCluster(t, 2, "-maxsize", "2")
	n1, n2 := c.members[0], c.members[1]
	c.set("/max/before", "two members")

	for _, via := range []*node{n1, n2} {
		refused, code := c.addFailing("node3", "-C", via.raftAddr())
		msg := refused.lastLogLine()
		if code != 1 || !strings.Contains(msg, "103") || !strings.Contains(msg, testnode.PeerErrorCatalogue[103].Message) || !strings.HasPrefix(msg, "etcd: ") {
			t.Fatalf("a third member joining through %s with -maxsize 2: exit %d, last line %q; want exit 1 and error 103 %q", via.name, code, msg, testnode.PeerErrorCatalogue[103].Message)
		}
		t.Logf("a third member joining through %s: %s", via.name, msg)
	}

	// A name taken by a member, with other URLs.
	refused, code := c.addFailing("node2", "-C", n1.raftAddr())
	msg := refused.lastLogLine()
	if code != 1 || !strings.Contains(msg, `"node2"`) || !strings.HasPrefix(msg, "etcd: ") {
		t.Fatalf("a second node named node2: exit %d, last line %q; want exit 1 and an error naming node2", code, msg)
	}
	t.Logf("a second node2: %s", msg)

	// Neither refused node became a member.
	c.waitMembership(electionTimeout)

	// The same name with the same URLs is the member itself: a follower
	// that lost its data directory joins again although the cluster is
	// full, and catches up before it serves.
	f := c.others(c.waitLeader(electionTimeout))[0]
	f.crash()
	if err := os.RemoveAll(f.dataDir); err != nil {
		t.Fatal(err)
	}
	f.restart()
	if e := f.get("/max/before"); e.Value != "two members" {
		t.Fatalf("GET /max/before on %s after it joined again: %+v", f.name, e)
	}
	c.waitMembership(electionTimeout)
	c.set("/max/after", "still two")
	testnode.WaitFor(t, 5*time.Second, f.name+" to have /max/after", func() (bool, string) {
		status, body := f.peek("/v1/keys/max/after")
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
	})
}

// TestClusterFailover kills the leader, expects the others to elect another
// and go on taking writes, and restarts the old leader with its old command
// line: it catches up before it serves.
func TestClusterFailover(t *testing.T) {
	c := startCluster(t, 3)
	old := c.waitLeader(electionTimeout)
	before := c.writeKeys("/failover/before", 4, 20, nil, nil)

	old.crash()
	killedAt := time.Now()
	leader := c.waitLeader(electionTimeout)
	if leader == old {
		t.Fatal("the killed leader is still the leader")
	}
	t.Logf("%s killed; %s leads after %v", old.name, leader.name, time.Since(killedAt).Round(time.Millisecond))

	// Writes go on through the new leader, at higher indexes.
	var maxBefore uint64
	for _, a := range before {
		maxBefore = max(maxBefore, a.index)
	}
	var during []ack
	for i := range 20 {
		key, value := fmt.Sprintf("/failover/during/k%02d", i), fmt.Sprintf("v%02d", i)
		e := leader.set(key, value)
		if e.Index <= maxBefore {
			t.Fatalf("write on the new leader at index %d, not above %d", e.Index, maxBefore)
		}
		during = append(during, ack{key, value, e.Index})
	}
	// A surviving follower redirects to the new leader.
	for _, f := range c.others(leader) {
		path := "/v1/keys/failover/via-follower"
		if r := f.do(http.MethodPost, path, form("value", "x")); r.Status != http.StatusTemporaryRedirect || r.Header.Get("Location") != leader.url(path) {
			t.Fatalf("%v on %s: want 307 to the new leader %s", r, f.name, leader.url(path))
		}
	}

	all := append(append([]ack{}, before...), during...)

	// The new leader is killed too and restarted while the member its -C
	// names is still down: a member with a log does not join again, it
	// rejoins with the members it knows. With the third member it elects a
	// leader, and has every write before it serves.
	second := leader
	second.crash()
	second.restart()
	leader = c.waitLeader(electionTimeout)
	checkAcked(t, second, all, true)
	t.Logf("%s killed and restarted with %s still down; %s leads", second.name, old.name, leader.name)
	after := c.writeKeys("/failover/after", 4, 20, nil, nil)
	all = append(all, after...)

	// The old leader comes back as a member and has every write before it
	// serves a single read.
	old.restart()
	checkAcked(t, old, all, true)
	c.waitMembership(electionTimeout)
	c.waitApplied(all, 5*time.Second)
	for _, m := range c.members {
		checkAcked(t, m, all, true)
	}
}

// TestClusterRestartAll kills every member, restarts them all, and checks
// that every acknowledged write is on every member at its index; then the
// same with a graceful stop of every member.
func TestClusterRestartAll(t *testing.T) {
	c := startCluster(t, 3)
	var all []ack
	var maxIndex uint64
	for round, how := range []string{"SIGKILL", "SIGTERM"} {
		acks := c.writeKeys(fmt.Sprintf("/restartall/r%d", round), 8, 200, nil, nil)
		if len(acks) < 200 {
			t.Fatalf("round %d: %d writes acknowledged, want 200", round, len(acks))
		}
		for _, a := range acks {
			if a.index <= maxIndex && round > 0 {
				t.Fatalf("after restarting all: %s written at index %d, not above the last acknowledged before %d", a.key, a.index, maxIndex)
			}
		}
		for _, a := range acks {
			maxIndex = max(maxIndex, a.index)
		}
		all = append(all, acks...)
		for _, m := range c.members {
			if how == "SIGKILL" {
				m.crash()
			} else {
				// The last one stops without a quorum: it must still exit 0.
				m.stop()
			}
		}
		c.restartAll()
		for _, m := range c.members {
			checkAcked(t, m, all, true)
		}
		c.waitMembership(electionTimeout)
		t.Logf("round %d: all members stopped with %s and restarted; %d writes in all, all present on every member", round, how, len(all))
	}
	if e := c.set("/restartall/after", "x"); e.Index <= maxIndex {
		t.Fatalf("first write after restarting all: index %d, not above the last acknowledged %d", e.Index, maxIndex)
	}
}

// TestClusterWritesDuringLeaderCrash writes from 8 clients while the
// leader is killed and restarted, and checks that every acknowledged write
// is on every member, with the same value at the same index.
func TestClusterWritesDuringLeaderCrash(t *testing.T) {
	// A history large enough for a watch from any acknowledged index.
	c := startCluster(t, 3, "-m", "100000")
	old := c.waitLeader(electionTimeout)

	var acked atomic.Int64
	stop := make(chan struct{})
	done := make(chan []ack, 1)
	started := time.Now()
	go func() {
		done <- c.writeKeys("/during", 8, 0, stop, func(n int) { acked.Store(int64(n)) })
	}()
	waitAcked := func(n int64, what string) {
		t.Helper()
		testnode.WaitFor(t, 20*time.Second, fmt.Sprintf("%d acknowledged writes (%s)", n, what), func() (bool, string) {
			return acked.Load() >= n, fmt.Sprint(acked.Load())
		})
	}
	waitAcked(100, "before the crash")
	old.crash()
	atCrash := acked.Load()
	leader := c.waitLeader(electionTimeout)
	waitAcked(atCrash+100, "after the crash")
	old.restart()
	atRestart := acked.Load()
	waitAcked(atRestart+100, "after the restart")
	// Write for about 4 s in all.
	for time.Since(started) < 4*time.Second {
		time.Sleep(pollInterval)
	}
	close(stop)
	var acks []ack
	select {
	case acks = <-done:
	case <-time.After(2 * requestTimeout):
		t.Fatal("the writers did not stop")
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%s killed after %d acknowledged writes, %s led next, %d acknowledged by the restart of %s, %d in all",
		old.name, atCrash, leader.name, atRestart, old.name, len(acks))

	c.waitApplied(acks, 10*time.Second)
	for _, m := range c.members {
		checkAcked(t, m, acks, true)
	}
	// Writes whose outcome was unknown may be there or not, but once the
	// members have applied the same log they hold the very same keys.
	listings := map[string]string{}
	testnode.WaitFor(t, 10*time.Second, "every member to list the same keys", func() (bool, string) {
		for _, m := range c.members {
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			r, err := m.request(ctx, http.MethodGet, "/v1/keys/during/", nil)
			cancel()
			if err != nil || r.Status != http.StatusOK {
				return false, fmt.Sprint(m.name, ": ", r, err)
			}
			var list []testnode.Event
			if err := testnode.DecodeCanonical(r, &list); err != nil {
				t.Fatalf("%s: %v", m.name, err)
			}
			var b strings.Builder
			for _, e := range list {
				var i int
				if _, err := fmt.Sscanf(e.Key, "/during/k%05d", &i); err != nil || e.Value != fmt.Sprintf("value-%05d", i) {
					t.Fatalf("%s: unexpected entry %+v", m.name, e)
				}
				fmt.Fprintf(&b, "%s=%s\n", e.Key, e.Value)
			}
			listings[m.name] = b.String()
		}
		first := listings[c.members[0].name]
		for name, l := range listings {
			if l != first {
				return false, fmt.Sprintf("%s lists %d keys, %s %d", c.members[0].name, strings.Count(first, "\n"), name, strings.Count(l, "\n"))
			}
		}
		return true, ""
	})
	t.Logf("%d keys on every member, %d acknowledged", strings.Count(listings[c.members[0].name], "\n"), len(acks))
}

// TestClusterNoQuorum checks that a leader without a quorum fails writes
// after -timeout instead of hanging, and takes them again once a member is
// back.
func TestClusterNoQuorum(t *testing.T) {
	c := startCluster(t, 3, "-timeout", "1s")
	leader := c.waitLeader(electionTimeout)
	before := leader.set("/noquorum/before", "with a quorum")
	for _, f := range c.others(leader) {
		f.crash()
	}

	for _, path := range []string{"/v1/keys/noquorum/during", "/v1/keys/noquorum/before?consistent=true"} {
		method, f := http.MethodPost, form("value", "without a quorum")
		if strings.Contains(path, "consistent") {
			method, f = http.MethodGet, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		r, err := leader.request(ctx, method, path, f)
		cancel()
		if err != nil {
			t.Fatalf("%s %s on the leader without a quorum: %v; want a 500 after -timeout 1s", method, path, err)
		}
		// 300 when the leader proposed it, 301 once it refuses to propose
		// for want of a quorum (TestErrorsTellWhetherAWriteWasProposed).
		code := 300
		if e, ok := errorOf(r); ok && e.ErrorCode == 301 {
			code = 301
		}
		expectError(t, r, http.StatusInternalServerError, code)
		if r.Elapsed > 3*time.Second {
			t.Fatalf("%v: answered after %v; want about -timeout 1s", r, r.Elapsed)
		}
		t.Logf("%s %s without a quorum: %d after %v", method, path, r.Status, r.Elapsed.Round(time.Millisecond))
	}
	// A plain read is still served from the leader's store.
	if e := leader.get("/noquorum/before"); e.Value != "with a quorum" {
		t.Fatalf("GET /noquorum/before without a quorum: %+v", e)
	}

	var restarted *node
	for _, m := range c.members {
		if !m.running() {
			restarted = m
			break
		}
	}
	restarted.restart()
	after := c.set("/noquorum/after", "quorum again")
	if after.Index <= before.Index {
		t.Fatalf("write after the quorum came back: index %d, not above %d", after.Index, before.Index)
	}
	testnode.WaitFor(t, 5*time.Second, restarted.name+" to have /noquorum/after", func() (bool, string) {
		status, body := restarted.peek("/v1/keys/noquorum/after")
		return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
	})
	if e := restarted.get("/noquorum/before"); e.Value != "with a quorum" {
		t.Fatalf("GET /noquorum/before on %s: %+v", restarted.name, e)
	}
}

// TestClusterSnapshotCatchUp stops a member while the others write enough
// to snapshot and compact their logs past it: it must catch up from the
// leader's snapshot.
func TestClusterSnapshotCatchUp(t *testing.T) {
	c := startCluster(t, 3, "-snapshotCount", "100")
	leader := c.waitLeader(electionTimeout)
	away := c.others(leader)[1]
	if snaps := snapshotNames(away); len(snaps) > 0 {
		t.Fatalf("%s has snapshots before it is stopped: %v", away.name, snaps)
	}
	away.stop()
	// The entries away lacks start after this one (raft indexes, which
	// writes that share an entry outrun).
	held := raftCommitIndex(t, leader)

	// One writer: concurrent writes share entries, and the log must grow
	// past the 200 entries a member keeps after its snapshot.
	acks := c.writeKeys("/snapcatch", 1, 600, nil, nil)
	if len(acks) < 600 {
		t.Fatalf("%d writes acknowledged, want 600", len(acks))
	}
	var minIndex, maxIndex uint64 = acks[0].index, 0
	for _, a := range acks {
		minIndex, maxIndex = min(minIndex, a.index), max(maxIndex, a.index)
	}
	// A member keeps 200 entries after its snapshot. Whichever member leads
	// when the stopped one comes back must have compacted away everything
	// that one lacks: wait until the logs of both running members (GET /log
	// on the peer port lists a member's log in memory) start after the
	// first entry it missed.
	snaps := map[string][]string{}
	for _, m := range c.running() {
		testnode.WaitFor(t, 15*time.Second, fmt.Sprintf("the log of %s to be compacted past index %d", m.name, held+1), func() (bool, string) {
			snaps[m.name] = snapshotNames(m)
			first := firstLogIndex(t, m)
			return first > held+1, fmt.Sprintf("first entry in the log %d, snapshots %v", first, snaps[m.name])
		})
	}

	away.restart()
	// Caught up before it serves: everything is there at once, and so is
	// the snapshot it was sent, named as on the member that sent it.
	received := snapshotNames(away)
	checkAcked(t, away, acks, false)
	sent := false
	for _, name := range received {
		for _, m := range c.others(away) {
			for _, s := range snapshotNames(m) {
				sent = sent || s == name
			}
		}
	}
	if !sent {
		t.Fatalf("%s caught up but has no snapshot of another member's in %s (it has %v; the others had %v)", away.name, filepath.Join(away.dataDir, "snapshot"), received, snaps)
	}
	// With the file holding its state, sent before goraft's message.
	stateFile(t, away, filepath.Join(away.dataDir, "snapshot", received[len(received)-1]))
	t.Logf("writes at indexes %d..%d; snapshots %v; %s received %v", minIndex, maxIndex, snaps, away.name, received)

	// And it goes on as a member.
	c.set("/snapcatch/after", "x")
	testnode.WaitFor(t, 5*time.Second, away.name+" to have /snapcatch/after", func() (bool, string) {
		status, body := away.peek("/v1/keys/snapcatch/after")
		return status == http.StatusOK && strings.Contains(body, `"value":"x"`), fmt.Sprintf("%d %s", status, body)
	})
	c.waitMembership(electionTimeout)
	// goraft leaves it in its snapshotting state, where it never campaigns.
	checkNoRedirectToSilentLeader(t, c, away)
}

// firstLogIndex is the index of the first entry in the member's log, as
// GET /log on its peer port lists it; 0 when the log is empty.
func firstLogIndex(t *testing.T, n *node) uint64 {
	t.Helper()
	var entries []struct {
		Index uint64 `json:"index"`
	}
	if err := json.Unmarshal([]byte(n.peerText("/log")), &entries); err != nil {
		t.Fatalf("GET /log on %s: %v", n.name, err)
	}
	if len(entries) == 0 {
		return 0
	}
	return entries[0].Index
}

// snapshotNames lists the snapshot files of a member, sorted.
func snapshotNames(n *node) []string {
	paths, _ := filepath.Glob(filepath.Join(n.dataDir, "snapshot", "*.ss"))
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = filepath.Base(p)
	}
	sort.Strings(names)
	return names
}

// TestClusterExpiryAcrossLeaderChange sets a key with a TTL and kills the
// leader at once: the next leader expires it, at one index on every member.
func TestClusterExpiryAcrossLeaderChange(t *testing.T) {
	c := startCluster(t, 3)
	old := c.waitLeader(electionTimeout)
	setAt := time.Now()
	set := old.set("/expiry/key", "short-lived", "ttl", "3")
	exp := checkTTL(t, "set ttl=3", set, 3, setAt, time.Now())
	old.crash()
	leader := c.waitLeader(electionTimeout)
	t.Logf("%s killed right after the set; %s leads after %v", old.name, leader.name, time.Since(setAt).Round(time.Millisecond))

	// The write was acknowledged: a consistent read finds it, through
	// any survivor, until it expires.
	survivors := c.others(nil)
	for _, m := range survivors {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		r, err := c.follow(ctx, m, http.MethodGet, "/v1/keys/expiry/key?consistent=true", nil)
		cancel()
		if err != nil {
			t.Fatalf("consistent GET /expiry/key through %s: %v", m.name, err)
		}
		if time.Now().Before(exp) {
			if e := expectEvent(t, r); e.Value != "short-lived" {
				t.Fatalf("consistent GET /expiry/key through %s before its expiration: %v", m.name, r)
			}
		}
	}

	// Every survivor shows the key (a plain read may lag a little behind
	// the new leader's commit), then loses it once it expired.
	var wg sync.WaitGroup
	seen := make([]time.Time, len(survivors))
	gone := make([]time.Time, len(survivors))
	for i, m := range survivors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := setAt.Add(6 * time.Second)
			for {
				status, body := m.peek("/v1/keys/expiry/key")
				now := time.Now()
				switch {
				case status == http.StatusOK && strings.Contains(body, `"value":"short-lived"`):
					if seen[i].IsZero() {
						seen[i] = now
					}
				case status == http.StatusNotFound && !seen[i].IsZero():
					gone[i] = now
					return
				case status == http.StatusNotFound && now.After(exp):
					t.Errorf("GET /expiry/key on %s: 404 at %v, but the key was never seen there before its expiration at %v", m.name, now.Format(time.StampMilli), exp.Format(time.StampMilli))
					return
				case status != http.StatusNotFound:
					t.Errorf("GET /expiry/key on %s: %d %s", m.name, status, body)
					return
				}
				if now.After(deadline) {
					t.Errorf("/expiry/key still on %s %v after it was set with ttl=3 (last: %d %s)", m.name, now.Sub(setAt).Round(time.Millisecond), status, body)
					return
				}
				time.Sleep(pollInterval)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for i, m := range survivors {
		if gone[i].Before(exp) {
			t.Fatalf("/expiry/key gone from %s at %v, before its expiration %v", m.name, gone[i].Format(time.StampMilli), exp.Format(time.StampMilli))
		}
		expectError(t, m.do(http.MethodGet, "/v1/keys/expiry/key", nil), http.StatusNotFound, 100)
		t.Logf("on %s from %v to %v after the set", m.name, seen[i].Sub(setAt).Round(time.Millisecond), gone[i].Sub(setAt).Round(time.Millisecond))
	}

	// One DELETE, at one index, on every member; the old leader too once
	// it is back.
	var deleted testnode.Event
	check := func(m *node) {
		t.Helper()
		e := expectEvent(t, awaitWatch(t, m.watch(context.Background(), "/expiry/key", form("index", fmt.Sprint(set.Index+1))), 2*time.Second, "watch from the set's index + 1 on "+m.name))
		if e.Action != "DELETE" || e.Key != "/expiry/key" || e.Index <= set.Index {
			t.Fatalf("watch from index %d on %s: %+v; want the DELETE of the expiry", set.Index+1, m.name, e)
		}
		if deleted.Index == 0 {
			deleted = e
		} else if e.Index != deleted.Index {
			t.Fatalf("the expiry is at index %d on %s but %d on another member", e.Index, m.name, deleted.Index)
		}
	}
	for _, m := range survivors {
		check(m)
	}
	old.restart()
	expectError(t, old.do(http.MethodGet, "/v1/keys/expiry/key", nil), http.StatusNotFound, 100)
	check(old)
}
