package faults

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/anishathalye/porcupine"
)

// The model: one register per key, whose value is a string ("" when the key
// does not exist; clients never write ""). Operations:
//
//   - read: a consistent GET; returns the value, or "" for 404/100.
//   - set: POST value=V; returns the value it replaced (prevValue), ""
//     for a new key.
//   - cas: POST value=V prevValue=P; succeeds when the value is P (P ""
//     means "does not exist"), else fails with 100 (missing key) or 101.
//
// A write whose outcome is unknown (timeout, lost connection, error 300)
// may have taken effect or not: its output is "unknown", which the model
// accepts whatever the state, and its return time is after the end of the
// history, so it can be placed anywhere after it was invoked (at the very
// end is the same as never). Reads whose outcome is unknown are left out:
// they constrain nothing.

type opKind uint8

const (
	opRead opKind = iota
	opSet
	opCAS
)

func (k opKind) String() string {
	switch k {
	case opRead:
		return "read"
	case opSet:
		return "set"
	default:
		return "cas"
	}
}

type regInput struct {
	Kind  opKind `json:"kind"`
	Key   string `json:"key"`
	Value string `json:"value,omitempty"` // set, cas: the new value
	Prev  string `json:"prev,omitempty"`  // cas: the expected value
}

type regOutput struct {
	Unknown bool   `json:"unknown,omitempty"`
	OK      bool   `json:"ok,omitempty"`    // cas: succeeded
	Code    int    `json:"code,omitempty"`  // cas: the error code of a failure
	Value   string `json:"value,omitempty"` // read: the value; set, cas: the value replaced
}

func stepRegister(state, input, output any) (bool, any) {
	s := state.(string)
	in := input.(regInput)
	out := output.(regOutput)
	switch in.Kind {
	case opRead:
		return out.Value == s, s
	case opSet:
		if out.Unknown {
			return true, in.Value
		}
		return out.Value == s, in.Value
	default: // cas
		if out.Unknown {
			if s == in.Prev {
				return true, in.Value
			}
			return true, s
		}
		if out.OK {
			return s == in.Prev, in.Value
		}
		if s == in.Prev {
			return false, s
		}
		if s == "" {
			return out.Code == 100, s
		}
		return out.Code == 101, s
	}
}

func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(regInput).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	sort.Strings(keys)
	var out [][]porcupine.Operation
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

func describeOp(input, output any) string {
	in := input.(regInput)
	out := output.(regOutput)
	var call string
	switch in.Kind {
	case opRead:
		call = fmt.Sprintf("read(%s)", in.Key)
	case opSet:
		call = fmt.Sprintf("set(%s, %s)", in.Key, in.Value)
	default:
		call = fmt.Sprintf("cas(%s, %s→%s)", in.Key, describeValue(in.Prev), in.Value)
	}
	switch {
	case out.Unknown:
		return call + " → unknown"
	case in.Kind == opCAS && out.OK:
		return call + " → ok"
	case in.Kind == opCAS:
		return fmt.Sprintf("%s → fail %d", call, out.Code)
	case in.Kind == opSet:
		return call + " → was " + describeValue(out.Value)
	default:
		return call + " → " + describeValue(out.Value)
	}
}

func describeValue(v string) string {
	if v == "" {
		return "∅"
	}
	return v
}

// opMeta is what the visualization shows besides an operation.
type opMeta struct {
	Member string `json:"member,omitempty"` // the member that answered last
	Answer string `json:"answer,omitempty"` // status and error code, or the transport error
	Index  uint64 `json:"index,omitempty"`
}

func describeMeta(info any) string {
	m, ok := info.(opMeta)
	if !ok {
		return ""
	}
	parts := []string{}
	if m.Member != "" {
		parts = append(parts, m.Member)
	}
	if m.Answer != "" {
		parts = append(parts, m.Answer)
	}
	if m.Index != 0 {
		parts = append(parts, fmt.Sprintf("index %d", m.Index))
	}
	return strings.Join(parts, ", ")
}

var registerModel = porcupine.Model{
	Partition: partitionByKey,
	Init:      func() any { return "" },
	Step:      stepRegister,
	Equal:     func(a, b any) bool { return a.(string) == b.(string) },
	Hash: func(state any) uint64 {
		h := fnv.New64a()
		h.Write([]byte(state.(string)))
		return h.Sum64()
	},
	DescribeOperation:         describeOp,
	DescribeState:             func(state any) string { return describeValue(state.(string)) },
	DescribeOperationMetadata: describeMeta,
}

// ---------------------------------------------------------------------------
// Index order

// indexedOp is an operation whose answer carried the store index: an
// acknowledged write (its own index) or a consistent read (the index of the
// last write applied when it was served).
type indexedOp struct {
	call, ret int64
	index     uint64
	write     bool
	desc      string
}

// checkIndexOrder checks what raft indexes promise: two acknowledged writes
// never share an index, a write invoked after another returned has a
// higher index, and a read invoked after an operation returned reports at
// least that operation's index. It returns the violations found (at most
// limit).
func checkIndexOrder(ops []indexedOp, limit int) (violations []string, total int) {
	seen := map[uint64]string{}
	for _, op := range ops {
		if !op.write {
			continue
		}
		if other, dup := seen[op.index]; dup {
			total++
			if len(violations) < limit {
				violations = append(violations, fmt.Sprintf("index %d acknowledged twice: %s and %s", op.index, other, op.desc))
			}
		}
		seen[op.index] = op.desc
	}
	byCall := append([]indexedOp(nil), ops...)
	sort.Slice(byCall, func(i, j int) bool { return byCall[i].call < byCall[j].call })
	byRet := append([]indexedOp(nil), ops...)
	sort.Slice(byRet, func(i, j int) bool { return byRet[i].ret < byRet[j].ret })
	var maxIdx uint64
	var maxDesc string
	j := 0
	for _, op := range byCall {
		for j < len(byRet) && byRet[j].ret < op.call {
			if byRet[j].index > maxIdx {
				maxIdx, maxDesc = byRet[j].index, byRet[j].desc
			}
			j++
		}
		bad := op.index < maxIdx || (op.write && op.index == maxIdx)
		if bad {
			total++
			if len(violations) < limit {
				violations = append(violations, fmt.Sprintf("%s has index %d, but %s (index %d) had returned before it was invoked", op.desc, op.index, maxDesc, maxIdx))
			}
		}
	}
	return violations, total
}
