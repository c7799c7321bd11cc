package store

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
)

// viewJSON renders a NodeView in the v2 API's member order (V2-API.md §5),
// for tests to compare; empty members are left out, the value too.
type viewJSON struct {
	Key           string      `json:"key,omitempty"`
	Value         string      `json:"value,omitempty"`
	Dir           bool        `json:"dir,omitempty"`
	Expiration    *time.Time  `json:"expiration,omitempty"`
	Nodes         []*viewJSON `json:"nodes,omitempty"`
	ModifiedIndex uint64      `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64      `json:"createdIndex,omitempty"`
}

func toViewJSON(v *NodeView) *viewJSON {
	if v == nil {
		return nil
	}
	j := &viewJSON{Key: v.Key, Value: v.Value, Dir: v.Dir, Expiration: v.Expiration, ModifiedIndex: v.ModifiedIndex, CreatedIndex: v.CreatedIndex}
	for _, child := range v.Nodes {
		j.Nodes = append(j.Nodes, toViewJSON(child))
	}
	return j
}

// v2JSON renders e's v2 view, "null" for no event and "no v2 view" for an
// event without one.
func v2JSON(t *testing.T, e *Event) string {
	t.Helper()
	switch {
	case e == nil:
		return "null"
	case e.V2 == nil:
		return "no v2 view"
	}
	b, err := json.Marshal(struct {
		Action   string    `json:"action"`
		Node     *viewJSON `json:"node,omitempty"`
		PrevNode *viewJSON `json:"prevNode,omitempty"`
	}{e.V2.Action, toViewJSON(e.V2.Node), toViewJSON(e.V2.PrevNode)})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Writes of the v2 API, as the HTTP layer makes them from its parameters.
func v2Set(key, value string) Write { return Write{Op: OpV2Set, Key: key, Value: value} }
func v2SetTTL(key, value string, exp time.Time) Write {
	return Write{Op: OpV2Set, Key: key, Value: value, Expiration: exp}
}
func v2Mkdir(key string) Write { return Write{Op: OpV2Set, Key: key, V2: V2Write{Dir: true}} }
func v2MkdirTTL(key string, exp time.Time) Write {
	return Write{Op: OpV2Set, Key: key, Expiration: exp, V2: V2Write{Dir: true}}
}
func v2Create(key, value string) Write { return Write{Op: OpV2Create, Key: key, Value: value} }
func v2Update(key, value string) Write { return Write{Op: OpV2Update, Key: key, Value: value} }
func v2CAS(key, prevValue string, prevIndex uint64, value string) Write {
	return Write{Op: OpV2CompareAndSwap, Key: key, PrevValue: prevValue, Value: value, V2: V2Write{PrevIndex: prevIndex}}
}
func v2Post(dir, value string) Write { return Write{Op: OpV2CreateInOrder, Key: dir, Value: value} }
func v2Delete(key string, dir, recursive bool) Write {
	return Write{Op: OpV2Delete, Key: key, V2: V2Write{Dir: dir, Recursive: recursive}}
}
func v2CAD(key, prevValue string, prevIndex uint64) Write {
	return Write{Op: OpV2CompareAndDelete, Key: key, PrevValue: prevValue, V2: V2Write{PrevIndex: prevIndex}}
}
func v2Refresh(op Op, key string, exp time.Time) Write {
	return Write{Op: op, Key: key, Expiration: exp, V2: V2Write{Refresh: true}}
}

// applyAll applies writes at positions 1, 2, ..., each of which must
// succeed.
func applyAll(t *testing.T, s *Store, writes ...Write) {
	t.Helper()
	for _, w := range writes {
		position := s.Index() + 1
		results, err := s.Apply(position, []Write{w})
		if err != nil || results[0].Err != nil {
			t.Fatalf("write %+v at %d: %v %v", w, position, err, results[0].Err)
		}
	}
}

// apply applies one write at the next position.
func apply(s *Store, w Write) (*Event, error) {
	results, err := s.Apply(s.Index()+1, []Write{w})
	if err != nil {
		return nil, err
	}
	return results[0].Event, results[0].Err
}

const t0UTC = `"2013-07-12T03:31:12.156146039Z"`

type v2WriteTest struct {
	name      string
	setup     []Write
	write     Write
	want      string // v2 view of the event
	wantV1    string // v1's JSON of the event, when checked
	wantCode  int
	wantCause string
}

func runV2WriteTests(t *testing.T, tests []v2WriteTest) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(10)
			applyAll(t, s, tt.setup...)
			before := v2Dump(t, s)
			index := s.Index() + 1
			e, err := apply(s, tt.write)
			if got := s.Index(); got != index {
				t.Errorf("Index() = %d, want %d", got, index)
			}
			if tt.wantCode != 0 {
				checkError(t, err, tt.wantCode, tt.wantCause)
				if e != nil {
					t.Errorf("event = %s, want nil with an error", v2JSON(t, e))
				}
				// Failed writes change nothing but the index.
				if after := v2Dump(t, s); strings.TrimPrefix(after, fmt.Sprintf("index %d\n", index)) !=
					strings.TrimPrefix(before, fmt.Sprintf("index %d\n", index-1)) {
					t.Errorf("failed write changed the store\nbefore:\n%s\nafter:\n%s", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if got := v2JSON(t, e); got != tt.want {
				t.Errorf("v2 event\n got %s\nwant %s", got, tt.want)
			}
			if tt.wantV1 != "" {
				if got := marshal(t, e); got != tt.wantV1 {
					t.Errorf("v1 event\n got %s\nwant %s", got, tt.wantV1)
				}
			}
		})
	}
}

// v2Dump describes what v2 clients can observe of s: the whole tree with
// hidden nodes (listed one by one) and the history as v2 watches see it.
func v2Dump(t *testing.T, s *Store) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "index %d\n", s.Index())
	var walk func(key string)
	walk = func(key string) {
		e, err := s.GetV2(key, false, true)
		if err != nil {
			t.Fatalf("GetV2(%q): %v", key, err)
		}
		fmt.Fprintf(&b, "%s\n", v2JSON(t, e))
		if !e.V2.Node.Dir {
			return
		}
		s.mu.RLock()
		_, n := find(s.root, normalize(key))
		var children []string
		n.children.each(func(child *node) { children = append(children, child.key) })
		s.mu.RUnlock()
		slices.Sort(children)
		for _, child := range children {
			walk(child)
		}
	}
	walk("/")
	for since := uint64(1); since <= s.Index(); since++ {
		w, err := s.WatchV2("/", true, false, since)
		if err != nil {
			fmt.Fprintf(&b, "watch %d: %v\n", since, err)
			continue
		}
		if e, _ := received(w); e != nil {
			fmt.Fprintf(&b, "watch %d: %d %s\n", since, e.Index, v2JSON(t, e))
		}
		w.Remove()
	}
	next, ok := s.NextExpiration()
	fmt.Fprintf(&b, "next expiration %v %v\n", next, ok)
	fmt.Fprintf(&b, "expired %v\n", s.Expired(t0.Add(time.Hour), 100))
	return b.String()
}

// TestV2Indexes: every node carries createdIndex and modifiedIndex; a set
// makes a fresh node, update and compareAndSwap keep createdIndex, and a
// removal's node has the write's modifiedIndex (V2-API.md §5).
func TestV2Indexes(t *testing.T) {
	runV2WriteTests(t, []v2WriteTest{{
		name:   "set new",
		write:  v2Set("/message", "Hello world"),
		want:   `{"action":"set","node":{"key":"/message","value":"Hello world","modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/message","value":"Hello world","newKey":true,"index":1}`,
	}, {
		name:  "set replaces with a fresh node",
		setup: []Write{v2Set("/message", "Hello world")},
		write: v2Set("/message", "Hello etcd"),
		want: `{"action":"set","node":{"key":"/message","value":"Hello etcd","modifiedIndex":2,"createdIndex":2},` +
			`"prevNode":{"key":"/message","value":"Hello world","modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/message","prevValue":"Hello world","value":"Hello etcd","index":2}`,
	}, {
		name:  "update keeps createdIndex",
		setup: []Write{v2Set("/k", "one"), v2Set("/other", "x")},
		write: v2Update("/k", "three"),
		want: `{"action":"update","node":{"key":"/k","value":"three","modifiedIndex":3,"createdIndex":1},` +
			`"prevNode":{"key":"/k","value":"one","modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/k","prevValue":"one","value":"three","index":3}`,
	}, {
		name:  "compareAndSwap keeps createdIndex",
		setup: []Write{v2Set("/k", "four"), v2Update("/k", "four")},
		write: v2CAS("/k", "four", 2, "five"),
		want: `{"action":"compareAndSwap","node":{"key":"/k","value":"five","modifiedIndex":3,"createdIndex":1},` +
			`"prevNode":{"key":"/k","value":"four","modifiedIndex":2,"createdIndex":1}}`,
	}, {
		name:  "delete",
		setup: []Write{v2Set("/message", "Hello etcd")},
		write: v2Delete("/message", false, false),
		want: `{"action":"delete","node":{"key":"/message","modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/message","value":"Hello etcd","modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"DELETE","key":"/message","prevValue":"Hello etcd","index":2}`,
	}, {
		name:  "compareAndDelete",
		setup: []Write{v2Set("/k", "five")},
		write: v2CAD("/k", "five", 0),
		want: `{"action":"compareAndDelete","node":{"key":"/k","modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/k","value":"five","modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"DELETE","key":"/k","prevValue":"five","index":2}`,
	}, {
		name:   "an empty value is a value",
		write:  v2Set("/empty", ""),
		want:   `{"action":"set","node":{"key":"/empty","modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/empty","newKey":true,"index":1}`,
	}})
}

// TestV2Directories follows the table of V2-API.md §9.
func TestV2Directories(t *testing.T) {
	runV2WriteTests(t, []v2WriteTest{{
		name:   "mkdir",
		write:  Write{Op: OpV2Set, Key: "/dir", Value: "ignored", V2: V2Write{Dir: true}},
		want:   `{"action":"set","node":{"key":"/dir","dir":true,"modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/dir","dir":true,"newKey":true,"index":1}`,
	}, {
		name:  "create a directory",
		write: Write{Op: OpV2Create, Key: "/dir", V2: V2Write{Dir: true}},
		want:  `{"action":"create","node":{"key":"/dir","dir":true,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:      "create an existing directory",
		setup:     []Write{v2Mkdir("/dir")},
		write:     Write{Op: OpV2Create, Key: "/dir", V2: V2Write{Dir: true}},
		wantCode:  etcderr.NodeExist,
		wantCause: "/dir",
	}, {
		name:      "mkdir on a directory",
		setup:     []Write{v2Mkdir("/dir")},
		write:     v2Mkdir("/dir"),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}, {
		name:      "set a value on a directory",
		setup:     []Write{v2Set("/dir/a", "1")},
		write:     v2Set("/dir", "x"),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}, {
		name:  "mkdir on a file makes it a directory",
		setup: []Write{v2SetTTL("/f", "v", t0)},
		write: v2Mkdir("/f"),
		want: `{"action":"set","node":{"key":"/f","dir":true,"modifiedIndex":2,"createdIndex":2},` +
			`"prevNode":{"key":"/f","value":"v","expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/f","dir":true,"prevValue":"v","index":2}`,
	}, {
		name:      "set below a file",
		setup:     []Write{v2Set("/f", "v")},
		write:     v2Set("/f/child/x", "v"),
		wantCode:  etcderr.NotDir,
		wantCause: "/f",
	}, {
		name:      "create below a file",
		setup:     []Write{v2Set("/a/f", "v")},
		write:     v2Create("/a/f/child", "v"),
		wantCode:  etcderr.NotDir,
		wantCause: "/a/f",
	}, {
		name:      "update below a missing directory",
		setup:     []Write{v2Set("/a/f", "v")},
		write:     v2Update("/no/such/deep", "v"),
		wantCode:  etcderr.KeyNotFound,
		wantCause: "/no",
	}, {
		name:      "delete a directory without flags",
		setup:     []Write{v2Mkdir("/dir")},
		write:     v2Delete("/dir", false, false),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}, {
		name:      "delete a non-empty directory with dir",
		setup:     []Write{v2Set("/dir/_hidden", "1")},
		write:     v2Delete("/dir", true, false),
		wantCode:  etcderr.DirNotEmpty,
		wantCause: "/dir",
	}, {
		name:  "delete an empty directory with dir",
		setup: []Write{v2Mkdir("/dir")},
		write: v2Delete("/dir", true, false),
		want: `{"action":"delete","node":{"key":"/dir","dir":true,"modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/dir","dir":true,"modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"DELETE","key":"/dir","dir":true,"index":2}`,
	}, {
		name:  "delete recursively",
		setup: []Write{v2Set("/dir/a", "1"), v2Set("/dir/sub/c", "2")},
		write: v2Delete("/dir", false, true),
		want: `{"action":"delete","node":{"key":"/dir","dir":true,"modifiedIndex":3,"createdIndex":1},` +
			`"prevNode":{"key":"/dir","dir":true,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:  "delete a file with dir",
		setup: []Write{v2Set("/f", "v")},
		write: v2Delete("/f", true, false),
		want: `{"action":"delete","node":{"key":"/f","modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/f","value":"v","modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:      "compareAndSwap on a directory",
		setup:     []Write{v2Mkdir("/dir")},
		write:     v2CAS("/dir", "x", 0, "y"),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}, {
		name:      "compareAndDelete on a directory",
		setup:     []Write{v2Mkdir("/dir")},
		write:     v2CAD("/dir", "", 1),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}, {
		name:      "update a directory with a value",
		setup:     []Write{v2Mkdir("/dir")},
		write:     v2Update("/dir", "x"),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}})
}

// TestV2Root: the root is read only, but POST below it works (§5).
func TestV2Root(t *testing.T) {
	runV2WriteTests(t, []v2WriteTest{
		{name: "set", write: v2Set("/", "v"), wantCode: etcderr.RootReadOnly, wantCause: "/"},
		{name: "mkdir", write: v2Mkdir(""), wantCode: etcderr.RootReadOnly, wantCause: "/"},
		{name: "create", write: v2Create("/", "v"), wantCode: etcderr.RootReadOnly, wantCause: "/"},
		{name: "update", write: v2Update("/", ""), wantCode: etcderr.RootReadOnly, wantCause: "/"},
		{name: "compareAndSwap", write: v2CAS("/", "a", 0, "b"), wantCode: etcderr.RootReadOnly, wantCause: "/"},
		{name: "delete", write: v2Delete("/", true, true), wantCode: etcderr.RootReadOnly, wantCause: "/"},
		{name: "compareAndDelete", write: v2CAD("/", "a", 0), wantCode: etcderr.NotFile, wantCause: "/"},
		{
			name:  "post",
			setup: []Write{v2Set("/a", "1")},
			write: v2Post("/", "job"),
			want:  `{"action":"create","node":{"key":"/00000000000000000002","value":"job","modifiedIndex":2,"createdIndex":2}}`,
		},
	})
}

// TestV2CreateInOrder follows V2-API.md §7.
func TestV2CreateInOrder(t *testing.T) {
	runV2WriteTests(t, []v2WriteTest{{
		name:   "missing parent created",
		setup:  []Write{v2Set("/a", "1")},
		write:  v2Post("/queue", "job1"),
		want:   `{"action":"create","node":{"key":"/queue/00000000000000000002","value":"job1","modifiedIndex":2,"createdIndex":2}}`,
		wantV1: `{"action":"SET","key":"/queue/00000000000000000002","value":"job1","newKey":true,"index":2}`,
	}, {
		name:  "directory with a TTL",
		setup: []Write{v2Mkdir("/queue")},
		write: Write{Op: OpV2CreateInOrder, Key: "/queue", Expiration: t0, V2: V2Write{Dir: true}},
		want:  `{"action":"create","node":{"key":"/queue/00000000000000000002","dir":true,"expiration":` + t0JSON + `,"modifiedIndex":2,"createdIndex":2}}`,
	}, {
		name:      "under a file",
		setup:     []Write{v2Set("/f", "v")},
		write:     v2Post("/f", "job"),
		wantCode:  etcderr.NotDir,
		wantCause: "/f",
	}, {
		name:      "name taken",
		setup:     []Write{v2Set("/q/00000000000000000002", "mine")},
		write:     v2Post("/q", "job"),
		wantCode:  etcderr.NodeExist,
		wantCause: "/q/00000000000000000002",
	}})
}

// TestV2Compare follows V2-API.md §10 and §4.
func TestV2Compare(t *testing.T) {
	four := []Write{v2Set("/k", "four")}
	runV2WriteTests(t, []v2WriteTest{
		{name: "value differs", setup: four, write: v2CAS("/k", "bad", 0, "x"), wantCode: etcderr.TestFailed, wantCause: "[bad != four]"},
		{name: "index differs", setup: four, write: v2CAS("/k", "", 27, "x"), wantCode: etcderr.TestFailed, wantCause: "[27 != 1]"},
		{name: "both differ", setup: four, write: v2CAS("/k", "bad", 27, "x"), wantCode: etcderr.TestFailed, wantCause: "[bad != four] [27 != 1]"},
		{name: "value differs, index passes", setup: four, write: v2CAS("/k", "bad", 1, "x"), wantCode: etcderr.TestFailed, wantCause: "[bad != four]"},
		{
			name: "index passes", setup: four, write: v2CAS("/k", "", 1, "x"),
			want: `{"action":"compareAndSwap","node":{"key":"/k","value":"x","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"four","modifiedIndex":1,"createdIndex":1}}`,
		},
		{name: "CAS missing", setup: four, write: v2CAS("/nokey", "a", 0, "x"), wantCode: etcderr.KeyNotFound, wantCause: "/nokey"},
		{name: "CAS below a file", setup: four, write: v2CAS("/k/x", "a", 0, "x"), wantCode: etcderr.NotDir, wantCause: "/k"},
		{name: "CAD missing", setup: four, write: v2CAD("/nokey", "a", 0), wantCode: etcderr.KeyNotFound, wantCause: "/nokey"},
		{name: "CAD value differs", setup: four, write: v2CAD("/k", "bad", 0), wantCode: etcderr.TestFailed, wantCause: "[bad != four]"},
		{name: "CAD index differs", setup: four, write: v2CAD("/k", "four", 5), wantCode: etcderr.TestFailed, wantCause: "[5 != 1]"},
		{name: "create existing", setup: four, write: v2Create("/k", "x"), wantCode: etcderr.NodeExist, wantCause: "/k"},
		{name: "update missing", setup: four, write: v2Update("/nokey", "x"), wantCode: etcderr.KeyNotFound, wantCause: "/nokey"},
		{name: "delete missing", setup: four, write: v2Delete("/a/b", false, false), wantCode: etcderr.KeyNotFound, wantCause: "/a"},
		{
			name: "create", write: v2Create("/new/k", "v"),
			want:   `{"action":"create","node":{"key":"/new/k","value":"v","modifiedIndex":1,"createdIndex":1}}`,
			wantV1: `{"action":"SET","key":"/new/k","value":"v","newKey":true,"index":1}`,
		},
	})
}

// TestV2TTL follows V2-API.md §8: a set or update without an expiration
// clears one; a refresh keeps the value.
func TestV2TTL(t *testing.T) {
	runV2WriteTests(t, []v2WriteTest{{
		name:  "set clears the TTL",
		setup: []Write{v2SetTTL("/k", "v", t0)},
		write: v2Set("/k", "w"),
		want: `{"action":"set","node":{"key":"/k","value":"w","modifiedIndex":2,"createdIndex":2},` +
			`"prevNode":{"key":"/k","value":"v","expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:  "update clears the TTL",
		setup: []Write{v2SetTTL("/k", "v", t0)},
		write: v2Update("/k", "w"),
		want: `{"action":"update","node":{"key":"/k","value":"w","modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/k","value":"v","expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:  "refresh with set resets both indexes",
		setup: []Write{v2SetTTL("/k", "v", t0)},
		write: v2Refresh(OpV2Set, "/k", t0.Add(time.Minute)),
		want: `{"action":"set","node":{"key":"/k","value":"v","expiration":"2013-07-11T20:32:12.156146039-07:00","modifiedIndex":2,"createdIndex":2},` +
			`"prevNode":{"key":"/k","value":"v","expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:  "refresh with update keeps createdIndex",
		setup: []Write{v2SetTTL("/k", "v", t0)},
		write: v2Refresh(OpV2Update, "/k", t0.Add(time.Minute)),
		want: `{"action":"update","node":{"key":"/k","value":"v","expiration":"2013-07-11T20:32:12.156146039-07:00","modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/k","value":"v","expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:  "refresh with compareAndSwap keeps the value",
		setup: []Write{v2SetTTL("/k", "v", t0)},
		write: Write{Op: OpV2CompareAndSwap, Key: "/k", PrevValue: "v", Expiration: t0, V2: V2Write{Refresh: true}},
		want: `{"action":"compareAndSwap","node":{"key":"/k","value":"v","expiration":` + t0JSON + `,"modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/k","value":"v","expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:      "refresh a missing key",
		setup:     []Write{v2Set("/a", "v")},
		write:     v2Refresh(OpV2Set, "/k", t0),
		wantCode:  etcderr.KeyNotFound,
		wantCause: "/k",
	}, {
		name:   "directory with a TTL",
		write:  v2MkdirTTL("/dir", t0),
		want:   `{"action":"set","node":{"key":"/dir","dir":true,"expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
		wantV1: `{"action":"SET","key":"/dir","dir":true,"newKey":true,"expiration":` + t0JSON + `,"index":1}`,
	}, {
		name:      "directory TTL set again",
		setup:     []Write{v2MkdirTTL("/dir", t0)},
		write:     v2MkdirTTL("/dir", t0.Add(time.Minute)),
		wantCode:  etcderr.NotFile,
		wantCause: "/dir",
	}, {
		// etcd 2.3's update-dir, which etcd 3.5 answers with a 500.
		name:  "directory TTL updated with prevExist",
		setup: []Write{v2MkdirTTL("/dir", t0), v2Set("/dir/a", "1")},
		write: Write{Op: OpV2Update, Key: "/dir", Expiration: t0.Add(time.Minute), V2: V2Write{Dir: true}},
		want: `{"action":"update","node":{"key":"/dir","dir":true,"expiration":"2013-07-11T20:32:12.156146039-07:00","modifiedIndex":3,"createdIndex":1},` +
			`"prevNode":{"key":"/dir","dir":true,"expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}, {
		name:  "directory TTL refreshed with prevExist",
		setup: []Write{v2MkdirTTL("/dir", t0)},
		write: v2Refresh(OpV2Update, "/dir", t0.Add(time.Minute)),
		want: `{"action":"update","node":{"key":"/dir","dir":true,"expiration":"2013-07-11T20:32:12.156146039-07:00","modifiedIndex":2,"createdIndex":1},` +
			`"prevNode":{"key":"/dir","dir":true,"expiration":` + t0JSON + `,"modifiedIndex":1,"createdIndex":1}}`,
	}})
}
