package faults

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// These check the checker itself, on small made-up histories: what it must
// accept and what it must catch.

func op(client int, call, ret int64, in regInput, out regOutput) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func rd(key string) regInput             { return regInput{Kind: opRead, Key: key} }
func set(key, v string) regInput         { return regInput{Kind: opSet, Key: key, Value: v} }
func cas(key, prev, v string) regInput   { return regInput{Kind: opCAS, Key: key, Prev: prev, Value: v} }
func got(v string) regOutput             { return regOutput{Value: v} }
func casOK() regOutput                   { return regOutput{OK: true} }
func casFail(code int) regOutput         { return regOutput{Code: code} }
func unsure() regOutput                  { return regOutput{Unknown: true} }
func check(h []porcupine.Operation) bool { return porcupine.CheckOperations(registerModel, h) }

func TestModelAcceptsLinearizableHistories(t *testing.T) {
	cases := map[string][]porcupine.Operation{
		"sequential": {
			op(0, 0, 1, rd("a"), got("")),
			op(0, 2, 3, set("a", "x"), got("")),
			op(0, 4, 5, rd("a"), got("x")),
			op(0, 6, 7, cas("a", "x", "y"), casOK()),
			op(0, 8, 9, cas("a", "x", "z"), casFail(101)),
			op(0, 10, 11, set("a", "w"), got("y")),
			op(0, 12, 13, cas("b", "q", "r"), casFail(100)),
			op(0, 14, 15, cas("b", "", "r"), casOK()),
		},
		"concurrent set and reads": {
			op(0, 0, 10, set("a", "x"), got("")),
			op(1, 1, 2, rd("a"), got("x")),
			op(2, 3, 4, rd("a"), got("x")),
		},
		"unknown write that took effect late": {
			op(0, 0, 100, set("a", "x"), unsure()),
			op(1, 10, 11, rd("a"), got("")),
			op(1, 50, 51, rd("a"), got("x")),
		},
		"unknown write that never took effect": {
			op(0, 0, 100, set("a", "x"), unsure()),
			op(1, 10, 11, set("a", "y"), got("")),
			op(1, 50, 51, rd("a"), got("y")),
		},
		"unknown cas either way": {
			op(0, 0, 100, cas("a", "", "x"), unsure()),
			op(1, 10, 11, rd("a"), got("x")),
			op(2, 0, 100, cas("a", "q", "z"), unsure()),
			op(1, 20, 21, rd("a"), got("x")),
		},
	}
	for name, h := range cases {
		if !check(h) {
			t.Errorf("%s: a linearizable history was rejected", name)
		}
	}
}

func TestModelCatchesViolations(t *testing.T) {
	cases := map[string][]porcupine.Operation{
		"stale read": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(0, 2, 3, set("a", "y"), got("x")),
			op(1, 4, 5, rd("a"), got("x")),
		},
		"lost acknowledged write": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(1, 2, 3, rd("a"), got("")),
		},
		"read of a value never written": {
			op(1, 2, 3, rd("a"), got("ghost")),
		},
		"double cas success": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(1, 2, 10, cas("a", "x", "y"), casOK()),
			op(2, 2, 10, cas("a", "x", "z"), casOK()),
		},
		"cas failure on a matching value": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(1, 2, 3, cas("a", "x", "y"), casFail(101)),
		},
		"wrong failure code": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(1, 2, 3, cas("a", "q", "y"), casFail(100)),
		},
		"set reports a wrong previous value": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(1, 2, 3, set("a", "y"), got("")),
		},
		"value flips back": {
			op(0, 0, 1, set("a", "x"), got("")),
			op(0, 2, 3, set("a", "y"), got("x")),
			op(1, 4, 5, rd("a"), got("y")),
			op(1, 6, 7, rd("a"), got("x")),
		},
		"unknown write cannot explain an earlier read": {
			op(0, 5, 100, set("a", "x"), unsure()),
			op(1, 0, 1, rd("a"), got("x")),
		},
	}
	for name, h := range cases {
		res, info := porcupine.CheckOperationsVerbose(registerModel, h, 5*time.Second)
		if res != porcupine.Illegal {
			t.Errorf("%s: want Illegal, got %s", name, res)
			continue
		}
		// The visualization must render for such a history.
		path := t.TempDir() + "/v.html"
		if err := porcupine.VisualizePath(registerModel, info, path); err != nil {
			t.Errorf("%s: visualize: %v", name, err)
		}
	}
}

func TestIndexOrder(t *testing.T) {
	good := []indexedOp{
		{call: 0, ret: 10, index: 5, write: true, desc: "w1"},
		{call: 1, ret: 3, index: 4, write: true, desc: "w2"}, // concurrent with w1
		{call: 11, ret: 12, index: 5, desc: "r1"},            // read after w1: >= 5
		{call: 13, ret: 14, index: 6, write: true, desc: "w3"},
	}
	if v, n := checkIndexOrder(good, 10); n != 0 {
		t.Errorf("good history: %v", v)
	}
	bad := map[string][]indexedOp{
		"duplicate": {
			{call: 0, ret: 1, index: 5, write: true, desc: "w1"},
			{call: 0, ret: 1, index: 5, write: true, desc: "w2"},
		},
		"write goes back": {
			{call: 0, ret: 1, index: 5, write: true, desc: "w1"},
			{call: 2, ret: 3, index: 4, write: true, desc: "w2"},
		},
		"stale read index": {
			{call: 0, ret: 1, index: 5, write: true, desc: "w1"},
			{call: 2, ret: 3, index: 4, desc: "r1"},
		},
		"write at the index of an earlier read": {
			{call: 0, ret: 1, index: 5, desc: "r1"},
			{call: 2, ret: 3, index: 5, write: true, desc: "w1"},
		},
	}
	for name, ops := range bad {
		if _, n := checkIndexOrder(ops, 10); n == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
}
