package faults

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// State-machine safety: once the cluster is quiet, every member must have
// applied the same writes at the same indexes. A v1 store keeps no index per
// key, but every member keeps the history of its writes (the watch
// history, -m events, large enough in these runs to hold them all), and
// the index of a key's last write is there. So each member's whole history
// is read and compared with the others', event by event (action, key,
// values, index), and its listing of the key space with what its history
// builds: the same keys, values and index of each key's last write on
// every member.

// historyScanners is how many ranges of one member's history are read at
// once.
const historyScanners = 4

// scanAll reads m's whole watch history, from index 1 through the event at
// index end (the last write of the run), oldest first.
func (c *cluster) scanAll(m *member, end uint64) ([]testnode.Event, error) {
	parts := make([][]testnode.Event, historyScanners)
	errs := make([]error, historyScanners)
	var wg sync.WaitGroup
	step := end/historyScanners + 1
	for i := range historyScanners {
		lo, hi := 1+uint64(i)*step, 1+uint64(i+1)*step
		if lo > end {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i], errs[i] = c.scanRange(m, lo, min(hi, end+1))
		}()
	}
	wg.Wait()
	var out []testnode.Event
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, parts[i]...)
	}
	return out, nil
}

// scanRange reads the events of m's history with lo <= index < hi. An
// event at or after hi exists (the run's last write is at hi-1 or later),
// so no watch waits.
func (c *cluster) scanRange(m *member, lo, hi uint64) ([]testnode.Event, error) {
	var out []testnode.Event
	for next := lo; next < hi; {
		e, err := c.watchOnce(m, "/", next)
		if err != nil {
			return nil, err
		}
		if e.Index < next {
			return nil, fmt.Errorf("%s: watch / index=%d answered an older event %+v", m.name, next, e)
		}
		if e.Index >= hi {
			break
		}
		out = append(out, e)
		next = e.Index + 1
	}
	return out, nil
}

// keyState is a key's value and the index of its last write.
type keyState struct {
	value string
	index uint64
}

// replay builds the files of the key space from a history.
func replay(events []testnode.Event) (map[string]keyState, error) {
	state := map[string]keyState{}
	for _, e := range events {
		switch e.Action {
		case "SET":
			state[e.Key] = keyState{e.Value, e.Index}
		case "DELETE":
			for k := range state {
				if k == e.Key || strings.HasPrefix(k, e.Key+"/") {
					delete(state, k)
				}
			}
		default:
			return nil, fmt.Errorf("event %+v: a write these runs do not make", e)
		}
	}
	return state, nil
}

// storeCheck is what the comparison of the members' stores found: each
// live member's listing and history, and whether they all agree.
type storeCheck struct {
	live      []*member
	trees     []map[string]string
	histories [][]testnode.Event
	keys      int
	read, ok  bool
}

func (s storeCheck) String() string {
	switch {
	case !s.read:
		return "not compared: the members' stores could not be read (see the errors)"
	case !s.ok:
		return fmt.Sprintf("the %d members' stores DIFFER (see the errors)", len(s.live))
	}
	return fmt.Sprintf("the same on all %d members: %d keys with their values and the index of each one's last write, %d events of history",
		len(s.live), s.keys, len(s.histories[0]))
}

// compareStores reads every live member's listing and history (through
// index end) and compares them; each difference is a test error.
func compareStores(t *testing.T, c *cluster, end uint64) storeCheck {
	t.Helper()
	live := c.live()
	trees := make([]map[string]string, len(live))
	histories := make([][]testnode.Event, len(live))
	errs := make([]error, len(live))
	res := storeCheck{live: live}
	var wg sync.WaitGroup
	for i, m := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if trees[i], _, errs[i] = c.tree(m); errs[i] == nil {
				histories[i], errs[i] = c.scanAll(m, end)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("stores: %v", err)
			return res
		}
	}
	res.read, res.ok = true, true
	res.trees, res.histories = trees, histories
	states := make([]map[string]keyState, len(live))
	for i, m := range live {
		var err error
		if states[i], err = replay(histories[i]); err != nil {
			t.Errorf("stores: %s: %v", m.name, err)
			res.ok = false
			continue
		}
		if diff := listingDiff(trees[i], states[i], 10); len(diff) > 0 {
			t.Errorf("stores: %s's listing differs from what its own history builds in %d keys, among them:\n  %s",
				m.name, len(diff), strings.Join(diff, "\n  "))
			res.ok = false
		}
	}
	for i := 1; i < len(live); i++ {
		if msg := historyDiff(histories[0], histories[i]); msg != "" {
			t.Errorf("STATE-MACHINE SAFETY: %s and %s applied different writes: %s", live[0].name, live[i].name, msg)
			res.ok = false
		}
		if diff := treeDiff(trees[0], trees[i], 10); len(diff) > 0 {
			t.Errorf("STATE-MACHINE SAFETY: %s and %s disagree in %d keys, among them:\n  %s",
				live[0].name, live[i].name, len(diff), strings.Join(diff, "\n  "))
			res.ok = false
		}
	}
	res.keys = len(states[0])
	return res
}

// listingDiff lists the files whose value in a listing differs from the
// state a history builds.
func listingDiff(tree map[string]string, state map[string]keyState, limit int) []string {
	files := map[string]string{}
	for k, v := range tree {
		if v != "<dir>" {
			files[k] = v
		}
	}
	built := map[string]string{}
	for k, s := range state {
		built[k] = s.value
	}
	return treeDiff(files, built, limit)
}

// historyDiff says where two histories first differ; "" when they do not.
func historyDiff(a, b []testnode.Event) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("event %d of their histories is %+v on one, %+v on the other", i, a[i], b[i])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d events against %d", len(a), len(b))
	}
	return ""
}

// eventsUnder is the events of a history on keys below prefix.
func eventsUnder(history []testnode.Event, prefix string) []testnode.Event {
	var out []testnode.Event
	for _, e := range history {
		if strings.HasPrefix(e.Key, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// sortedKeys lists a map's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
