package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// removeMember sends DELETE /remove/NAME to via's peer port, following a
// follower's redirect to the leader as curl -L does, and returns the answer.
func removeMember(t *testing.T, via *node, name string) *testnode.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*requestTimeout)
	defer cancel()
	target := via.raftURL("/remove/" + name)
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := via.send(req)
		if err != nil {
			t.Fatalf("DELETE %s: %v", target, err)
		}
		if r.Status != http.StatusTemporaryRedirect {
			return r
		}
		target = r.Header.Get("Location")
	}
	t.Fatalf("DELETE /remove/%s: redirected more than twice", name)
	return nil
}

// machineNames lists the names under /_etcd/machines as n sees them.
func machineNames(t *testing.T, n *node) []string {
	t.Helper()
	var names []string
	for _, e := range expectList(t, n.do(http.MethodGet, "/v1/keys/_etcd/machines", nil)) {
		names = append(names, filepath.Base(e.Key))
	}
	return names
}

// waitMachines waits until every running member lists exactly want.
func (c *cluster) waitMachines(want ...string) {
	c.t.Helper()
	testnode.WaitFor(c.t, readyTimeout, fmt.Sprintf("every running member to list the machines %v", want), func() (bool, string) {
		var states []string
		ok := true
		for _, m := range c.running() {
			status, body := m.peek("/v1/keys/_etcd/machines")
			states = append(states, fmt.Sprintf("%s: %d %s", m.name, status, body))
			if status != http.StatusOK {
				ok = false
				continue
			}
			for _, name := range want {
				ok = ok && strings.Contains(body, `"/_etcd/machines/`+name+`"`)
			}
			ok = ok && strings.Count(body, `"/_etcd/machines/`) == len(want)
		}
		return ok, strings.Join(states, "; ")
	})
}

// expectStoppedByRemoval waits for n to exit by itself, with status 0 and
// the log line that says why.
func expectStoppedByRemoval(t *testing.T, n *node) {
	t.Helper()
	if code := n.waitExit(exitTimeout); code != 0 {
		t.Fatalf("%s exited with status %d after its removal, want 0; log ends: %s", n.name, code, n.lastLogLine())
	}
	if !strings.Contains(n.log.String(), "was removed from the cluster; this node stops") {
		t.Fatalf("%s stopped without saying it was removed; log ends: %s", n.name, n.lastLogLine())
	}
}

// TestClusterRemoveAndReadd removes a member while it runs and while it is
// down, and lets it join again each way: restarted over its old data
// directory as it was, and with -f. The removed member stops by itself with
// status 0; the others keep a quorum without it; a member that replays an
// old removal of itself followed by its rejoin does not stop.
func TestClusterRemoveAndReadd(t *testing.T) {
	c := startCluster(t, 3)
	n3 := c.members[2]
	follower := c.others(c.waitLeader(electionTimeout))[0]
	if follower == n3 {
		follower = c.others(c.waitLeader(electionTimeout))[1]
	}

	// Running: through a follower, which redirects to the leader.
	r := removeMember(t, follower, "node3")
	e := expectEvent(t, r)
	if e.Action != "DELETE" || e.Key != "/_etcd/machines/node3" || e.Index == 0 {
		t.Fatalf("remove answered %+v, want the DELETE of /_etcd/machines/node3 with its index", e)
	}
	expectStoppedByRemoval(t, n3)
	c.waitMachines("node1", "node2")
	c.set("/after/first", "1")
	if r := removeMember(t, follower, "node3"); r.Status != http.StatusNotFound {
		t.Fatalf("second remove of node3: %v, want 404", r)
	} else {
		expectError(t, r, http.StatusNotFound, 100)
	}

	// Restarted over its data directory as it was: its log holds its
	// removal, so it asks to join again.
	n3.restart()
	c.waitMachines("node1", "node2", "node3")
	if got := n3.get("/after/first"); got.Value != "1" {
		t.Fatalf("node3 after rejoining: %+v", got)
	}

	// Restarted again: it replays its old removal and its rejoin, and stays.
	n3.stop()
	n3.restart()
	c.set("/after/restart", "2")
	c.waitMachines("node1", "node2", "node3")
	if !n3.running() {
		t.Fatal("node3 stopped after replaying an old removal of itself")
	}

	// Down: the quorum shrinks with it, and it learns of its removal only
	// when it asks to join again.
	n3.crash()
	expectEvent(t, removeMember(t, c.members[0], "node3"))
	c.waitMachines("node1", "node2")
	c.set("/after/down", "3")
	n3.restart()
	c.waitMachines("node1", "node2", "node3")
	if got := n3.get("/after/down"); got.Value != "3" {
		t.Fatalf("node3 after rejoining: %+v", got)
	}

	// Running again, then back with -f over its data directory.
	expectEvent(t, removeMember(t, c.members[0], "node3"))
	expectStoppedByRemoval(t, n3)
	n3.restart("-f")
	c.waitMachines("node1", "node2", "node3")
	c.set("/after/fresh", "4")
	for _, m := range c.members {
		testnode.WaitFor(t, readyTimeout, m.name+" to hold the last write", func() (bool, string) {
			status, body := m.peek("/v1/keys/after/fresh")
			return status == http.StatusOK && strings.Contains(body, `"value":"4"`), body
		})
	}
}

// TestClusterRemoveRefusesTheLastMember: a lone member cannot be removed,
// an unknown name is error 100, and only DELETE is taken.
func TestClusterRemoveRefusesTheLastMember(t *testing.T) {
	n := startNode(t, "solo")
	expectError(t, removeMember(t, n, "solo"), http.StatusBadRequest, 209)
	expectError(t, removeMember(t, n, "nobody"), http.StatusNotFound, 100)
	req, err := http.NewRequest(http.MethodPost, n.raftURL("/remove/solo"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := n.send(req); err != nil || r.Status != http.StatusMethodNotAllowed {
		t.Fatalf("POST /remove/solo: %v %v, want 405", r, err)
	}
	if !slices.Contains(machineNames(t, n), "solo") {
		t.Fatal("the refused remove took the member out")
	}
}

// TestClusterLeaderDiesRightAfterAJoin kills the leader of two members the
// moment a third one's join is answered. The heartbeat is slowed down so
// that the follower would hear of the join's commit only well after that:
// the answer must wait until it has applied the join, or the follower
// still counts the old membership, needs the dead leader's vote, and no
// leader is ever elected.
func TestClusterLeaderDiesRightAfterAJoin(t *testing.T) {
	c := newCluster(t, "-heartbeat", "200ms", "-election", "2s")
	n1 := c.add("node1")
	c.add("node2", "-C", n1.raftAddr())
	leader := c.waitLeader(readyTimeout)
	n3 := newNode(t, "node3", freePort(t), freePort(t), filepath.Join(c.base, "node3.etcd"), c.base,
		append(append([]string{}, c.flags...), "-C", n1.raftAddr())...)
	c.members = append(c.members, n3)
	n3.start()
	deadline := time.Now().Add(readyTimeout)
	for !strings.Contains(n3.log.String(), "joined the cluster") {
		if time.Now().After(deadline) || !n3.running() {
			t.Fatalf("node3's join was not answered; its log ends: %s", n3.lastLogLine())
		}
		time.Sleep(time.Millisecond)
	}
	leader.crash()
	c.waitLeader(30 * time.Second)
	n3.mustBeReady()
	c.set("/after/join", "1")
}

// TestMembersStartedTogetherAreAllAdmitted: five members started at the
// same moment, four with -C pointing at the first, as the README starts
// its cluster. Each newcomer counted as silent until it first answered, so
// the leader refused the next joins ("has not heard from a majority") and
// the joiners retried a second later; with the leader killed a second after
// it answered, they ran out of -r and the others never elected a leader.
// A member counts from its admission: all are admitted at once, and the
// four that remain elect a leader.
func TestMembersStartedTogetherAreAllAdmitted(t *testing.T) {
	c := newCluster(t)
	ports := make([][2]int, 5)
	for i := range ports {
		ports[i] = [2]int{freePort(t), freePort(t)}
	}
	firstRaft := fmt.Sprintf("127.0.0.1:%d", ports[0][1])
	for i := range ports {
		name := fmt.Sprintf("node%d", i+1)
		var flags []string
		if i > 0 {
			flags = []string{"-C", firstRaft}
		}
		n := newNode(t, name, ports[i][0], ports[i][1], filepath.Join(c.base, name+".etcd"), c.base, flags...)
		c.members = append(c.members, n)
	}
	for _, m := range c.members {
		m.start()
	}
	first := c.members[0]
	first.mustBeReady()
	deadline := time.Now().Add(time.Second)
	testnode.WaitFor(t, time.Second, "every member to be admitted within a second of the first one answering", func() (bool, string) {
		names := machineNames(t, first)
		return len(names) == 5, fmt.Sprintf("the first lists %v", names)
	})
	time.Sleep(time.Until(deadline))
	first.crash()
	for _, m := range c.members[1:] {
		m.mustBeReady()
		if strings.Contains(m.log.String(), "has not heard from a majority") {
			t.Errorf("%s was refused for want of a quorum while joining", m.name)
		}
	}
	leader := c.waitLeader(electionTimeout)
	if leader == first {
		t.Fatal("the killed member is still named leader")
	}
}

// TestRedirectsKeepEscapedNames: a member name or a key that holds
// characters a URL escapes (? # %) reaches the leader as it was sent. A
// follower's redirect of DELETE /remove/node2%3Fnot-a-member once pointed
// at /remove/node2?not-a-member, and following it removed node2.
func TestRedirectsKeepEscapedNames(t *testing.T) {
	c := startCluster(t, 3)
	leader := c.waitLeader(electionTimeout)
	follower := c.others(leader)[0]

	const remove = "/remove/node2%3Fnot-a-member"
	req, err := http.NewRequest(http.MethodDelete, follower.raftURL(remove), nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := follower.send(req)
	if err != nil {
		t.Fatalf("DELETE %s: %v", remove, err)
	}
	if loc := r.Header.Get("Location"); r.Status != http.StatusTemporaryRedirect || loc != leader.raftURL(remove) {
		t.Fatalf("DELETE %s on a follower: %v, Location %q; want 307 to %q", remove, r, loc, leader.raftURL(remove))
	}
	expectError(t, removeMember(t, follower, "node2%3Fnot-a-member"), http.StatusNotFound, 100)
	if names := machineNames(t, leader); !slices.Equal(names, []string{"node1", "node2", "node3"}) {
		t.Fatalf("members after removing a name that is none: %v", names)
	}

	for key, stored := range map[string]string{"/a%3Fb": "/a?b", "/c%23d": "/c#d", "/e%25f": "/e%f"} {
		path := "/v1/keys" + key
		r := follower.do(http.MethodPost, path, form("value", "v"))
		if loc := r.Header.Get("Location"); r.Status != http.StatusTemporaryRedirect || loc != leader.url(path) {
			t.Fatalf("POST %s on a follower: %v, Location %q; want 307 to %q", path, r, loc, leader.url(path))
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		r, err := c.follow(ctx, follower, http.MethodPost, path, form("value", "v"))
		cancel()
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		if e := expectEvent(t, r); e.Key != stored {
			t.Fatalf("POST %s set %q, want %q", path, e.Key, stored)
		}
		unclean := "/v1/keys/" + key
		r = follower.do(http.MethodGet, unclean, nil)
		if loc := r.Header.Get("Location"); r.Status != http.StatusMovedPermanently || loc != path {
			t.Fatalf("GET %s: %v, Location %q; want 301 to %q", unclean, r, loc, path)
		}
	}
}
