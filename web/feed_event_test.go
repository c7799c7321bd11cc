package web

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/store"
)

// pageEvent is an event as the page reads it.
type pageEvent struct {
	Index    uint64    `json:"index"`
	Action   string    `json:"action"`
	Node     *pageNode `json:"node"`
	PrevNode *pageNode `json:"prevNode"`
}

type pageNode struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	Dir           bool    `json:"dir"`
	Expiration    *string `json:"expiration"`
	ModifiedIndex uint64  `json:"modifiedIndex"`
	CreatedIndex  uint64  `json:"createdIndex"`
}

func (e pageEvent) String() string {
	s := fmt.Sprintf("%d %s %s", e.Index, e.Action, e.Node.Key)
	if e.Node.Dir {
		s += "/"
	}
	if e.Node.Value != nil {
		s += "=" + *e.Node.Value
	}
	if e.Node.Expiration != nil {
		s += " ttl"
	}
	s += fmt.Sprintf(" c%d m%d", e.Node.CreatedIndex, e.Node.ModifiedIndex)
	if p := e.PrevNode; p != nil && p.Value != nil {
		s += " was " + *p.Value
	}
	return s
}

// v2Writes are writes of both APIs, each at the next index, and the events
// the page must receive for them: v2's action names, node and prevNode.
var v2Writes = []struct {
	write store.Write
	want  string
}{
	{store.Write{Op: store.OpV2Set, Key: "/empty", V2: store.V2Write{Dir: true}}, "1 set /empty/ c1 m1"},
	{store.Write{Op: store.OpV2Create, Key: "/session", Expiration: time.Now().Add(time.Hour), V2: store.V2Write{Dir: true}}, "2 create /session/ ttl c2 m2"},
	{store.Write{Op: store.OpV2Create, Key: "/a", Value: "1"}, "3 create /a=1 c3 m3"},
	{store.Write{Op: store.OpV2CompareAndSwap, Key: "/a", Value: "2", PrevValue: "1"}, "4 compareAndSwap /a=2 c3 m4 was 1"},
	{store.Write{Op: store.OpV2Update, Key: "/a", Value: "3"}, "5 update /a=3 c3 m5 was 2"},
	{store.Write{Op: store.OpV2CreateInOrder, Key: "/queue", Value: "job"}, "6 create /queue/00000000000000000006=job c6 m6"},
	{store.Write{Op: store.OpV2CompareAndDelete, Key: "/a", PrevValue: "3"}, "7 compareAndDelete /a c3 m7 was 3"},
	{store.Write{Op: store.OpSet, Key: "/v1", Value: "x"}, "8 set /v1=x c8 m8"},
	{store.Write{Op: store.OpTestAndSet, Key: "/v1", Value: "y", PrevValue: "x"}, "9 compareAndSwap /v1=y c8 m9 was x"},
	{store.Write{Op: store.OpDelete, Key: "/v1"}, "10 delete /v1 c8 m10 was y"},
	{store.Write{Op: store.OpV2Delete, Key: "/session", V2: store.V2Write{Dir: true}}, "11 delete /session/ c2 m11"},
}

func applyV2Writes(t *testing.T, st *store.Store) {
	t.Helper()
	for i, w := range v2Writes {
		results, err := st.Apply(uint64(i+1), []store.Write{w.write})
		if err == nil {
			err = results[0].Err
		}
		if err != nil {
			t.Fatalf("write %d %+v: %v", i+1, w.write, err)
		}
	}
}

// The stream shows each write, of either API, as v2 shows it, with its
// index.
func TestStreamShowsV2Actions(t *testing.T) {
	f := newFixture(t, 100)
	applyV2Writes(t, f.store)
	s := f.follow("1")
	for _, w := range v2Writes {
		var got pageEvent
		e := s.next()
		if err := json.Unmarshal([]byte(e.data), &got); err != nil || got.Node == nil {
			t.Fatalf("event %q: %v", e.data, err)
		}
		if got.String() != w.want {
			t.Errorf("the stream sent %s\n(%s), want %s", got, e.data, w.want)
		}
	}
}

// A refresh, which moves a TTL on and wakes no watch, is in the stream,
// marked so: the page's tree shows the TTL as it is, its feed leaves the
// refresh out.
func TestStreamSendsRefreshes(t *testing.T) {
	f := newFixture(t, 100)
	t0 := time.Now().Add(time.Hour)
	for i, w := range []store.Write{
		{Op: store.OpV2Set, Key: "/lease", Value: "v", Expiration: t0},
		{Op: store.OpV2Update, Key: "/lease", Expiration: t0.Add(time.Hour), V2: store.V2Write{Refresh: true}},
	} {
		if _, err := f.store.Apply(uint64(i+1), []store.Write{w}); err != nil {
			t.Fatal(err)
		}
	}
	s := f.follow("2")
	var got struct {
		pageEvent
		Refresh bool `json:"refresh"`
	}
	if e := s.next(); json.Unmarshal([]byte(e.data), &got) != nil || got.Index != 2 || !got.Refresh || got.Node.Expiration == nil {
		t.Fatalf("the stream sent %q, want the refresh at 2, marked so", e.data)
	}
}
