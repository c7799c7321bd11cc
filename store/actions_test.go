package store

import (
	"reflect"
	"testing"
	"time"
)

// TestByActionListsEveryOperationCounter gives each operation counter of
// Stats a value of its own and expects ByAction to show each once: a
// counter added without its line in ByAction would be missing from
// /metrics.
func TestByActionListsEveryOperationCounter(t *testing.T) {
	var st Stats
	v := reflect.ValueOf(&st).Elem()
	want := map[uint64]string{}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.Uint64 || f.Name == "Expires" {
			continue
		}
		value := uint64(i + 1)
		v.Field(i).SetUint(value)
		want[value] = f.Name
	}
	seen := map[uint64]int{}
	actions := map[string]bool{}
	for _, a := range st.ByAction() {
		if actions[a.Action] {
			t.Errorf("action %q is listed twice", a.Action)
		}
		actions[a.Action] = true
		seen[a.Total]++
		seen[a.Failed]++
	}
	for value, name := range want {
		if seen[value] != 1 {
			t.Errorf("Stats.%s shows %d times in ByAction, want once", name, seen[value])
		}
	}
}

// TestByActionCountsStoreCalls checks that each action counts the store's
// calls of its kind, the failed ones apart.
func TestByActionCountsStoreCalls(t *testing.T) {
	s := New(10)
	var position uint64
	next := func() uint64 { position++; return position }
	s.Set("/a", "1", time.Time{}, next())
	s.TestAndSet("/a", "1", "2", time.Time{}, next())
	s.TestAndSet("/a", "1", "3", time.Time{}, next())
	s.Delete("/a", next())
	s.Delete("/a", next())
	s.Get("/a")
	got := map[string]ActionStats{}
	for _, a := range s.Stats().ByAction() {
		got[a.Action] = a
	}
	want := map[string]ActionStats{
		"get":        {Action: "get", Read: true, Total: 1, Failed: 1},
		"set":        {Action: "set", Total: 1},
		"testAndSet": {Action: "testAndSet", Total: 2, Failed: 1},
		"delete":     {Action: "delete", Total: 2, Failed: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ByAction = %+v, want %+v", got, want)
	}
}
