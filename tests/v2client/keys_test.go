package v2client

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v2"
)

// TestSetGetDelete: the client's Set, Get, Update and Delete on one
// member, with the actions, previous nodes, indexes and headers it reads.
func TestSetGetDelete(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	r1 := must(t, "Set new")(kapi.Set(ctxT(t), "/message", "Hello world", nil))
	wantNode(t, "Set new", r1, "set", "/message", "Hello world")
	if r1.PrevNode != nil || r1.Node.CreatedIndex != r1.Node.ModifiedIndex || r1.Index != r1.Node.ModifiedIndex {
		t.Fatalf("Set new: prevNode %v, created %d, modified %d, X-Etcd-Index %d; want no prevNode and one index", r1.PrevNode, r1.Node.CreatedIndex, r1.Node.ModifiedIndex, r1.Index)
	}
	if r1.ClusterID == "" {
		t.Fatalf("Set new: no X-Etcd-Cluster-ID")
	}

	r2 := must(t, "Set again")(kapi.Set(ctxT(t), "/message", "Hello etcd", nil))
	wantNode(t, "Set again", r2, "set", "/message", "Hello etcd")
	// A set makes a new node: its created index is the new one.
	if r2.PrevNode == nil || r2.PrevNode.Value != "Hello world" || r2.PrevNode.ModifiedIndex != r1.Node.ModifiedIndex ||
		r2.Node.CreatedIndex != r2.Node.ModifiedIndex || r2.Node.ModifiedIndex <= r1.Node.ModifiedIndex {
		t.Fatalf("Set again: node %v prevNode %v, want a new node after %v", r2.Node, r2.PrevNode, r1.Node)
	}
	if r2.ClusterID != r1.ClusterID {
		t.Fatalf("X-Etcd-Cluster-ID changed from %q to %q", r1.ClusterID, r2.ClusterID)
	}

	g := must(t, "Get")(kapi.Get(ctxT(t), "/message", nil))
	wantNode(t, "Get", g, "get", "/message", "Hello etcd")
	if g.Node.ModifiedIndex != r2.Node.ModifiedIndex || g.Index < g.Node.ModifiedIndex {
		t.Fatalf("Get: node %v with X-Etcd-Index %d after the set of %v", g.Node, g.Index, r2.Node)
	}

	u := must(t, "Update")(kapi.Update(ctxT(t), "/message", "Hello v2"))
	wantNode(t, "Update", u, "update", "/message", "Hello v2")
	if u.Node.CreatedIndex != r2.Node.CreatedIndex || u.PrevNode == nil || u.PrevNode.Value != "Hello etcd" {
		t.Fatalf("Update: node %v prevNode %v; an update keeps the created index %d", u.Node, u.PrevNode, r2.Node.CreatedIndex)
	}

	d := must(t, "Delete")(kapi.Delete(ctxT(t), "/message", nil))
	if d.Action != "delete" || d.Node == nil || d.Node.Key != "/message" || d.Node.Value != "" ||
		d.Node.ModifiedIndex <= u.Node.ModifiedIndex || d.Node.CreatedIndex != u.Node.CreatedIndex ||
		d.PrevNode == nil || d.PrevNode.Value != "Hello v2" {
		t.Fatalf("Delete: action %q node %v prevNode %v", d.Action, d.Node, d.PrevNode)
	}

	_, err := kapi.Get(ctxT(t), "/message", nil)
	e := wantError(t, "Get after Delete", err, client.ErrorCodeKeyNotFound, "/message")
	if !client.IsKeyNotFound(err) || e.Index < d.Node.ModifiedIndex {
		t.Fatalf("Get after Delete: %v, index %d before the delete's %d", err, e.Index, d.Node.ModifiedIndex)
	}
	_, err = kapi.Delete(ctxT(t), "/message", nil)
	wantError(t, "Delete of a missing key", err, client.ErrorCodeKeyNotFound, "/message")
	_, err = kapi.Update(ctxT(t), "/message", "x")
	wantError(t, "Update of a missing key", err, client.ErrorCodeKeyNotFound, "/message")
	_, err = kapi.Set(ctxT(t), "/", "x", nil)
	wantError(t, "Set of the root", err, client.ErrorCodeRootROnly, "/")

	must(t, "Set an empty value")(kapi.Set(ctxT(t), "/empty", "", nil))
	wantNode(t, "Get of an empty value", must(t, "Get")(kapi.Get(ctxT(t), "/empty", nil)), "get", "/empty", "")

	nv := must(t, "Set with NoValueOnSuccess")(kapi.Set(ctxT(t), "/quiet", "v", &client.SetOptions{NoValueOnSuccess: true}))
	if nv.Action != "set" || nv.Node != nil || nv.PrevNode != nil {
		t.Fatalf("Set with NoValueOnSuccess: action %q node %v prevNode %v, want the action alone", nv.Action, nv.Node, nv.PrevNode)
	}
}

// TestCreateAndInOrder: Create fails on an existing key; CreateInOrder
// names its keys by their index, 20 digits, so that their names sort in
// the order they were created.
func TestCreateAndInOrder(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	c := must(t, "Create")(kapi.Create(ctxT(t), "/c", "one"))
	wantNode(t, "Create", c, "create", "/c", "one")
	_, err := kapi.Create(ctxT(t), "/c", "two")
	e := wantError(t, "Create of an existing key", err, client.ErrorCodeNodeExist, "/c")
	if e.Index < c.Node.ModifiedIndex {
		t.Fatalf("Create of an existing key: index %d before the create's %d", e.Index, c.Node.ModifiedIndex)
	}
	wantNode(t, "Get after a failed Create", must(t, "Get")(kapi.Get(ctxT(t), "/c", nil)), "get", "/c", "one")

	var created []string
	for i := range 12 {
		value := fmt.Sprintf("job%d", i)
		r := must(t, "CreateInOrder")(kapi.CreateInOrder(ctxT(t), "/queue", value, nil))
		want := fmt.Sprintf("/queue/%020d", r.Node.CreatedIndex)
		wantNode(t, "CreateInOrder", r, "create", want, value)
		created = append(created, r.Node.Key)
		// Write elsewhere between two, so that the indexes are not
		// consecutive and a name of 9 then 10 digits would sort wrong.
		must(t, "Set between in-order creates")(kapi.Set(ctxT(t), "/other", value, nil))
	}
	if !slices.Equal(created, sortedCopy(created)) {
		t.Fatalf("in-order keys do not sort in the order they were created: %v", created)
	}

	g := must(t, "Get sorted")(kapi.Get(ctxT(t), "/queue", &client.GetOptions{Sort: true}))
	if !g.Node.Dir || !slices.Equal(keysOfNodes(g.Node.Nodes), created) {
		t.Fatalf("Get /queue sorted: %v, want %v", keysOfNodes(g.Node.Nodes), created)
	}
	for i, n := range g.Node.Nodes {
		if n.Value != fmt.Sprintf("job%d", i) {
			t.Fatalf("Get /queue sorted: %s = %q, want job%d", n.Key, n.Value, i)
		}
	}

	ttl := must(t, "CreateInOrder with a TTL")(kapi.CreateInOrder(ctxT(t), "/queue", "soon", &client.CreateInOrderOptions{TTL: 30 * time.Second}))
	if ttl.Node.TTL < 29 || ttl.Node.TTL > 30 || ttl.Node.Expiration == nil {
		t.Fatalf("CreateInOrder with a 30 s TTL: ttl %d, expiration %v", ttl.Node.TTL, ttl.Node.Expiration)
	}

	_, err = kapi.CreateInOrder(ctxT(t), "/c", "under a file", nil)
	wantError(t, "CreateInOrder under a file", err, client.ErrorCodeNotDir, "/c")
}

// TestCompareAndSwap: Set with PrevValue, PrevIndex and PrevExist, and the
// errors and causes the client gets when the comparison fails.
func TestCompareAndSwap(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	first := must(t, "Set")(kapi.Set(ctxT(t), "/cas", "one", nil))
	idx := first.Node.ModifiedIndex

	_, err := kapi.Set(ctxT(t), "/cas", "two", &client.SetOptions{PrevValue: "bad"})
	wantError(t, "CAS with a wrong PrevValue", err, client.ErrorCodeTestFailed, "[bad != one]")

	r := must(t, "CAS with the right PrevValue")(kapi.Set(ctxT(t), "/cas", "two", &client.SetOptions{PrevValue: "one"}))
	wantNode(t, "CAS with the right PrevValue", r, "compareAndSwap", "/cas", "two")
	if r.PrevNode == nil || r.PrevNode.Value != "one" || r.Node.CreatedIndex != first.Node.CreatedIndex || r.Node.ModifiedIndex <= idx {
		t.Fatalf("CAS: node %v prevNode %v; a CAS keeps the created index %d", r.Node, r.PrevNode, first.Node.CreatedIndex)
	}
	now := r.Node.ModifiedIndex

	_, err = kapi.Set(ctxT(t), "/cas", "three", &client.SetOptions{PrevIndex: idx})
	wantError(t, "CAS with a stale PrevIndex", err, client.ErrorCodeTestFailed, fmt.Sprintf("[%d != %d]", idx, now))
	_, err = kapi.Set(ctxT(t), "/cas", "three", &client.SetOptions{PrevValue: "bad", PrevIndex: idx})
	wantError(t, "CAS with both wrong", err, client.ErrorCodeTestFailed, fmt.Sprintf("[bad != two] [%d != %d]", idx, now))
	wantNode(t, "Get after failed CASes", must(t, "Get")(kapi.Get(ctxT(t), "/cas", nil)), "get", "/cas", "two")

	r = must(t, "CAS with the right PrevIndex")(kapi.Set(ctxT(t), "/cas", "three", &client.SetOptions{PrevIndex: now}))
	wantNode(t, "CAS with the right PrevIndex", r, "compareAndSwap", "/cas", "three")
	r = must(t, "CAS with both right")(kapi.Set(ctxT(t), "/cas", "four", &client.SetOptions{PrevValue: "three", PrevIndex: r.Node.ModifiedIndex}))
	wantNode(t, "CAS with both right", r, "compareAndSwap", "/cas", "four")

	_, err = kapi.Set(ctxT(t), "/cas", "x", &client.SetOptions{PrevExist: client.PrevNoExist})
	wantError(t, "PrevNoExist on an existing key", err, client.ErrorCodeNodeExist, "/cas")
	_, err = kapi.Set(ctxT(t), "/missing", "x", &client.SetOptions{PrevExist: client.PrevExist})
	wantError(t, "PrevExist on a missing key", err, client.ErrorCodeKeyNotFound, "/missing")
	_, err = kapi.Set(ctxT(t), "/missing", "x", &client.SetOptions{PrevValue: "one"})
	wantError(t, "CAS of a missing key", err, client.ErrorCodeKeyNotFound, "/missing")
	_, err = kapi.Set(ctxT(t), "/missing", "x", &client.SetOptions{PrevIndex: 1, PrevExist: client.PrevExist})
	wantError(t, "CAS by index of a missing key", err, client.ErrorCodeKeyNotFound, "/missing")

	r = must(t, "PrevExist on an existing key")(kapi.Set(ctxT(t), "/cas", "five", &client.SetOptions{PrevExist: client.PrevExist}))
	wantNode(t, "PrevExist on an existing key", r, "update", "/cas", "five")
	r = must(t, "PrevNoExist on a missing key")(kapi.Set(ctxT(t), "/fresh", "new", &client.SetOptions{PrevExist: client.PrevNoExist}))
	wantNode(t, "PrevNoExist on a missing key", r, "create", "/fresh", "new")

	must(t, "Set a dir")(kapi.Set(ctxT(t), "/adir", "", &client.SetOptions{Dir: true}))
	_, err = kapi.Set(ctxT(t), "/adir", "x", &client.SetOptions{PrevValue: "y"})
	wantError(t, "CAS of a dir", err, client.ErrorCodeNotFile, "/adir")
}

// TestCompareAndDelete: Delete with PrevValue and PrevIndex, and its
// errors.
func TestCompareAndDelete(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	s := must(t, "Set")(kapi.Set(ctxT(t), "/cad", "five", nil))
	idx := s.Node.ModifiedIndex

	_, err := kapi.Delete(ctxT(t), "/cad", &client.DeleteOptions{PrevValue: "six"})
	wantError(t, "CAD with a wrong PrevValue", err, client.ErrorCodeTestFailed, "[six != five]")
	_, err = kapi.Delete(ctxT(t), "/cad", &client.DeleteOptions{PrevIndex: idx + 100})
	wantError(t, "CAD with a wrong PrevIndex", err, client.ErrorCodeTestFailed, fmt.Sprintf("[%d != %d]", idx+100, idx))
	wantNode(t, "Get after failed CADs", must(t, "Get")(kapi.Get(ctxT(t), "/cad", nil)), "get", "/cad", "five")

	d := must(t, "CAD")(kapi.Delete(ctxT(t), "/cad", &client.DeleteOptions{PrevValue: "five", PrevIndex: idx}))
	if d.Action != "compareAndDelete" || d.Node == nil || d.Node.Key != "/cad" || d.Node.Value != "" ||
		d.Node.CreatedIndex != s.Node.CreatedIndex || d.Node.ModifiedIndex <= idx || d.PrevNode == nil || d.PrevNode.Value != "five" {
		t.Fatalf("CAD: action %q node %v prevNode %v", d.Action, d.Node, d.PrevNode)
	}
	_, err = kapi.Get(ctxT(t), "/cad", nil)
	wantError(t, "Get after CAD", err, client.ErrorCodeKeyNotFound, "/cad")
	_, err = kapi.Delete(ctxT(t), "/cad", &client.DeleteOptions{PrevValue: "five"})
	wantError(t, "CAD of a missing key", err, client.ErrorCodeKeyNotFound, "/cad")

	must(t, "Set a dir")(kapi.Set(ctxT(t), "/cdir", "", &client.SetOptions{Dir: true}))
	_, err = kapi.Delete(ctxT(t), "/cdir", &client.DeleteOptions{PrevValue: "x"})
	wantError(t, "CAD of a dir", err, client.ErrorCodeNotFile, "/cdir")
}

// TestDirectories: directories made with Dir, listed one level or
// recursively, deleted with Dir and Recursive; hidden keys stay out of
// listings.
func TestDirectories(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	d := must(t, "Set a dir")(kapi.Set(ctxT(t), "/dir", "", &client.SetOptions{Dir: true}))
	if d.Action != "set" || d.Node == nil || !d.Node.Dir || d.Node.Key != "/dir" || d.Node.Value != "" {
		t.Fatalf("Set a dir: action %q node %v", d.Action, d.Node)
	}
	_, err := kapi.Set(ctxT(t), "/dir", "", &client.SetOptions{Dir: true})
	wantError(t, "Set an existing dir", err, client.ErrorCodeNotFile, "/dir")
	_, err = kapi.Set(ctxT(t), "/dir", "value", nil)
	wantError(t, "Set a value on a dir", err, client.ErrorCodeNotFile, "/dir")

	for _, kv := range [][2]string{{"/dir/b", "2"}, {"/dir/a", "1"}, {"/dir/sub/c", "3"}, {"/dir/_hidden", "h"}} {
		must(t, "Set "+kv[0])(kapi.Set(ctxT(t), kv[0], kv[1], nil))
	}

	one := must(t, "Get one level")(kapi.Get(ctxT(t), "/dir", &client.GetOptions{Sort: true}))
	if got := keysOfNodes(one.Node.Nodes); !one.Node.Dir || !slices.Equal(got, []string{"/dir/a", "/dir/b", "/dir/sub"}) {
		t.Fatalf("Get /dir sorted: %v, want /dir/a /dir/b /dir/sub (no hidden key)", got)
	}
	if sub := one.Node.Nodes[2]; !sub.Dir || sub.Nodes != nil || one.Node.Nodes[0].Value != "1" || one.Node.Nodes[1].Value != "2" {
		t.Fatalf("Get /dir one level: %v, want files with values and sub without its children", one.Node.Nodes)
	}

	all := must(t, "Get recursive")(kapi.Get(ctxT(t), "/dir", &client.GetOptions{Recursive: true, Sort: true}))
	sub := all.Node.Nodes[2]
	if !sub.Dir || len(sub.Nodes) != 1 || sub.Nodes[0].Key != "/dir/sub/c" || sub.Nodes[0].Value != "3" {
		t.Fatalf("Get /dir recursive: sub is %v with %v, want /dir/sub/c=3", sub, sub.Nodes)
	}
	unsorted := must(t, "Get recursive, not sorted")(kapi.Get(ctxT(t), "/dir", &client.GetOptions{Recursive: true}))
	if got := sortedCopy(keysOfNodes(unsorted.Node.Nodes)); !slices.Equal(got, keysOfNodes(all.Node.Nodes)) {
		t.Fatalf("Get /dir recursive unsorted has %v, sorted %v", got, keysOfNodes(all.Node.Nodes))
	}
	wantNode(t, "Get of a hidden key", must(t, "Get")(kapi.Get(ctxT(t), "/dir/_hidden", nil)), "get", "/dir/_hidden", "h")

	_, err = kapi.Get(ctxT(t), "/dir/a/x", nil)
	wantError(t, "Get below a file", err, client.ErrorCodeNotDir, "/dir/a")
	_, err = kapi.Set(ctxT(t), "/dir/a/x", "v", nil)
	wantError(t, "Set below a file", err, client.ErrorCodeNotDir, "/dir/a")
	_, err = kapi.Get(ctxT(t), "/nodir/x/y", nil)
	wantError(t, "Get below a missing dir", err, client.ErrorCodeKeyNotFound, "/nodir")

	_, err = kapi.Delete(ctxT(t), "/dir", nil)
	wantError(t, "Delete a dir without flags", err, client.ErrorCodeNotFile, "/dir")
	_, err = kapi.Delete(ctxT(t), "/dir", &client.DeleteOptions{Dir: true})
	wantError(t, "Delete a non-empty dir with Dir", err, client.ErrorCodeDirNotEmpty, "/dir")

	e := must(t, "Create an empty dir")(kapi.Set(ctxT(t), "/empty", "", &client.SetOptions{Dir: true, PrevExist: client.PrevNoExist}))
	if e.Action != "create" || !e.Node.Dir {
		t.Fatalf("Create an empty dir: action %q node %v", e.Action, e.Node)
	}
	ge := must(t, "Get an empty dir")(kapi.Get(ctxT(t), "/empty", &client.GetOptions{Recursive: true}))
	if !ge.Node.Dir || len(ge.Node.Nodes) != 0 {
		t.Fatalf("Get an empty dir: %v with %v", ge.Node, ge.Node.Nodes)
	}
	root := must(t, "Get the root")(kapi.Get(ctxT(t), "/", &client.GetOptions{Sort: true}))
	if got := keysOfNodes(root.Node.Nodes); !root.Node.Dir || !slices.Equal(got, []string{"/dir", "/empty"}) {
		t.Fatalf("Get / sorted: %v, want /dir /empty", got)
	}
	de := must(t, "Delete an empty dir with Dir")(kapi.Delete(ctxT(t), "/empty", &client.DeleteOptions{Dir: true}))
	if de.Action != "delete" || !de.Node.Dir || de.PrevNode == nil || !de.PrevNode.Dir {
		t.Fatalf("Delete an empty dir: action %q node %v prevNode %v", de.Action, de.Node, de.PrevNode)
	}

	dr := must(t, "Delete a dir with Recursive")(kapi.Delete(ctxT(t), "/dir", &client.DeleteOptions{Recursive: true}))
	if dr.Action != "delete" || dr.Node.Key != "/dir" || !dr.Node.Dir || dr.Node.CreatedIndex != d.Node.CreatedIndex {
		t.Fatalf("Delete /dir recursive: action %q node %v", dr.Action, dr.Node)
	}
	for _, k := range []string{"/dir", "/dir/sub/c", "/dir/_hidden"} {
		_, err = kapi.Get(ctxT(t), k, nil)
		wantError(t, "Get after the recursive delete", err, client.ErrorCodeKeyNotFound, "/dir")
	}
}

// TestTTLAndRefresh: a TTL shows as ttl and expiration, a refresh moves it
// on without changing the value or waking watchers, a set without a TTL
// drops it, and an expired key is gone with an expire event.
func TestTTLAndRefresh(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	before := time.Now()
	s := must(t, "Set with a TTL")(kapi.Set(ctxT(t), "/ttl", "v", &client.SetOptions{TTL: 20 * time.Second}))
	after := time.Now()
	checkTTL(t, "Set with a 20 s TTL", s.Node, 20*time.Second, before, after)

	w := kapi.Watcher("/ttl", &client.WatcherOptions{AfterIndex: s.Node.ModifiedIndex})
	before = time.Now()
	r := must(t, "Refresh")(kapi.Set(ctxT(t), "/ttl", "", &client.SetOptions{Refresh: true, TTL: 40 * time.Second, PrevExist: client.PrevExist}))
	after = time.Now()
	wantNode(t, "Refresh", r, "update", "/ttl", "v")
	if r.Node.CreatedIndex != s.Node.CreatedIndex || r.Node.ModifiedIndex <= s.Node.ModifiedIndex {
		t.Fatalf("Refresh: node %v after %v", r.Node, s.Node)
	}
	checkTTL(t, "Refresh to 40 s", r.Node, 40*time.Second, before, after)

	_, err := kapi.Set(ctxT(t), "/ttl", "x", &client.SetOptions{Refresh: true, TTL: time.Minute})
	wantError(t, "Refresh with a value", err, 211, "")
	_, err = kapi.Set(ctxT(t), "/ttl", "", &client.SetOptions{Refresh: true})
	wantError(t, "Refresh without a TTL", err, 212, "")
	_, err = kapi.Set(ctxT(t), "/nottl", "", &client.SetOptions{Refresh: true, TTL: time.Minute})
	wantError(t, "Refresh of a missing key", err, client.ErrorCodeKeyNotFound, "/nottl")

	// The refresh is in the history but wakes no watcher: the first
	// event after the set is the next change of the value.
	p := must(t, "Set without a TTL")(kapi.Set(ctxT(t), "/ttl", "kept", nil))
	if p.Node.TTL != 0 || p.Node.Expiration != nil {
		t.Fatalf("Set without a TTL kept ttl %d, expiration %v", p.Node.TTL, p.Node.Expiration)
	}
	ev := must(t, "the watcher's first event")(w.Next(ctxT(t)))
	wantNode(t, "the watcher's first event", ev, "set", "/ttl", "kept")
	if ev.Node.ModifiedIndex != p.Node.ModifiedIndex {
		t.Fatalf("the watcher saw %v first, want the set %v (a refresh wakes no watcher)", ev.Node, p.Node)
	}

	short := must(t, "Set with a 1 s TTL")(kapi.Set(ctxT(t), "/short", "bye", &client.SetOptions{TTL: time.Second}))
	ex := must(t, "the expire event")(kapi.Watcher("/short", &client.WatcherOptions{AfterIndex: short.Node.ModifiedIndex}).Next(ctxT(t)))
	if ex.Action != "expire" || ex.Node.Key != "/short" || ex.Node.CreatedIndex != short.Node.CreatedIndex ||
		ex.PrevNode == nil || ex.PrevNode.Value != "bye" {
		t.Fatalf("the expiry of /short: action %q node %v prevNode %v", ex.Action, ex.Node, ex.PrevNode)
	}
	_, err = kapi.Get(ctxT(t), "/short", nil)
	wantError(t, "Get after the expiry", err, client.ErrorCodeKeyNotFound, "/short")
}

// checkTTL checks that node, written with ttl between before and after,
// expires ttl after the write and shows the whole seconds left.
func checkTTL(t *testing.T, what string, node *client.Node, ttl time.Duration, before, after time.Time) {
	t.Helper()
	if node.Expiration == nil {
		t.Fatalf("%s: no expiration in %v", what, node)
	}
	if exp := *node.Expiration; exp.Before(before.Add(ttl-time.Second)) || exp.After(after.Add(ttl+time.Second)) {
		t.Fatalf("%s: expiration %v is not %v after the request (%v to %v)", what, exp, ttl, before, after)
	}
	if secs := int64(ttl.Seconds()); node.TTL != secs && node.TTL != secs-1 {
		t.Fatalf("%s: ttl %d, want %d or %d", what, node.TTL, secs, secs-1)
	}
}

// TestDirectoryTTL: a directory's TTL shows on it; when it runs out the
// whole subtree goes and a watcher on a key below gets the directory's
// expire. Updating the TTL with Dir and PrevExist (etcdctl's update-dir)
// works as in etcd 2.3; etcd 3.5 answers it with error 300, a bug this
// node does not copy, so that part runs against this node only.
func TestDirectoryTTL(t *testing.T) {
	t.Parallel()
	kapi := keysOf(t, startNode(t).clientURL())

	before := time.Now()
	d := must(t, "Set a dir with a TTL")(kapi.Set(ctxT(t), "/tdir", "", &client.SetOptions{Dir: true, TTL: 30 * time.Second}))
	checkTTL(t, "Set a dir with a 30 s TTL", d.Node, 30*time.Second, before, time.Now())
	if !d.Node.Dir {
		t.Fatalf("Set a dir with a TTL: %v", d.Node)
	}
	if !reference() {
		before = time.Now()
		u := must(t, "update-dir")(kapi.Set(ctxT(t), "/tdir", "", &client.SetOptions{Dir: true, TTL: time.Minute, PrevExist: client.PrevExist}))
		if u.Action != "update" || !u.Node.Dir || u.Node.CreatedIndex != d.Node.CreatedIndex {
			t.Fatalf("update-dir: action %q node %v", u.Action, u.Node)
		}
		checkTTL(t, "update-dir to 60 s", u.Node, time.Minute, before, time.Now())
	}

	s := must(t, "Set a short-lived dir")(kapi.Set(ctxT(t), "/sdir", "", &client.SetOptions{Dir: true, TTL: time.Second}))
	c := must(t, "Set a key in it")(kapi.Set(ctxT(t), "/sdir/child", "c", nil))
	ev := must(t, "watcher on the child")(kapi.Watcher("/sdir/child", &client.WatcherOptions{AfterIndex: c.Node.ModifiedIndex}).Next(ctxT(t)))
	if ev.Action != "expire" || ev.Node.Key != "/sdir" || !ev.Node.Dir || ev.Node.CreatedIndex != s.Node.CreatedIndex {
		t.Fatalf("watcher on /sdir/child: %q %v, want the expire of /sdir", ev.Action, ev.Node)
	}
	_, err := kapi.Get(ctxT(t), "/sdir/child", nil)
	wantError(t, "Get below the expired dir", err, client.ErrorCodeKeyNotFound, "/sdir")
}
