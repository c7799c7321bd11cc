package store

import (
	"errors"
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
// directories, and include unnormalised spellings and the root.
var (
	fuzzKeys        = []string{"/a", "/a/b", "a/b/c", "/b", "/a/c/", "/", "/a/../b", "/c/d/e", "c"}
	fuzzValues      = []string{"x", "y", ""}
	fuzzExpirations = []time.Time{{}, t0, t0.Add(time.Second).UTC()}
)

// model is a plain description of the tree, to check the store against.
type model struct {
	files map[string]modelFile
	dirs  map[string]bool // every directory but the root
	index uint64
}

type modelFile struct {
	value      string
	expiration time.Time
}

func (m *model) isDir(key string) bool { return key == "/" || m.dirs[key] }

// parents returns the directories above key, root excluded, outermost first.
func parents(key string) []string {
	var dirs []string
	for dir := path.Dir(key); dir != "/"; dir = path.Dir(dir) {
		dirs = append([]string{dir}, dirs...)
	}
	return dirs
}

// set returns the event or error code Set gives.
func (m *model) set(key, value string, exp time.Time) (*Event, int) {
	if m.isDir(key) {
		return nil, etcderr.NotFile
	}
	for _, dir := range parents(key) {
		if _, isFile := m.files[dir]; isFile {
			return nil, etcderr.NotFile
		}
	}
	for _, dir := range parents(key) {
		m.dirs[dir] = true
	}
	e := &Event{Action: ActionSet, Key: key, Value: value, Index: m.index}
	if !exp.IsZero() {
		e.Expiration = &exp
	}
	if old, exists := m.files[key]; exists {
		e.PrevValue = old.value
	} else {
		e.NewKey = true
	}
	m.files[key] = modelFile{value, exp}
	return e, 0
}

func (m *model) testAndSet(key, prevValue, value string, exp time.Time) (*Event, int) {
	f, isFile := m.files[key]
	switch {
	case m.isDir(key):
		return nil, etcderr.NotFile
	case !isFile && prevValue != "":
		return nil, etcderr.KeyNotFound
	case isFile && f.value != prevValue:
		return nil, etcderr.TestFailed
	}
	return m.set(key, value, exp)
}

func (m *model) remove(key string) *Event {
	f := m.files[key]
	delete(m.files, key)
	e := &Event{Action: ActionDelete, Key: key, PrevValue: f.value, Index: m.index}
	if !f.expiration.IsZero() {
		e.Expiration = &f.expiration
	}
	return e
}

func (m *model) delete(key string) (*Event, int) {
	if m.isDir(key) {
		return nil, etcderr.NotFile
	}
	if _, isFile := m.files[key]; !isFile {
		return nil, etcderr.KeyNotFound
	}
	return m.remove(key), 0
}

func (m *model) expire(key string, exp time.Time) (*Event, int) {
	if f, isFile := m.files[key]; isFile && !f.expiration.IsZero() && f.expiration.Equal(exp) {
		return m.remove(key), 0
	}
	return nil, 0
}

func (m *model) get(key string) (events []*Event, dir bool, code int) {
	if f, isFile := m.files[key]; isFile {
		e := &Event{Action: ActionGet, Key: key, Value: f.value, Index: m.index}
		if !f.expiration.IsZero() {
			e.Expiration = &f.expiration
		}
		return []*Event{e}, false, 0
	}
	if !m.isDir(key) {
		return nil, false, etcderr.KeyNotFound
	}
	events = []*Event{}
	for k := range m.files {
		if path.Dir(k) == key {
			file, _, _ := m.get(k)
			events = append(events, file[0])
		}
	}
	for k := range m.dirs {
		if path.Dir(k) == key {
			events = append(events, &Event{Action: ActionGet, Key: k, Dir: true, Index: m.index})
		}
	}
	slices.SortFunc(events, func(a, b *Event) int { return strings.Compare(a.Key, b.Key) })
	return events, true, 0
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

// FuzzOperations decodes data three bytes per operation and applies the
// operations to a store and to a model, which must agree on every result.
// In the first byte, bits 0-2 choose the operation (0 and 5 Set, 1
// TestAndSet, 2 and 6 Delete, 3 Expire, 4 and 7 Get), bit 4 skips an index
// and bit 5 first replays the last index; the second chooses the key; the
// third the value (bits 0-1), the expiration (bits 2-3) and TestAndSet's
// prevValue (bits 4-5).
func FuzzOperations(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 1, 1, 4, 1, 0, 4, 0, 0})
	f.Add([]byte{0, 2, 4, 3, 2, 4, 4, 0, 0, 2, 2, 0, 4, 8, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0x11, 1, 0, 0x21, 1, 3, 0x02, 1, 5, 0x22, 0x12, 1, 0})
	f.Add([]byte{0x20, 6, 0, 0x10, 7, 1, 2, 7, 0, 2, 5, 0, 5, 5, 0, 6, 1, 0})
	f.Add([]byte{0, 3, 8, 3, 3, 4, 3, 3, 8, 4, 1, 0})
	f.Add([]byte("087280720000")) // an index skipped before a Get
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(3)
		m := &model{files: map[string]modelFile{}, dirs: map[string]bool{}}
		for len(data) >= 3 {
			b0, b1, b2 := data[0], data[1], data[2]
			data = data[3:]
			raw := fuzzKeys[int(b1)%len(fuzzKeys)]
			key := normalize(raw)
			value := fuzzValues[int(b2&3)%len(fuzzValues)]
			exp := fuzzExpirations[int(b2>>2&3)%len(fuzzExpirations)]
			prevValue := fuzzValues[int(b2>>4&3)%len(fuzzValues)]

			if b0&0x20 != 0 {
				if _, err := s.Set(raw, value, exp, m.index); err != ErrAlreadyApplied {
					t.Fatalf("replay at %d: %v, want ErrAlreadyApplied", m.index, err)
				}
			}
			if op := b0 & 7; op == 4 || op == 7 {
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

			m.index++
			if b0&0x10 != 0 {
				m.index++
			}
			watcher, _ := s.Watch("/", 0)
			var got, want *Event
			var err error
			var wantCode int
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

			if c := errorCode(err); c != wantCode {
				t.Fatalf("op %d on %q at %d: error %v, want code %d", b0&7, raw, m.index, err, wantCode)
			}
			if g, w := marshal(t, got), marshal(t, want); g != w {
				t.Fatalf("op %d on %q at %d: event %s, want %s", b0&7, raw, m.index, g, w)
			}
			if s.Index() != m.index {
				t.Fatalf("Index() = %d, want %d", s.Index(), m.index)
			}
			if delivered, _ := received(watcher); delivered != got {
				t.Fatalf("op %d on %q: watcher got %v, want %v", b0&7, raw, delivered, got)
			}
			watcher.Remove()
		}

		for key, f := range m.files {
			events, _, err := s.Get(key)
			if err != nil || events[0].Value != f.value {
				t.Fatalf("Get(%q) = %v, %v; want value %q", key, events, err, f.value)
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
	})
}
