package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/raftguard"
	"github.com/etcd-recreation/etcd/internal/testnode"
	"github.com/etcd-recreation/etcd/store"
)

// exchange sends method path to n's client port and returns the answer
// with its whole body.
func exchange(t *testing.T, n *testNode, method, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, n.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, string(body)
}

// expectAnswer checks an answer's status, Content-Type and whole body.
func expectAnswer(t *testing.T, n *testNode, method, path string, status int, contentType, body string) *http.Response {
	t.Helper()
	resp, got := exchange(t, n, method, path)
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != contentType || got != body {
		t.Fatalf("%s %s on %s: HTTP %d %q %q, want %d %q %q", method, path, n.e.cfg.Name,
			resp.StatusCode, resp.Header.Get("Content-Type"), got, status, contentType, body)
	}
	return resp
}

// objectKeys are the keys of a JSON object in the order they are written.
func objectKeys(t *testing.T, body string) []string {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("%q: %v", body, err)
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.Token() // {
	var keys []string
	for dec.More() {
		key, _ := dec.Token()
		keys = append(keys, key.(string))
		var skip json.RawMessage
		dec.Decode(&skip)
	}
	return keys
}

type v2MembersBody struct {
	Members []v2Member `json:"members"`
}

var hexID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestV2ClusterRoutes: /v2/machines, /v2/members, /v2/members/leader,
// /v2/stats/*, /health and /version answer as etcd 2 does, with the same
// member ids everywhere, and every member agrees.
func TestV2ClusterRoutes(t *testing.T) {
	nodes := threeNodes(t, []string{"-election", "500ms", "-heartbeat", "100ms"})
	leader, follower := nodes[0], nodes[1]
	clusterID, _ := leader.e.raft.identity.Identity()
	ids := map[string]string{}

	// Members: the same list on every member, ordered by id, with the
	// cluster identity.
	var members string
	for _, n := range nodes {
		resp, body := exchange(t, n, http.MethodGet, "/v2/members")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !strings.HasSuffix(body, "}\n") {
			t.Fatalf("GET /v2/members on %s: HTTP %d %q %q", n.e.cfg.Name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		if got := resp.Header.Get(raftguard.IdentityHeader); got != clusterID.String() {
			t.Fatalf("GET /v2/members: X-Etcd-Cluster-ID %q, want %q", got, clusterID)
		}
		if members != "" && body != members {
			t.Fatalf("GET /v2/members: %s answers %q, node1 %q", n.e.cfg.Name, body, members)
		}
		members = body
	}
	var list v2MembersBody
	if err := testnode.DecodeStrict([]byte(members), &list); err != nil || len(list.Members) != 3 {
		t.Fatalf("GET /v2/members: %q (%v), want three members", members, err)
	}
	for i, m := range list.Members {
		n := map[string]*testNode{"node1": nodes[0], "node2": nodes[1], "node3": nodes[2]}[m.Name]
		if n == nil || !hexID.MatchString(m.ID) || (i > 0 && m.ID <= list.Members[i-1].ID) ||
			!reflect.DeepEqual(m.PeerURLs, []string{n.e.cfg.RaftURL()}) || !reflect.DeepEqual(m.ClientURLs, []string{n.e.cfg.ClientURL()}) {
			t.Fatalf("GET /v2/members: member %d is %+v in %q", i, m, members)
		}
		ids[m.Name] = m.ID
	}
	leaderMember, _ := json.Marshal(v2Member{ID: ids["node1"], Name: "node1", PeerURLs: []string{leader.e.cfg.RaftURL()}, ClientURLs: []string{leader.e.cfg.ClientURL()}})
	expectAnswer(t, follower, http.MethodGet, "/v2/members/leader", http.StatusOK, "application/json", string(leaderMember)+"\n")

	// Membership goes through -C and the peer port.
	for _, change := range []struct{ method, path, allow string }{
		{http.MethodPost, "/v2/members", "GET"},
		{http.MethodDelete, "/v2/members/" + ids["node3"], ""},
		{http.MethodPut, "/v2/members/" + ids["node3"], ""},
	} {
		resp, body := exchange(t, leader, change.method, change.path)
		var msg v2Message
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != change.allow || testnode.DecodeStrict([]byte(body), &msg) != nil ||
			!strings.Contains(msg.Message, "-C") || resp.Header.Get(raftguard.IdentityHeader) != clusterID.String() {
			t.Fatalf("%s %s: HTTP %d Allow %q %q, want 405 Allow %q with a message on how members change", change.method, change.path,
				resp.StatusCode, resp.Header.Get("Allow"), body, change.allow)
		}
	}

	resp := expectAnswer(t, leader, http.MethodHead, "/v2/members", http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "")
	if resp.Header.Get("Allow") != "GET" || resp.Header.Get(raftguard.IdentityHeader) != clusterID.String() {
		t.Fatalf("HEAD /v2/members: Allow %q, cluster id %q", resp.Header.Get("Allow"), resp.Header.Get(raftguard.IdentityHeader))
	}

	// Machines: the leader first, on every member, as v1's.
	machines := strings.Join([]string{leader.e.cfg.ClientURL(), nodes[1].e.cfg.ClientURL(), nodes[2].e.cfg.ClientURL()}, ", ")
	for _, n := range nodes {
		expectAnswer(t, n, http.MethodGet, "/v2/machines", http.StatusOK, "text/plain; charset=utf-8", machines)
	}
	expectAnswer(t, follower, http.MethodHead, "/v2/machines", http.StatusOK, "text/plain; charset=utf-8", "")

	// Stats: ids that match /v2/members.
	for _, n := range nodes {
		_, body := exchange(t, n, http.MethodGet, "/v2/stats/self")
		var self v2SelfStats
		if err := testnode.DecodeStrict([]byte(body), &self); err != nil {
			t.Fatalf("GET /v2/stats/self: %q: %v", body, err)
		}
		state := map[bool]string{true: "StateLeader", false: "StateFollower"}[n == leader]
		if self.Name != n.e.cfg.Name || self.ID != ids[self.Name] || self.State != state || self.LeaderInfo.Leader != ids["node1"] ||
			!strings.HasSuffix(self.StartTime, "Z") || !strings.HasSuffix(self.LeaderInfo.StartTime, "Z") {
			t.Fatalf("GET /v2/stats/self on %s: %q, want id %s, %s, leader %s", n.e.cfg.Name, body, ids[n.e.cfg.Name], state, ids["node1"])
		}
		keys := strings.Join(objectKeys(t, body), ",")
		if !strings.HasPrefix(keys, "name,id,state,startTime,leaderInfo,recvAppendRequestCnt,") {
			t.Fatalf("GET /v2/stats/self: fields in the order %s", keys)
		}
	}
	_, body := exchange(t, leader, http.MethodGet, "/v2/stats/leader")
	var leaderStats v2LeaderStats
	if err := testnode.DecodeStrict([]byte(body), &leaderStats); err != nil || leaderStats.Leader != ids["node1"] || len(leaderStats.Followers) != 2 {
		t.Fatalf("GET /v2/stats/leader: %q (%v)", body, err)
	}
	for _, name := range []string{"node2", "node3"} {
		if _, ok := leaderStats.Followers[ids[name]]; !ok {
			t.Fatalf("GET /v2/stats/leader: %q has no follower %s (%s)", body, ids[name], name)
		}
	}
	expectAnswer(t, follower, http.MethodGet, "/v2/stats/leader", http.StatusForbidden, "application/json", `{"message":"not current leader"}`)

	follower.set("counted", "1")
	waitFor(t, 5*time.Second, "node2 to apply its write", func() bool { return storeValue(follower, "/counted") == "1" })
	follower.do(http.MethodGet, "/v1/keys/counted", nil)
	_, body = exchange(t, follower, http.MethodGet, "/v2/stats/store")
	var storeStats v2StoreStats
	if err := testnode.DecodeStrict([]byte(body), &storeStats); err != nil || storeStats.SetsSuccess == 0 || storeStats.GetsSuccess == 0 {
		t.Fatalf("GET /v2/stats/store: %q (%v), want a set and a get counted", body, err)
	}
	wantOrder := "getsSuccess,getsFail,setsSuccess,setsFail,deleteSuccess,deleteFail,updateSuccess,updateFail,createSuccess,createFail," +
		"compareAndSwapSuccess,compareAndSwapFail,compareAndDeleteSuccess,compareAndDeleteFail,expireCount,watchers"
	if keys := strings.Join(objectKeys(t, body), ","); keys != wantOrder {
		t.Fatalf("GET /v2/stats/store: fields %s, want %s", keys, wantOrder)
	}

	// Version: v1's text, unless etcd 2's Go client asks.
	expectAnswer(t, follower, http.MethodGet, "/version", http.StatusOK, "text/plain; charset=utf-8", "etcd "+releaseVersion)
	expectAnswer(t, follower, http.MethodGet, "/version?quorum=false&recursive=false", http.StatusOK, "text/plain; charset=utf-8", "etcd "+releaseVersion)
	expectAnswer(t, follower, http.MethodGet, "/version?quorum=false&recursive=false&sorted=false", http.StatusOK, "application/json",
		`{"etcdserver":"2.3.8","etcdcluster":"2.3.0"}`)

	// 405s as etcd 2's.
	for path, allow := range map[string]string{"/v2/machines": "GET,HEAD", "/v2/stats/self": "GET", "/v2/stats/leader": "GET", "/v2/stats/store": "GET",
		"/health": "GET", "/v2/members/leader": "GET"} {
		resp := expectAnswer(t, follower, http.MethodPost, path, http.StatusMethodNotAllowed, "text/plain; charset=utf-8", "Method Not Allowed\n")
		if got := resp.Header.Get("Allow"); got != allow {
			t.Fatalf("POST %s: Allow %q, want %q", path, got, allow)
		}
	}

	// Health: healthy with a leader; not without one.
	for _, n := range nodes {
		expectAnswer(t, n, http.MethodGet, "/health", http.StatusOK, "text/plain; charset=utf-8", `{"health":"true","reason":""}`)
	}
	for _, n := range []*testNode{nodes[2], leader} {
		n.e.stop()
		n.e = nil
	}
	waitFor(t, 10*time.Second, "node2 to see it has no leader", func() bool {
		resp, _ := exchange(t, follower, http.MethodGet, "/health")
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	expectAnswer(t, follower, http.MethodGet, "/health", http.StatusServiceUnavailable, "text/plain; charset=utf-8", `{"health":"false","reason":"RAFT NO LEADER"}`)
	expectAnswer(t, follower, http.MethodGet, "/v2/members/leader", http.StatusServiceUnavailable, "application/json", `{"message":"During election"}`)
}

// TestMemberIDRule: a member's id depends on its name and its cluster
// only, and is the same in every version: clients keep ids.
func TestMemberIDRule(t *testing.T) {
	a := memberID(raftguard.Identity(0xa29272c1cfb9c105), "node1")
	if a != "102bc8384ec79c65" {
		t.Fatalf("memberID(a29272c1cfb9c105, node1) = %s; the rule changed", a)
	}
	for _, other := range []string{memberID(raftguard.Identity(0xa29272c1cfb9c105), "node2"), memberID(raftguard.Identity(0xa29272c1cfb9c106), "node1")} {
		if other == a || !hexID.MatchString(other) {
			t.Fatalf("ids %s and %s", a, other)
		}
	}
}

// TestStoreStatsV2: v1's counters count as v2's: totals become successes.
func TestStoreStatsV2(t *testing.T) {
	got := storeStatsV2(store.Stats{Gets: 5, GetsFail: 2, Sets: 4, SetsFail: 1, Deletes: 3, DeletesFail: 1, TestAndSets: 7, TestAndSetsFail: 3, Expires: 6, Watchers: 2})
	want := v2StoreStats{GetsSuccess: 3, GetsFail: 2, SetsSuccess: 3, SetsFail: 1, DeleteSuccess: 2, DeleteFail: 1,
		CompareAndSwapSuccess: 4, CompareAndSwapFail: 3, ExpireCount: 6, Watchers: 2}
	if got != want {
		t.Fatalf("storeStatsV2: %+v, want %+v", got, want)
	}
	b, _ := json.Marshal(got)
	if !bytes.HasPrefix(b, []byte(`{"getsSuccess":3,"getsFail":2,`)) {
		t.Fatalf("%s", b)
	}
}

// checkV2ClusterAnswer checks an answer of a v2 cluster route, or the JSON
// of /version, as FuzzClientAPI does the others': etcd 2's 405s are text,
// and its successes need not be response objects. It reports false for
// any other answer.
func checkV2ClusterAnswer(method, path string, status int, header http.Header, body []byte) (string, bool) {
	contentType := header.Get("Content-Type")
	switch path {
	case "/version":
		if contentType != "application/json" {
			return "", false
		}
	case "/v2/machines", "/health", "/v2/members", "/v2/stats/self", "/v2/stats/leader", "/v2/stats/store":
	default:
		if !strings.HasPrefix(path, "/v2/members/") {
			return "", false
		}
	}
	switch {
	case status == http.StatusMethodNotAllowed:
		if _, ok := header["Allow"]; !ok {
			return "a 405 without Allow", true
		}
		return "", true
	case method == http.MethodHead:
		return "", true
	case path == "/v2/machines":
		if status != http.StatusOK || contentType != "text/plain; charset=utf-8" {
			return "want a text success", true
		}
		return checkTextAnswer(path, string(body)), true
	case !json.Valid(body):
		return "not JSON", true
	}
	return "", true
}
