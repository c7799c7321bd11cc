package faults

import (
	"reflect"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// These check the use of the members' record of the writes (their watch
// history): what it must agree with, and how it settles unknown outcomes.

// written is the record's event for a write of value to key over prev.
func written(index uint64, key, prev, value string) testnode.Event {
	return testnode.Event{Action: "SET", Key: key, PrevValue: prev, Value: value, NewKey: prev == "", Index: index}
}

// acked is an operation with a definite answer, at index when it wrote.
func acked(in regInput, out regOutput, index uint64) *record {
	return &record{in: in, out: out, call: 1, ret: 2, meta: opMeta{Index: index}}
}

// pending is an operation of unknown outcome.
func pending(in regInput) *record {
	return &record{in: in, out: unsure(), call: 1, ret: -1}
}

func TestCheckRecord(t *testing.T) {
	goodRecord := []testnode.Event{
		written(5, "/lin/k0", "", "a"),
		written(6, "/lin/k0", "a", "b"),
		written(7, "/lin/k1", "", "c"),
		written(8, "/lin/k0", "b", "d"),
	}
	goodOps := []*record{
		acked(set("/lin/k0", "a"), got(""), 5),
		acked(cas("/lin/k0", "a", "b"), casOK(), 6),
		pending(set("/lin/k1", "c")),      // committed
		pending(cas("/lin/k0", "b", "d")), // committed
		pending(set("/lin/k1", "e")),      // never committed
		acked(cas("/lin/k0", "q", "z"), casFail(101), 0),
		acked(cas("/lin/k2", "q", "y"), casFail(100), 0),
		acked(rd("/lin/k0"), got("b"), 6),
	}
	goodUnsent := []regInput{set("/lin/k1", "f")}
	if bad := checkRecord(goodRecord, &workload{records: goodOps, unsent: goodUnsent}); len(bad) != 0 {
		t.Fatalf("a record that fits what the clients saw was rejected: %q", bad)
	}

	with := func(base []testnode.Event, extra ...testnode.Event) []testnode.Event {
		return append(append([]testnode.Event(nil), base...), extra...)
	}
	replaced := func(i int, e testnode.Event) []testnode.Event {
		rec := with(goodRecord)
		rec[i] = e
		return rec
	}
	cases := []struct {
		name   string
		rec    []testnode.Event
		ops    []*record
		unsent []regInput
		want   string // a piece of the complaint
	}{
		{name: "a delete", rec: with(goodRecord, testnode.Event{Action: "DELETE", Key: "/lin/k0", PrevValue: "d", Index: 9}), want: "unexpected event"},
		{name: "a directory", rec: with(goodRecord, testnode.Event{Action: "SET", Key: "/lin/k3", Dir: true, Index: 9}), want: "unexpected event"},
		{name: "an empty value", rec: with(goodRecord, written(9, "/lin/k3", "", "")), want: "unexpected event"},
		{name: "a broken chain", rec: replaced(1, written(6, "/lin/k0", "x", "b")), want: "does not follow"},
		{name: "a second new key", rec: replaced(3, written(8, "/lin/k0", "", "d")), want: "does not follow"},
		{name: "an overwrite that claims a new key", rec: replaced(3, testnode.Event{Action: "SET", Key: "/lin/k0", PrevValue: "b", Value: "d", NewKey: true, Index: 8}), want: "does not follow"},
		{name: "a value written twice", rec: with(goodRecord, written(9, "/lin/k2", "", "a")), want: "written twice"},
		{name: "an acknowledged set missing", ops: []*record{acked(set("/lin/k1", "g"), got("c"), 9)}, want: "not in the history"},
		{name: "an acknowledged cas missing", ops: []*record{acked(cas("/lin/k1", "c", "h"), casOK(), 9)}, want: "not in the history"},
		{name: "an acknowledged write at another index", ops: []*record{acked(set("/lin/k0", "a"), got(""), 4)}, want: "at index 4 is in the history as"},
		{name: "an acknowledged write to another key", ops: []*record{acked(set("/lin/k2", "c"), got(""), 7)}, want: "is in the history as"},
		{name: "a set told another previous value", ops: []*record{acked(set("/lin/k0", "d"), got("a"), 8)}, want: "is in the history as"},
		{name: "a failed cas that took effect", ops: []*record{acked(cas("/lin/k0", "b", "d"), casFail(101), 0)}, want: "fail 101, yet it is in the history"},
		{name: "a refused write that took effect", unsent: []regInput{set("/lin/k1", "c")}, want: "refused before it was proposed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := tc.rec
			if rec == nil {
				rec = goodRecord
			}
			w := &workload{records: append(append([]*record(nil), goodOps...), tc.ops...), unsent: tc.unsent}
			bad := checkRecord(rec, w)
			if len(bad) == 0 {
				t.Fatalf("not caught")
			}
			if !strings.Contains(strings.Join(bad, "\n"), tc.want) {
				t.Errorf("complaints %q; want one about %q", bad, tc.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	rec := []testnode.Event{
		written(5, "/lin/k0", "", "a"),
		written(6, "/lin/k0", "a", "b"),
		written(7, "/lin/k0", "b", "c"),
	}
	const end = 100
	known := op(0, 0, 1, set("/lin/k0", "a"), got(""))
	raw := []porcupine.Operation{
		known,
		op(1, 2, end, set("/lin/k0", "b"), unsure()),      // committed at 6
		op(2, 2, end, cas("/lin/k0", "b", "c"), unsure()), // committed at 7
		op(3, 2, end, set("/lin/k0", "x"), unsure()),      // never committed
		op(4, 2, end, cas("/lin/k1", "", "a"), unsure()),  // its value went to another key
		op(5, 10, 11, rd("/lin/k0"), got("c")),
	}
	for i := range raw {
		raw[i].Metadata = opMeta{Member: "node1", Answer: "timeout"}
	}
	before := append([]porcupine.Operation(nil), raw...)

	out, res := resolve(raw, rec)
	if res != (resolution{committed: 2, absent: 2}) {
		t.Errorf("resolution %+v; want 2 committed, 2 absent", res)
	}
	want := []struct {
		client int
		out    regOutput
		index  uint64
	}{
		{0, got(""), 0},
		{1, got("a"), 6},
		{2, casOK(), 7},
		{5, got("c"), 0},
	}
	if len(out) != len(want) {
		t.Fatalf("resolved history has %d operations; want %d: %+v", len(out), len(want), out)
	}
	for i, w := range want {
		o := out[i]
		meta := o.Metadata.(opMeta)
		if o.ClientId != w.client || o.Output != w.out || meta.Index != w.index {
			t.Errorf("operation %d: client %d, %+v, index %d; want client %d, %+v, index %d", i, o.ClientId, o.Output, meta.Index, w.client, w.out, w.index)
		}
		if o.Input != before[w.client].Input || o.Call != before[w.client].Call || o.Return != before[w.client].Return {
			t.Errorf("operation %d: input or times changed: %+v, was %+v", i, o, before[w.client])
		}
	}
	if !reflect.DeepEqual(raw, before) {
		t.Errorf("resolve changed the raw history")
	}
	if !check(out) {
		t.Errorf("the resolved history of a linearizable run is not linearizable")
	}
}

// TestResolveKeepsViolationsVisible: resolving only narrows what the
// checker may assume, so a violation of the raw history stays one.
func TestResolveKeepsViolationsVisible(t *testing.T) {
	rec := []testnode.Event{written(5, "/lin/k0", "", "a")}
	raw := []porcupine.Operation{
		op(0, 0, 100, set("/lin/k0", "a"), unsure()),
		op(1, 10, 11, rd("/lin/k0"), got("a")),
		op(1, 20, 21, rd("/lin/k0"), got("")), // the committed write went missing
	}
	if check(raw) {
		t.Fatal("the raw history should already be illegal")
	}
	if out, _ := resolve(raw, rec); check(out) {
		t.Errorf("the resolved history hides the violation: %+v", out)
	}
}
