package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestWalkthrough follows the README of etcd v0.1 on a fresh node, checking
// every answer byte for byte where the SPEC gives its form.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	n := startNode(t, "walk")
	var last uint64 // the index of the last write: every write must pass it
	advance := func(what string, e testnode.Event) {
		t.Helper()
		if e.Index <= last {
			t.Fatalf("%s: index %d does not follow the previous write's %d", what, e.Index, last)
		}
		last = e.Index
	}
	exact := func(r *testnode.Response, format string, args ...any) {
		t.Helper()
		if want := fmt.Sprintf(format, args...); string(r.Body) != want {
			t.Fatalf("%s %s:\n got  %s\n want %s", r.Method, r.Path, r.Body, want)
		}
	}

	// Set a key.
	r := n.do(http.MethodPost, "/v1/keys/message", form("value", "Hello world"))
	e := expectEvent(t, r)
	sameEvent(t, "set /message", e, testnode.Event{Action: "SET", Key: "/message", Value: "Hello world", NewKey: true})
	advance("set /message", e)
	exact(r, `{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":%d}`, e.Index)

	// Get it: the index is the store's, which reads do not change.
	r = n.do(http.MethodGet, "/v1/keys/message", nil)
	e = expectEvent(t, r)
	exact(r, `{"action":"GET","key":"/message","value":"Hello world","index":%d}`, last)

	// Change it.
	r = n.do(http.MethodPost, "/v1/keys/message", form("value", "Hello etcd"))
	e = expectEvent(t, r)
	sameEvent(t, "change /message", e, testnode.Event{Action: "SET", Key: "/message", PrevValue: "Hello world", Value: "Hello etcd"})
	advance("change /message", e)
	exact(r, `{"action":"SET","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":%d}`, e.Index)

	// Delete it.
	r = n.do(http.MethodDelete, "/v1/keys/message", nil)
	e = expectEvent(t, r)
	sameEvent(t, "delete /message", e, testnode.Event{Action: "DELETE", Key: "/message", PrevValue: "Hello etcd"})
	advance("delete /message", e)
	exact(r, `{"action":"DELETE","key":"/message","prevValue":"Hello etcd","index":%d}`, e.Index)
	expectError(t, n.do(http.MethodGet, "/v1/keys/message", nil), http.StatusNotFound, 100)

	// A key with a TTL.
	before := time.Now()
	r = n.do(http.MethodPost, "/v1/keys/foo", form("value", "bar", "ttl", "5"))
	after := time.Now()
	e = expectEvent(t, r)
	sameEvent(t, "set /foo ttl=5", e, testnode.Event{Action: "SET", Key: "/foo", Value: "bar", NewKey: true})
	advance("set /foo ttl=5", e)
	expiration := checkTTL(t, "set /foo ttl=5", e, 5, before, after)
	exact(r, `{"action":"SET","key":"/foo","value":"bar","newKey":true,"expiration":"%s","ttl":%d,"index":%d}`, e.Expiration, e.TTL, e.Index)
	fooExpiration := e.Expiration

	r = n.do(http.MethodGet, "/v1/keys/foo", nil)
	e = expectEvent(t, r)
	if e.Expiration != fooExpiration || e.TTL < 1 || e.TTL > 5 {
		t.Fatalf("get /foo before expiry: %s; want expiration %s and ttl 1..5", r.Body, fooExpiration)
	}
	exact(r, `{"action":"GET","key":"/foo","value":"bar","expiration":"%s","ttl":%d,"index":%d}`, fooExpiration, e.TTL, last)

	// Wait for it to expire: gone within 8 s of the set, not before its time.
	deadline := before.Add(8 * time.Second)
	for {
		r = n.do(http.MethodGet, "/v1/keys/foo", nil)
		if r.Status == http.StatusNotFound {
			gone := time.Now()
			expectError(t, r, http.StatusNotFound, 100)
			if gone.Before(expiration.Add(-100 * time.Millisecond)) {
				t.Fatalf("/foo expired at %v, before its expiration %v", gone, expiration)
			}
			break
		}
		expectEvent(t, r)
		if time.Now().After(deadline) {
			t.Fatalf("/foo (ttl=5, expiration %v) still there 8 s after it was set: %v", expiration, r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The expiry is a write with an index of its own.
	last = expectEvent(t, n.do(http.MethodPost, "/v1/keys/probe", form("value", "x"))).Index

	// Watch a prefix, then write under it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	watchCh := n.watch(ctx, "/foo", nil)
	n.waitWatchers(1, 5*time.Second)
	setFooFoo := n.set("/foo/foo", "barbar")
	advance("set /foo/foo", setFooFoo)
	r = awaitWatch(t, watchCh, 5*time.Second, "GET /v1/watch/foo")
	e = expectEvent(t, r)
	exact(r, `{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":%d}`, setFooFoo.Index)

	// The same event again, from the history.
	start := time.Now()
	r = n.do(http.MethodPost, "/v1/watch/foo", form("index", fmt.Sprint(setFooFoo.Index)))
	expectEvent(t, r)
	exact(r, `{"action":"SET","key":"/foo/foo","value":"barbar","newKey":true,"index":%d}`, setFooFoo.Index)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("POST /v1/watch/foo index=%d took %v; a watch from history answers at once", setFooFoo.Index, d)
	}

	// Test and set.
	advance("set /testAndSet", n.set("/testAndSet", "one"))
	r = n.do(http.MethodPost, "/v1/keys/testAndSet", form("prevValue", "two", "value", "three"))
	te := expectError(t, r, http.StatusBadRequest, 101)
	if te.Cause != "TestAndSet: one!=two" {
		t.Fatalf("failed test-and-set cause %q, want %q", te.Cause, "TestAndSet: one!=two")
	}
	exact(r, `{"errorCode":101,"message":"The given PrevValue is not equal to the value of the key","cause":"TestAndSet: one!=two"}`)
	if got := n.get("/testAndSet").Value; got != "one" {
		t.Fatalf("a failed test-and-set changed the value to %q", got)
	}
	r = n.do(http.MethodPost, "/v1/keys/testAndSet", form("prevValue", "one", "value", "two"))
	e = expectEvent(t, r)
	sameEvent(t, "test-and-set one->two", e, testnode.Event{Action: "SET", Key: "/testAndSet", PrevValue: "one", Value: "two"})
	advance("test-and-set one->two", e)
	exact(r, `{"action":"SET","key":"/testAndSet","prevValue":"one","value":"two","index":%d}`, e.Index)

	// List a directory: direct children, sorted, sub-directories marked.
	advance("set /foo/foo_dir/foo", n.set("/foo/foo_dir/foo", "barbarbar"))
	r = n.do(http.MethodGet, "/v1/keys/foo/", nil)
	expectList(t, r)
	exact(r, `[{"action":"GET","key":"/foo/foo","value":"barbar","index":%d},{"action":"GET","key":"/foo/foo_dir","dir":true,"index":%d}]`, last, last)
	// The same without the trailing slash, and one level down.
	r2 := n.do(http.MethodGet, "/v1/keys/foo", nil)
	if string(r2.Body) != string(r.Body) {
		t.Fatalf("GET /v1/keys/foo = %s, GET /v1/keys/foo/ = %s; want the same listing", r2.Body, r.Body)
	}
	r = n.do(http.MethodGet, "/v1/keys/foo/foo_dir", nil)
	expectList(t, r)
	exact(r, `[{"action":"GET","key":"/foo/foo_dir/foo","value":"barbarbar","index":%d}]`, last)

	// The root, with etcd's own directory.
	r = n.do(http.MethodGet, "/v1/keys/", nil)
	expectList(t, r)
	exact(r, `[{"action":"GET","key":"/_etcd","dir":true,"index":%d},{"action":"GET","key":"/foo","dir":true,"index":%d},`+
		`{"action":"GET","key":"/probe","value":"x","index":%d},{"action":"GET","key":"/testAndSet","value":"two","index":%d}]`,
		last, last, last, last)

	// Machines and leader.
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", n.clientPort)
	raftURL := fmt.Sprintf("http://127.0.0.1:%d", n.raftPort)
	for _, path := range []string{"/machines", "/v1/machines"} {
		if got := n.text(path); got != clientURL {
			t.Fatalf("GET %s = %q, want %q", path, got, clientURL)
		}
	}
	for _, path := range []string{"/leader", "/v1/leader"} {
		if got := n.text(path); got != raftURL {
			t.Fatalf("GET %s = %q, want %q", path, got, raftURL)
		}
	}
	r = n.do(http.MethodGet, "/v1/keys/_etcd/machines", nil)
	members := expectList(t, r)
	if len(members) != 1 {
		t.Fatalf("GET /v1/keys/_etcd/machines: %d members, want 1: %s", len(members), r.Body)
	}
	m := members[0]
	valueRE := regexp.MustCompile(`^raft=` + regexp.QuoteMeta(raftURL) + `&etcd=` + regexp.QuoteMeta(clientURL) + `&raftVersion=(\S+)$`)
	match := valueRE.FindStringSubmatch(m.Value)
	if m.Action != "GET" || m.Key != "/_etcd/machines/walk" || m.Dir || match == nil || m.Index != last {
		t.Fatalf("member entry %+v; want key /_etcd/machines/walk, value matching %s, index %d", m, valueRE, last)
	}
	exact(r, `[{"action":"GET","key":"/_etcd/machines/walk","value":"raft=%s\u0026etcd=%s\u0026raftVersion=%s","index":%d}]`,
		raftURL, clientURL, match[1], last)
	if e := n.get("/_etcd/machines/walk"); e.Value != m.Value {
		t.Fatalf("GET /v1/keys/_etcd/machines/walk value %q, want %q", e.Value, m.Value)
	}

	// Version and stats.
	if v := n.text("/version"); !strings.HasPrefix(v, "etcd v") {
		t.Fatalf("GET /version = %q, want \"etcd v...\"", v)
	}
	self := expectJSONObject(t, n.do(http.MethodGet, "/v1/stats/self", nil))
	if self["name"] != "walk" {
		t.Fatalf("/v1/stats/self name = %v, want walk: %v", self["name"], self)
	}
	if self["state"] != "leader" {
		t.Fatalf("/v1/stats/self state = %v, want leader: %v", self["state"], self)
	}
	st := expectJSONObject(t, n.do(http.MethodGet, "/v1/stats/store", nil))
	for _, k := range []string{"gets", "sets", "deletes", "testAndSets", "watchers"} {
		if _, ok := st[k].(float64); !ok {
			t.Fatalf("/v1/stats/store has no numeric %q: %v", k, st)
		}
	}
	if st["testAndSetsFail"] != float64(1) {
		t.Fatalf("/v1/stats/store testAndSetsFail = %v, want 1 (one failed test-and-set): %v", st["testAndSetsFail"], st)
	}
	ls := expectJSONObject(t, n.do(http.MethodGet, "/v1/stats/leader", nil))
	if ls["leader"] != "walk" {
		t.Fatalf("/v1/stats/leader leader = %v, want walk: %v", ls["leader"], ls)
	}
}
