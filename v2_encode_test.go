package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/store"
)

// TestV2EventJSON: events go out as etcd 3.5 writes them, byte for byte
// (V2-API.md §5, §8): members in its order, a newline, Go's escaping, no
// value for directories nor in what a delete leaves, the root without key
// or indexes, ttl rounded up.
func TestV2EventJSON(t *testing.T) {
	exp := time.Date(2026, 12, 7, 20, 23, 20, 744076680, time.FixedZone("CET", 3600))
	file := func(key, value string, modified, created uint64) *store.NodeView {
		return &store.NodeView{Key: key, Value: value, ModifiedIndex: modified, CreatedIndex: created}
	}
	expiring := func(n *store.NodeView) *store.NodeView { n.Expiration = &exp; return n }
	dir := func(key string, modified, created uint64, nodes ...*store.NodeView) *store.NodeView {
		return &store.NodeView{Key: key, Dir: true, ModifiedIndex: modified, CreatedIndex: created, Nodes: nodes}
	}
	cases := []struct {
		section string
		event   store.V2Event
		now     time.Time
		noValue bool
		want    string
	}{
		{"§5 PUT new", store.V2Event{Action: "set", Node: file("/message", "Hello world", 4, 4)}, exp, false,
			`{"action":"set","node":{"key":"/message","value":"Hello world","modifiedIndex":4,"createdIndex":4}}`},
		{"§5 PUT replace", store.V2Event{Action: "set", Node: file("/message", "Hello etcd", 5, 5), PrevNode: file("/message", "Hello world", 4, 4)}, exp, false,
			`{"action":"set","node":{"key":"/message","value":"Hello etcd","modifiedIndex":5,"createdIndex":5},"prevNode":{"key":"/message","value":"Hello world","modifiedIndex":4,"createdIndex":4}}`},
		{"§5 DELETE: no value in node", store.V2Event{Action: "delete", Node: file("/message", "Hello etcd", 6, 5), PrevNode: file("/message", "Hello etcd", 5, 5)}, exp, false,
			`{"action":"delete","node":{"key":"/message","modifiedIndex":6,"createdIndex":5},"prevNode":{"key":"/message","value":"Hello etcd","modifiedIndex":5,"createdIndex":5}}`},
		{"§5 CAD", store.V2Event{Action: "compareAndDelete", Node: file("/k", "five", 29, 24), PrevNode: file("/k", "five", 28, 24)}, exp, false,
			`{"action":"compareAndDelete","node":{"key":"/k","modifiedIndex":29,"createdIndex":24},"prevNode":{"key":"/k","value":"five","modifiedIndex":28,"createdIndex":24}}`},
		{"§5 mkdir", store.V2Event{Action: "set", Node: dir("/dir", 11, 11)}, exp, false,
			`{"action":"set","node":{"key":"/dir","dir":true,"modifiedIndex":11,"createdIndex":11}}`},
		{"§5 rm -r dir", store.V2Event{Action: "delete", Node: dir("/dir", 18, 11), PrevNode: dir("/dir", 11, 11)}, exp, false,
			`{"action":"delete","node":{"key":"/dir","dir":true,"modifiedIndex":18,"createdIndex":11},"prevNode":{"key":"/dir","dir":true,"modifiedIndex":11,"createdIndex":11}}`},
		{"§5 empty root", store.V2Event{Action: "get", Node: dir("/", 0, 0)}, exp, false,
			`{"action":"get","node":{"dir":true}}`},
		{"§5 empty dir: no nodes", store.V2Event{Action: "get", Node: &store.NodeView{Key: "/d", Dir: true, Nodes: []*store.NodeView{}, ModifiedIndex: 3, CreatedIndex: 3}}, exp, false,
			`{"action":"get","node":{"key":"/d","dir":true,"modifiedIndex":3,"createdIndex":3}}`},
		{"§5 listing, nested", store.V2Event{Action: "get", Node: dir("/dir", 11, 11, file("/dir/a", "1", 12, 12), dir("/dir/sub", 13, 13, file("/dir/sub/c", "", 13, 13)))}, exp, false,
			`{"action":"get","node":{"key":"/dir","dir":true,"nodes":[{"key":"/dir/a","value":"1","modifiedIndex":12,"createdIndex":12},{"key":"/dir/sub","dir":true,"nodes":[{"key":"/dir/sub/c","value":"","modifiedIndex":13,"createdIndex":13}],"modifiedIndex":13,"createdIndex":13}],"modifiedIndex":11,"createdIndex":11}}`},
		{"§1 Go's escaping", store.V2Event{Action: "get", Node: file("/q", `héllo <&> "q"`, 7, 7)}, exp, false,
			`{"action":"get","node":{"key":"/q","value":"héllo \u003c\u0026\u003e \"q\"","modifiedIndex":7,"createdIndex":7}}`},
		{"§8 ttl 10 after 1.2 s is 9, expiration in UTC", store.V2Event{Action: "get", Node: expiring(file("/t", "v", 8, 8))}, exp.Add(-8800 * time.Millisecond), false,
			`{"action":"get","node":{"key":"/t","value":"v","expiration":"2026-12-07T19:23:20.74407668Z","ttl":9,"modifiedIndex":8,"createdIndex":8}}`},
		{"§8 ttl of whole seconds", store.V2Event{Action: "get", Node: expiring(file("/t", "v", 8, 8))}, exp.Add(-10 * time.Second), false,
			`{"action":"get","node":{"key":"/t","value":"v","expiration":"2026-12-07T19:23:20.74407668Z","ttl":10,"modifiedIndex":8,"createdIndex":8}}`},
		{"§8 under a second left rounds up to 1", store.V2Event{Action: "get", Node: expiring(file("/t", "v", 8, 8))}, exp.Add(-300 * time.Millisecond), false,
			`{"action":"get","node":{"key":"/t","value":"v","expiration":"2026-12-07T19:23:20.74407668Z","ttl":1,"modifiedIndex":8,"createdIndex":8}}`},
		{"§8 just past: ttl 0, absent", store.V2Event{Action: "set", Node: expiring(file("/t", "v", 8, 8))}, exp.Add(500 * time.Millisecond), false,
			`{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-12-07T19:23:20.74407668Z","modifiedIndex":8,"createdIndex":8}}`},
		{"§8 negative ttl", store.V2Event{Action: "set", Node: expiring(file("/t", "v", 8, 8))}, exp.Add(1500 * time.Millisecond), false,
			`{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-12-07T19:23:20.74407668Z","ttl":-1,"modifiedIndex":8,"createdIndex":8}}`},
		{"§8 expire", store.V2Event{Action: "expire", Node: expiring(file("/exp", "bye", 58, 57)), PrevNode: expiring(file("/exp", "bye", 57, 57))}, exp.Add(time.Millisecond), false,
			`{"action":"expire","node":{"key":"/exp","modifiedIndex":58,"createdIndex":57},"prevNode":{"key":"/exp","value":"bye","expiration":"2026-12-07T19:23:20.74407668Z","modifiedIndex":57,"createdIndex":57}}`},
		{"§3 noValueOnSuccess: set", store.V2Event{Action: "set", Node: file("/k", "1", 9, 9), PrevNode: file("/k", "0", 8, 8)}, exp, true, `{"action":"set"}`},
		{"§3 noValueOnSuccess: create", store.V2Event{Action: "create", Node: file("/k", "1", 9, 9)}, exp, true, `{"action":"create"}`},
		{"§3 noValueOnSuccess: update", store.V2Event{Action: "update", Node: file("/k", "1", 9, 8)}, exp, true, `{"action":"update"}`},
		{"§3 noValueOnSuccess: compareAndSwap", store.V2Event{Action: "compareAndSwap", Node: file("/k", "1", 9, 8)}, exp, true, `{"action":"compareAndSwap"}`},
		{"§3 noValueOnSuccess: not get", store.V2Event{Action: "get", Node: file("/k", "1", 9, 8)}, exp, true,
			`{"action":"get","node":{"key":"/k","value":"1","modifiedIndex":9,"createdIndex":8}}`},
		{"§3 noValueOnSuccess: not delete", store.V2Event{Action: "delete", Node: file("/k", "1", 9, 8)}, exp, true,
			`{"action":"delete","node":{"key":"/k","modifiedIndex":9,"createdIndex":8}}`},
	}
	for _, c := range cases {
		got, err := encodeV2Event(&c.event, c.now, c.noValue)
		if err != nil || string(got) != c.want+"\n" {
			t.Errorf("%s: %q (%v), want %q", c.section, got, err, c.want+"\n")
		}
	}
}

// TestV2Statuses: 201 for a create, and for a set with no previous node;
// 200 otherwise (V2-API.md §4).
func TestV2Statuses(t *testing.T) {
	for _, c := range []struct {
		action  string
		hadPrev bool
		created bool
	}{
		{"create", false, true}, {"set", false, true}, {"set", true, false}, {"update", true, false},
		{"compareAndSwap", true, false}, {"delete", true, false}, {"get", false, false},
	} {
		if got := v2ActionCreates(c.action, c.hadPrev); got != c.created {
			t.Errorf("%s (previous node: %v): 201 %v, want %v", c.action, c.hadPrev, got, c.created)
		}
	}
}

// TestV2CommandOps: the write a request makes, as etcd chooses it
// (V2-API.md §4, §7, §10), and its way through the log with the time it
// was accepted at, alone and in a batch, as a batch of the code before v2
// still decodes.
func TestV2CommandOps(t *testing.T) {
	now := time.Date(2026, 12, 7, 20, 0, 0, 0, time.UTC)
	cases := []struct {
		method, query string
		op            store.Op
	}{
		{"PUT", "value=1", store.OpV2Set},
		{"PUT", "value=1&prevIndex=0", store.OpV2Set},
		{"PUT", "prevExist=false&prevValue=x&prevIndex=3", store.OpV2Create},
		{"PUT", "prevExist=true", store.OpV2Update},
		{"PUT", "prevExist=true&prevIndex=3", store.OpV2CompareAndSwap},
		{"PUT", "prevValue=x", store.OpV2CompareAndSwap},
		{"PUT", "prevIndex=3", store.OpV2CompareAndSwap},
		{"POST", "prevExist=false&prevValue=x", store.OpV2CreateInOrder},
		{"DELETE", "recursive=true", store.OpV2Delete},
		{"DELETE", "prevValue=x", store.OpV2CompareAndDelete},
		{"DELETE", "prevIndex=2", store.OpV2CompareAndDelete},
	}
	for _, c := range cases {
		r, _ := http.NewRequest(c.method, "http://h/v2/keys/a/?"+c.query, nil)
		req, bad := parseV2Request(nil, r, 100, 100, now)
		if bad != nil {
			t.Fatalf("%s %s: %v", c.method, c.query, bad)
		}
		cmd := req.command()
		logged, err := json.Marshal(&BatchCommand{Writes: []batchedWrite{cmd.inBatch()}})
		if err != nil {
			t.Fatal(err)
		}
		var read BatchCommand
		if err := json.Unmarshal(logged, &read); err != nil || len(read.Writes) != 1 {
			t.Fatalf("%s %s: the batch %s does not decode: %v", c.method, c.query, logged, err)
		}
		for _, w := range []store.Write{cmd.storeWrite(), read.Writes[0].storeWrite()} {
			if w.Op != c.op || w.Key != "/a" || !w.At.Equal(now) {
				t.Errorf("%s %s: op %d on %q at %v, want %d on /a at %v", c.method, c.query, w.Op, w.Key, w.At, c.op, now)
			}
		}
	}

	// A ttl is stamped here; 2^64-1 seconds wraps into the past (§8).
	form := url.Values{"value": {"v"}, "ttl": {"18446744073709551615"}, "dir": {"true"}, "refresh": {"false"}}
	r, _ := http.NewRequest("PUT", "http://h/v2/keys/k?"+form.Encode(), nil)
	req, bad := parseV2Request(nil, r, 100, 100, now)
	if bad != nil {
		t.Fatal(bad)
	}
	w := req.command().storeWrite()
	if !w.Expiration.Equal(now.Add(-time.Second)) || !w.V2.Dir || w.Value != "v" {
		t.Errorf("PUT %s: %+v, want expiration %v and a dir", form.Encode(), w, now.Add(-time.Second))
	}

	old := `{"writes":[{"set":{"key":"/a","value":"1"}},{"delete":{"key":"/b"}}]}`
	var read BatchCommand
	if err := json.Unmarshal([]byte(old), &read); err != nil || len(read.Writes) != 2 ||
		read.Writes[0].storeWrite().Op != store.OpSet || read.Writes[1].storeWrite().Op != store.OpDelete {
		t.Errorf("a batch from before v2 %s: %+v, %v", old, read, err)
	}
	if w := (batchedWrite{V2: &V2Command{Op: "no such op", Key: "/a"}}).storeWrite(); w.Op != 0 {
		t.Errorf("an unknown v2 op gives %+v, want the empty write the store refuses", w)
	}
}
