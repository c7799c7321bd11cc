package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/etcd-recreation/etcd/etcderr"
)

// keySegments is how a key names a node, worked out segment by segment
// without the path package: empty and "." segments name nothing, ".."
// climbs one directory, and never above the root.
func keySegments(key string) []string {
	var segs []string
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	return segs
}

func joinKey(segs []string) string { return "/" + strings.Join(segs, "/") }

// keyPathTree is what FuzzKeyPath's store holds before the fuzzed key is
// set: files and the directories they imply, which the key may fall on,
// below or beside.
var keyPathTree = map[string]string{"/a/b": "1", "/c": "2", "/d/e/f": "3"}

// FuzzKeyPath sets, reads and deletes an arbitrary key in a store holding
// keyPathTree, and checks every answer against what the key's segments
// say it names.
func FuzzKeyPath(f *testing.F) {
	for _, key := range []string{
		"", "/", "foo", "/foo/", "//a//b//", "a/./b/../../c", "../../x", "/..", ".", "a/.../b",
		"_etcd/machines/node0", "a b/%2F/\x00", "\xff/\xfe", "日本/語",
		"c", "a/b", "a", "d/e", "a/b/c", "c/../c/x", "d/e/g", "../d/./e/../e/f/", "a/b/../../..",
	} {
		f.Add(key)
	}
	f.Fuzz(func(t *testing.T, key string) {
		segs := keySegments(key)
		want := joinKey(segs)
		norm := normalize(key)
		if norm != want {
			t.Fatalf("normalize(%q) = %q, want %q", key, norm, want)
		}
		if !strings.HasPrefix(norm, "/") || (norm != "/" && slices.ContainsFunc(strings.Split(norm[1:], "/"), func(seg string) bool {
			return seg == "" || seg == "." || seg == ".."
		})) {
			t.Fatalf("normalize(%q) = %q: not a clean absolute key", key, norm)
		}
		for _, spelling := range []string{norm, norm + "/", "/" + norm, "../../" + key, "/../" + key, key + "/."} {
			// Cleaning is idempotent, and no leading ".." climbs out of the root.
			if got := normalize(spelling); got != norm {
				t.Fatalf("normalize(%q) = %q, want %q as for %q", spelling, got, norm, key)
			}
		}

		s := New(8)
		var index uint64
		for _, k := range slices.Sorted(maps.Keys(keyPathTree)) {
			index++
			if _, err := s.Set(k, keyPathTree[k], time.Time{}, index); err != nil {
				t.Fatalf("Set(%q): %v", k, err)
			}
		}
		isFile := func(segs []string) bool { _, ok := keyPathTree[joinKey(segs)]; return ok }
		isDir := func(segs []string) bool {
			for k := range keyPathTree {
				if ks := keySegments(k); len(ks) > len(segs) && slices.Equal(ks[:len(segs)], segs) {
					return true
				}
			}
			return false
		}
		index++
		setAt := index
		e, err := s.Set(key, "v", t0, setAt)
		switch {
		case len(segs) == 0:
			checkError(t, err, etcderr.NotFile, "set: /")
			if _, err := s.Delete(key, index); err == nil {
				t.Fatalf("Delete(%q) of the root succeeded", key)
			}
			checkTreeIntact(t, s)
			return
		case isDir(segs):
			checkError(t, err, etcderr.NotFile, "set: "+want)
			checkTreeIntact(t, s)
			return
		}
		for i := 1; i < len(segs); i++ {
			if isFile(segs[:i]) {
				if errorCode(err) != etcderr.NotFile {
					t.Fatalf("Set(%q) below the file %s: %v, %v; want error %d", key, joinKey(segs[:i]), e, err, etcderr.NotFile)
				}
				checkTreeIntact(t, s)
				return
			}
		}
		if err != nil {
			t.Fatalf("Set(%q): %v", key, err)
		}
		prev, existed := keyPathTree[want]
		if e.Key != want || e.NewKey == existed || e.PrevValue != prev || e.Index != setAt {
			t.Fatalf("Set(%q) event %+v, want key %q, previous value %q, index %d", key, e, want, prev, setAt)
		}
		for _, k := range []string{key, want, want + "/"} {
			events, dir, err := s.Get(k)
			if err != nil || dir || len(events) != 1 || events[0].Key != want || events[0].Value != "v" {
				t.Fatalf("Get(%q) = %v, %v, %v", k, events, dir, err)
			}
		}
		for i := range len(segs) {
			// Every directory above the key lists the way down to it.
			dir, child := joinKey(segs[:i]), joinKey(segs[:i+1])
			events, isDir, err := s.Get(dir)
			if err != nil || !isDir || !slices.ContainsFunc(events, func(e *Event) bool { return e.Key == child && e.Dir == (i+1 < len(segs)) }) {
				t.Fatalf("Get(%q) = %v, %v, %v; want a directory listing %s", dir, events, isDir, err, child)
			}
		}
		index++
		if _, err := s.Set(want+"/below", "v", time.Time{}, index); errorCode(err) != etcderr.NotFile {
			t.Fatalf("Set below the file %q: %v, want error %d", want, err, etcderr.NotFile)
		}
		if x := s.Expired(t0, 8); len(x) != 1 || x[0].Key != want {
			t.Fatalf("Expired = %v, want %q", x, want)
		}
		w, err := s.Watch(key, setAt)
		if err != nil {
			t.Fatalf("Watch(%q, %d): %v", key, setAt, err)
		}
		if got, _ := received(w); got != e {
			t.Fatalf("Watch(%q, %d) got %v, want %v", key, setAt, got, e)
		}

		if utf8.ValidString(key) {
			// JSON cannot carry other strings unchanged; see Save.
			state, err := s.Save()
			if err != nil {
				t.Fatal(err)
			}
			r := New(8)
			if err := r.Recover(state); err != nil {
				t.Fatalf("Recover(%s): %v", state, err)
			}
			if got, want := dump(t, r), dump(t, s); got != want {
				t.Fatalf("recovered store differs\n got:\n%s\nwant:\n%s", got, want)
			}
		}

		index++
		d, err := s.Delete(key, index)
		if err != nil || d.Key != want || d.PrevValue != "v" {
			t.Fatalf("Delete(%q) = %+v, %v", key, d, err)
		}
		if _, _, err := s.Get(want); errorCode(err) != etcderr.KeyNotFound {
			t.Fatalf("Get(%q) after Delete: %v, want error %d", want, err, etcderr.KeyNotFound)
		}
		if events, dir, err := s.Get(joinKey(segs[:len(segs)-1])); err != nil || !dir || slices.ContainsFunc(events, func(e *Event) bool { return e.Key == want }) {
			t.Fatalf("parent of %q after Delete: %v, %v, %v; want a directory without it", want, events, dir, err)
		}
		if !existed {
			checkTreeIntact(t, s)
		}
	})
}

// checkTreeIntact checks that s still holds keyPathTree.
func checkTreeIntact(t *testing.T, s *Store) {
	t.Helper()
	for k, v := range keyPathTree {
		if events, dir, err := s.Get(k); err != nil || dir || len(events) != 1 || events[0].Value != v {
			t.Fatalf("Get(%q) = %v, %v, %v; want the value %q it had", k, events, dir, err, v)
		}
	}
}

// Alphabets FuzzOperations draws from. The keys overlap as files and
// directories, and include unnormalised spellings, the root and hidden
// keys.
var (
	fuzzKeys        = []string{"/a", "/a/b", "a/b/c", "/b", "/a/c/", "/", "/a/../b", "/c/d/e", "c", "/_h", "/a/_h/x"}
	fuzzValues      = []string{"x", "y", ""}
	fuzzExpirations = []time.Time{{}, t0, t0.Add(time.Second).UTC()}
)

// model is a plain description of the tree, to check the store against:
// every node but the root by key.
type model struct {
	nodes map[string]*modelNode
	index uint64
}

type modelNode struct {
	dir               bool
	value             string
	expiration        time.Time
	created, modified uint64
}

func (m *model) isDir(key string) bool { return key == "/" || m.nodes[key] != nil && m.nodes[key].dir }

// parents returns the directories above key, root excluded, outermost first.
func parents(key string) []string {
	var dirs []string
	for dir := path.Dir(key); dir != "/"; dir = path.Dir(dir) {
		dirs = append([]string{dir}, dirs...)
	}
	return dirs
}

// fileAbove returns the first file on the way to key, "" if there is none.
func (m *model) fileAbove(key string) string {
	for _, dir := range parents(key) {
		if n := m.nodes[dir]; n != nil && !n.dir {
			return dir
		}
	}
	return ""
}

// makeParents makes the missing directories above key.
func (m *model) makeParents(key string) {
	for _, dir := range parents(key) {
		if m.nodes[dir] == nil {
			m.nodes[dir] = &modelNode{dir: true, created: m.index, modified: m.index}
		}
	}
}

// lookup finds key as v2 does, or the error code and cause.
func (m *model) lookup(key string) (*modelNode, int, string) {
	if key == "/" {
		return &modelNode{dir: true}, 0, ""
	}
	for _, k := range append(parents(key), key) {
		if file := path.Dir(k); file != "/" && !m.nodes[file].dir {
			return nil, etcderr.NotDir, file
		}
		if m.nodes[k] == nil {
			return nil, etcderr.KeyNotFound, k
		}
	}
	return m.nodes[key], 0, ""
}

func (n modelNode) view(key string) *NodeView {
	v := &NodeView{Key: key, Value: n.value, Dir: n.dir, ModifiedIndex: n.modified, CreatedIndex: n.created}
	if !n.expiration.IsZero() {
		v.Expiration = &n.expiration
	}
	return v
}

// put makes key the node n, prev being the node before (nil if none), and
// returns the event.
func (m *model) put(key string, n modelNode, prev *modelNode, action string) *Event {
	m.nodes[key] = &n
	e := &Event{Action: ActionSet, Key: key, Dir: n.dir, Value: n.value, Index: m.index,
		V2: &V2Event{Action: action, Node: n.view(key)}}
	if !n.expiration.IsZero() {
		e.Expiration = &n.expiration
	}
	if prev == nil {
		e.NewKey = true
	} else {
		e.V2.PrevNode = prev.view(key)
		if !prev.dir {
			e.PrevValue = prev.value
		}
	}
	return e
}

// remove deletes key and everything below it.
func (m *model) remove(key, action string) *Event {
	n := *m.nodes[key]
	for k := range m.nodes {
		if isAtOrBelow(k, key) {
			delete(m.nodes, k)
		}
	}
	e := &Event{Action: ActionDelete, Key: key, Dir: n.dir, PrevValue: n.value, Index: m.index,
		V2: &V2Event{Action: action, Node: &NodeView{Key: key, Dir: n.dir, ModifiedIndex: m.index, CreatedIndex: n.created}, PrevNode: n.view(key)}}
	if !n.expiration.IsZero() {
		e.Expiration = &n.expiration
	}
	return e
}

// set returns the event or error code Set gives.
func (m *model) set(key, value string, exp time.Time) (*Event, int) {
	if m.isDir(key) || m.fileAbove(key) != "" {
		return nil, etcderr.NotFile
	}
	m.makeParents(key)
	prev := m.nodes[key]
	return m.put(key, modelNode{value: value, expiration: exp, created: m.index, modified: m.index}, prev, V2Set), 0
}

func (m *model) testAndSet(key, prevValue, value string, exp time.Time) (*Event, int) {
	n := m.nodes[key]
	switch {
	case m.isDir(key):
		return nil, etcderr.NotFile
	case n == nil && prevValue != "":
		return nil, etcderr.KeyNotFound
	case n == nil:
		if m.fileAbove(key) != "" {
			return nil, etcderr.NotFile
		}
		m.makeParents(key)
		return m.put(key, modelNode{value: value, expiration: exp, created: m.index, modified: m.index}, nil, V2Create), 0
	case n.value != prevValue:
		return nil, etcderr.TestFailed
	}
	return m.put(key, modelNode{value: value, expiration: exp, created: n.created, modified: m.index}, n, V2CompareAndSwap), 0
}

func (m *model) delete(key string) (*Event, int) {
	if m.isDir(key) {
		return nil, etcderr.NotFile
	}
	if m.nodes[key] == nil {
		return nil, etcderr.KeyNotFound
	}
	return m.remove(key, V2Delete), 0
}

func (m *model) expire(key string, exp time.Time) (*Event, int) {
	if n := m.nodes[key]; n != nil && !n.expiration.IsZero() && n.expiration.Equal(exp) {
		return m.remove(key, V2Expire), 0
	}
	return nil, 0
}

func (m *model) get(key string) (events []*Event, dir bool, code int) {
	if n := m.nodes[key]; n != nil && !n.dir {
		e := &Event{Action: ActionGet, Key: key, Value: n.value, Index: m.index}
		if !n.expiration.IsZero() {
			e.Expiration = &n.expiration
		}
		return []*Event{e}, false, 0
	}
	if !m.isDir(key) {
		return nil, false, etcderr.KeyNotFound
	}
	events = []*Event{}
	for k, n := range m.nodes {
		if path.Dir(k) == key && k != "/" {
			e := &Event{Action: ActionGet, Key: k, Dir: n.dir, Value: n.value, Index: m.index}
			if !n.expiration.IsZero() {
				e.Expiration = &n.expiration
			}
			events = append(events, e)
		}
	}
	slices.SortFunc(events, func(a, b *Event) int { return strings.Compare(a.Key, b.Key) })
	return events, true, 0
}

// v2Error is a v2 write's error in the model.
type v2Error struct {
	code  int
	cause string
}

// v2Write returns the event or error the v2 write w gives on the
// normalised key.
func (m *model) v2Write(key string, w Write) (*Event, *v2Error) {
	exp := w.Expiration
	switch w.Op {
	case OpV2Set, OpV2Create, OpV2CreateInOrder:
		if w.Op == OpV2CreateInOrder {
			key = path.Join(key, fmt.Sprintf("%020d", m.index))
		}
		if key == "/" {
			return nil, &v2Error{etcderr.RootReadOnly, "/"}
		}
		if w.Op == OpV2Set && w.V2.Refresh {
			n, code, cause := m.lookup(key)
			switch {
			case code != 0:
				return nil, &v2Error{code, cause}
			case n.dir:
				return nil, &v2Error{etcderr.NotFile, key}
			}
			return m.put(key, modelNode{value: n.value, expiration: exp, created: m.index, modified: m.index}, n, V2Set), nil
		}
		if file := m.fileAbove(key); file != "" {
			return nil, &v2Error{etcderr.NotDir, file}
		}
		prev := m.nodes[key]
		switch {
		case prev != nil && w.Op != OpV2Set:
			return nil, &v2Error{etcderr.NodeExist, key}
		case prev != nil && prev.dir:
			return nil, &v2Error{etcderr.NotFile, key}
		}
		m.makeParents(key)
		n := modelNode{dir: w.V2.Dir, expiration: exp, created: m.index, modified: m.index}
		if !n.dir {
			n.value = w.Value
		}
		action := V2Set
		if w.Op != OpV2Set {
			action = V2Create
		}
		return m.put(key, n, prev, action), nil
	case OpV2Update, OpV2CompareAndSwap:
		if key == "/" {
			return nil, &v2Error{etcderr.RootReadOnly, "/"}
		}
		n, code, cause := m.lookup(key)
		switch {
		case code != 0:
			return nil, &v2Error{code, cause}
		case n.dir && (w.Op == OpV2CompareAndSwap || w.Value != ""):
			return nil, &v2Error{etcderr.NotFile, key}
		}
		action := V2Update
		if w.Op == OpV2CompareAndSwap {
			action = V2CompareAndSwap
			if cause := m.compareFailure(n, w); cause != "" {
				return nil, &v2Error{etcderr.TestFailed, cause}
			}
		}
		next := modelNode{dir: n.dir, value: w.Value, expiration: exp, created: n.created, modified: m.index}
		if w.V2.Refresh || n.dir {
			next.value = n.value
		}
		return m.put(key, next, n, action), nil
	case OpV2Delete:
		if key == "/" {
			return nil, &v2Error{etcderr.RootReadOnly, "/"}
		}
		n, code, cause := m.lookup(key)
		switch {
		case code != 0:
			return nil, &v2Error{code, cause}
		case n.dir && !w.V2.Dir && !w.V2.Recursive:
			return nil, &v2Error{etcderr.NotFile, key}
		case n.dir && !w.V2.Recursive && slices.ContainsFunc(slices.Collect(maps.Keys(m.nodes)), func(k string) bool { return path.Dir(k) == key }):
			return nil, &v2Error{etcderr.DirNotEmpty, key}
		}
		return m.remove(key, V2Delete), nil
	case OpV2CompareAndDelete:
		n, code, cause := m.lookup(key)
		switch {
		case code != 0:
			return nil, &v2Error{code, cause}
		case n.dir:
			return nil, &v2Error{etcderr.NotFile, key}
		}
		if cause := m.compareFailure(n, w); cause != "" {
			return nil, &v2Error{etcderr.TestFailed, cause}
		}
		return m.remove(key, V2CompareAndDelete), nil
	}
	panic(fmt.Sprintf("not a v2 write: %d", w.Op))
}

func (m *model) compareFailure(n *modelNode, w Write) string {
	var causes []string
	if w.PrevValue != "" && w.PrevValue != n.value {
		causes = append(causes, fmt.Sprintf("[%s != %s]", w.PrevValue, n.value))
	}
	if w.V2.PrevIndex != 0 && w.V2.PrevIndex != n.modified {
		causes = append(causes, fmt.Sprintf("[%d != %d]", w.V2.PrevIndex, n.modified))
	}
	return strings.Join(causes, " ")
}

// getV2 returns the view GetV2 gives of key, sorted, or its error.
func (m *model) getV2(key string, recursive bool) (*NodeView, *v2Error) {
	n, code, cause := m.lookup(key)
	if code != 0 {
		return nil, &v2Error{code, cause}
	}
	v := n.view(key)
	if n.dir {
		v.Nodes = m.listV2(key, recursive)
	}
	return v, nil
}

func (m *model) listV2(dir string, recursive bool) []*NodeView {
	var nodes []*NodeView
	for _, k := range slices.Sorted(maps.Keys(m.nodes)) {
		if path.Dir(k) != dir || strings.HasPrefix(path.Base(k), "_") {
			continue
		}
		v := m.nodes[k].view(k)
		if recursive && v.Dir {
			v.Nodes = m.listV2(k, recursive)
		}
		nodes = append(nodes, v)
	}
	return nodes
}

// errorCode returns err's etcd error code, 0 for no error and -1 for
// another error.
func errorCode(err error) int {
	var e *etcderr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e.Code
	}
	return -1
}

// v2Ops are the v2 operations FuzzOperations chooses from.
var v2Ops = [8]Op{OpV2Set, OpV2Create, OpV2Update, OpV2CompareAndSwap, OpV2CreateInOrder, OpV2Delete, OpV2CompareAndDelete, 0}

// FuzzOperations decodes data three bytes per operation and applies the
// operations to a store and to a model, which must agree on every result,
// in v1's view and in v2's. In the first byte, bits 0-2 choose the
// operation: with bit 3 clear a v1 one (0 and 5 Set, 1 TestAndSet, 2 and 6
// Delete, 3 Expire, 4 and 7 Get), with bit 3 set a v2 one (v2Ops, 7 being
// GetV2); bit 4 skips an index, bit 5 first replays the last index, and
// bits 6 and 7 are the v2 flags Dir and Recursive. The second byte
// chooses the key, and in its bits 4-7 a v2 prevIndex. The third chooses
// the value (bits 0-1), the expiration (bits 2-3), the compared value
// (bits 4-5) and a v2 refresh (bit 6).
func FuzzOperations(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1, 1, 4, 1, 0, 4, 0, 0})
	f.Add([]byte{0, 2, 4, 3, 2, 4, 4, 0, 0, 2, 2, 0, 4, 8, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0x11, 1, 0, 0x21, 1, 3, 0x02, 1, 5, 0x22, 0x12, 1, 0})
	f.Add([]byte{0x20, 6, 0, 0x10, 7, 1, 2, 7, 0, 2, 5, 0, 5, 5, 0, 6, 1, 0})
	f.Add([]byte{0, 3, 8, 3, 3, 4, 3, 3, 8, 4, 1, 0})
	f.Add([]byte("087280720000")) // an index skipped before a Get
	// v2: a directory with a TTL, a file below it, a refresh, a compare by
	// index, an in-order key, a recursive delete, reads.
	f.Add([]byte{0x48, 0, 4, 8, 2, 0, 0x0a, 1, 0x48, 0x0b, 0x11, 0x10, 0x0c, 0, 0, 0x8d, 0, 0, 0xcf, 5, 0})
	f.Add([]byte{0x08, 3, 0x04, 0x08, 3, 0x48, 0x0a, 3, 0x44, 0x0b, 3, 0x44}) // refreshes
	f.Add([]byte{0x08, 9, 0, 0x08, 10, 1, 0x4f, 5, 0, 0x0e, 9, 0x10, 0x09, 0, 0, 0x09, 0, 0, 3, 0, 4, 0x0d, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(3)
		m := &model{nodes: map[string]*modelNode{}}
		for len(data) >= 3 {
			b0, b1, b2 := data[0], data[1], data[2]
			data = data[3:]
			raw := fuzzKeys[int(b1&15)%len(fuzzKeys)]
			key := normalize(raw)
			value := fuzzValues[int(b2&3)%len(fuzzValues)]
			exp := fuzzExpirations[int(b2>>2&3)%len(fuzzExpirations)]
			prevValue := fuzzValues[int(b2>>4&3)%len(fuzzValues)]
			v2 := b0&8 != 0

			if b0&0x20 != 0 {
				if _, err := s.Set(raw, value, exp, m.index); err != ErrAlreadyApplied {
					t.Fatalf("replay at %d: %v, want ErrAlreadyApplied", m.index, err)
				}
			}
			if op := b0 & 7; !v2 && (op == 4 || op == 7) {
				events, dir, err := s.Get(raw)
				wantEvents, wantDir, wantCode := m.get(key)
				if errorCode(err) != wantCode {
					t.Fatalf("Get(%q): error %v, want code %d", raw, err, wantCode)
				}
				if g, w := marshal(t, events), marshal(t, wantEvents); g != w || dir != wantDir {
					t.Fatalf("Get(%q) = %s, %v; want %s, %v", raw, g, dir, w, wantDir)
				}
				continue
			}
			if v2 && b0&7 == 7 {
				recursive := b0&0x80 != 0
				e, err := s.GetV2(raw, recursive, true)
				want, wantErr := m.getV2(key, recursive)
				checkV2Error(t, "GetV2 "+raw, err, wantErr)
				if want != nil {
					if g, w := v2JSON(t, e), v2JSON(t, &Event{V2: &V2Event{Action: V2Get, Node: want}}); g != w {
						t.Fatalf("GetV2(%q, %v) = %s\nwant %s", raw, recursive, g, w)
					}
				}
				continue
			}

			m.index++
			if b0&0x10 != 0 {
				m.index++
			}
			watcher, _ := s.Watch("/", 0)
			watcherV2, _ := s.WatchV2("/", true, false, 0)
			var got, want *Event
			var err error
			var wantCode int
			// A refresh wakes no watcher, and v2's recursive ones skip hidden keys.
			var refresh bool
			if v2 {
				w := Write{Op: v2Ops[b0&7], Key: raw, Value: value, PrevValue: prevValue, Expiration: exp,
					V2: V2Write{Dir: b0&0x40 != 0, Recursive: b0&0x80 != 0, PrevIndex: uint64(b1 >> 4), Refresh: b2&0x40 != 0}}
				if w.Op == OpV2Update || w.Op == OpV2Set || w.Op == OpV2Create || w.Op == OpV2CreateInOrder {
					w.PrevValue = ""
				}
				var results []Result
				results, err = s.Apply(m.index, []Write{w})
				if err != nil {
					t.Fatal(err)
				}
				got, err = results[0].Event, results[0].Err
				var wantErr *v2Error
				want, wantErr = m.v2Write(key, w)
				checkV2Error(t, fmt.Sprintf("%+v at %d", w, m.index), err, wantErr)
				if wantErr != nil {
					wantCode = wantErr.code
				}
				refresh = w.V2.Refresh && (w.Op == OpV2Set || w.Op == OpV2Update || w.Op == OpV2CompareAndSwap)
			} else {
				switch b0 & 7 {
				case 0, 5:
					got, err = s.Set(raw, value, exp, m.index)
					want, wantCode = m.set(key, value, exp)
				case 1:
					got, err = s.TestAndSet(raw, prevValue, value, exp, m.index)
					want, wantCode = m.testAndSet(key, prevValue, value, exp)
				case 2, 6:
					got, err = s.Delete(raw, m.index)
					want, wantCode = m.delete(key)
				case 3:
					got, err = s.Expire(raw, exp, m.index)
					want, wantCode = m.expire(key, exp)
				}
			}

			what := fmt.Sprintf("op %#x on %q at %d", b0, raw, m.index)
			if c := errorCode(err); c != wantCode {
				t.Fatalf("%s: error %v, want code %d", what, err, wantCode)
			}
			if g, w := marshal(t, got), marshal(t, want); g != w {
				t.Fatalf("%s: event %s, want %s", what, g, w)
			}
			if want != nil {
				if g, w := v2JSON(t, got), v2JSON(t, want); g != w {
					t.Fatalf("%s: v2 event %s, want %s", what, g, w)
				}
			}
			if s.Index() != m.index {
				t.Fatalf("Index() = %d, want %d", s.Index(), m.index)
			}
			if delivered, _ := received(watcher); (got != nil && !refresh) != (delivered != nil) || delivered != nil && delivered != got {
				t.Fatalf("%s: watcher got %v, want %v", what, delivered, got)
			}
			hidden := want != nil && strings.Contains(want.Key, "/_")
			if delivered, _ := received(watcherV2); (got != nil && !refresh && !hidden) != (delivered != nil) || delivered != nil && delivered != got {
				t.Fatalf("%s: v2 watcher got %v, want %v", what, delivered, got)
			}
			watcher.Remove()
			watcherV2.Remove()
		}

		for key, n := range m.nodes {
			if n.created > n.modified || n.modified > m.index {
				t.Fatalf("model %s: indexes %d, %d past %d", key, n.created, n.modified, m.index)
			}
			e, err := s.GetV2(key, false, false)
			if err != nil {
				t.Fatalf("GetV2(%q): %v", key, err)
			}
			e.V2.Node.Nodes = nil
			if g, w := v2JSON(t, e), v2JSON(t, &Event{V2: &V2Event{Action: V2Get, Node: n.view(key)}}); g != w {
				t.Fatalf("GetV2(%q) = %s, want %s", key, g, w)
			}
		}
		if n := s.Stats().Watchers; n != 0 {
			t.Fatalf("%d watchers left", n)
		}
		state, err := s.Save()
		if err != nil {
			t.Fatal(err)
		}
		r := New(3)
		if err := r.Recover(state); err != nil {
			t.Fatalf("Recover(%s): %v", state, err)
		}
		if got, want := dump(t, r), dump(t, s); got != want {
			t.Fatalf("recovered store differs\n got:\n%s\nwant:\n%s", got, want)
		}
		if got, want := v2Dump(t, r), v2Dump(t, s); got != want {
			t.Fatalf("recovered store differs for v2\n got:\n%s\nwant:\n%s", got, want)
		}
		if again, err := r.Save(); err != nil || !bytes.Equal(again, state) {
			t.Fatalf("Save after Recover = %s, %v\nwant %s", again, err, state)
		}
	})
}

// checkV2Error fails t unless err is the model's error want (nil for none).
func checkV2Error(t *testing.T, what string, err error, want *v2Error) {
	t.Helper()
	var e *etcderr.Error
	switch {
	case want == nil && err == nil:
	case want == nil:
		t.Fatalf("%s: %v, want no error", what, err)
	case !errors.As(err, &e) || e.Code != want.code || e.Cause != want.cause:
		t.Fatalf("%s: %v, want error %d %q", what, err, want.code, want.cause)
	}
}
