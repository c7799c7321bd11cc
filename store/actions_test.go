package store

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestByActionListsEveryOperationCounter gives each operation counter of
// V2Stats a value of its own and expects ByAction to show each once: a
// counter added without its line in ByAction would be missing from
// /metrics.
func TestByActionListsEveryOperationCounter(t *testing.T) {
	var st V2Stats
	v := reflect.ValueOf(&st).Elem()
	successes, failures := map[uint64]string{}, map[uint64]string{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.Uint64 || f.Name == "ExpireCount" {
			continue
		}
		value := uint64(1) << (2 * i)
		v.Field(i).SetUint(value)
		if strings.HasSuffix(f.Name, "Fail") {
			failures[value] = f.Name
		} else {
			successes[value] = f.Name
		}
	}
	seen := map[string]int{}
	actions := map[string]bool{}
	for _, a := range st.ByAction() {
		if actions[a.Action] {
			t.Errorf("action %q is listed twice", a.Action)
		}
		actions[a.Action] = true
		fail, ok := failures[a.Failed]
		if !ok {
			t.Errorf("action %q: failed count %d is no single counter", a.Action, a.Failed)
		}
		success, ok := successes[a.Total-a.Failed]
		if !ok {
			t.Errorf("action %q: success count %d is no single counter", a.Action, a.Total-a.Failed)
		}
		seen[fail]++
		seen[success]++
	}
	for _, name := range append(mapValues(successes), mapValues(failures)...) {
		if seen[name] != 1 {
			t.Errorf("V2Stats.%s shows %d times in ByAction, want once", name, seen[name])
		}
	}
}

func mapValues(m map[uint64]string) []string {
	var values []string
	for _, v := range m {
		values = append(values, v)
	}
	return values
}

// TestByActionCountsStoreCalls checks that each action counts the store's
// calls of its kind, of both APIs, the failed ones apart.
func TestByActionCountsStoreCalls(t *testing.T) {
	s := New(10)
	var position uint64
	next := func() uint64 { position++; return position }
	s.Set("/a", "1", time.Time{}, next())
	s.TestAndSet("/a", "1", "2", time.Time{}, next())
	s.TestAndSet("/a", "1", "3", time.Time{}, next())
	s.Apply(next(), []Write{{Op: OpV2Update, Key: "/a", Value: "4"}, {Op: OpV2Create, Key: "/a"}})
	s.Delete("/a", next())
	s.Delete("/a", next())
	s.Get("/a")
	got := map[string]ActionStats{}
	for _, a := range s.V2Stats().ByAction() {
		if a.Total > 0 {
			got[a.Action] = a
		}
	}
	want := map[string]ActionStats{
		V2Get:            {Action: V2Get, Read: true, Total: 1, Failed: 1},
		V2Set:            {Action: V2Set, Total: 1},
		V2CompareAndSwap: {Action: V2CompareAndSwap, Total: 2, Failed: 1},
		V2Update:         {Action: V2Update, Total: 1},
		V2Create:         {Action: V2Create, Total: 1, Failed: 1},
		V2Delete:         {Action: V2Delete, Total: 2, Failed: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ByAction = %+v, want %+v", got, want)
	}
}
