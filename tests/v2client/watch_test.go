package v2client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
	"go.etcd.io/etcd/client/v2"
)

// wantEvent is what a watcher should report: an action on a key, with a
// value (none for deletes) and the index of the write.
type wantEvent struct {
	action, key, value string
	index              uint64
}

// nextEvents takes n events from w and checks them against want.
func nextEvents(t *testing.T, what string, w client.Watcher, want ...wantEvent) {
	t.Helper()
	for i, we := range want {
		ev := must(t, fmt.Sprintf("%s: event %d", what, i+1))(w.Next(ctxT(t)))
		if ev.Action != we.action || ev.Node == nil || ev.Node.Key != we.key || ev.Node.Value != we.value || ev.Node.ModifiedIndex != we.index {
			t.Fatalf("%s: event %d is %q %v, want %q %s=%q at index %d", what, i+1, ev.Action, ev.Node, we.action, we.key, we.value, we.index)
		}
	}
}

// TestWatcher: the client's Watcher from a past index (AfterIndex), on a
// key and recursively on a directory, and live with several events in a
// row; deleting a directory wakes a watcher on a key below it.
func TestWatcher(t *testing.T) {
	t.Parallel()
	m := startNode(t)
	kapi := keysOf(t, m.clientURL())

	a1 := must(t, "Set /w/a")(kapi.Set(ctxT(t), "/w/a", "1", nil))
	b2 := must(t, "Set /w/b")(kapi.Set(ctxT(t), "/w/b", "2", nil))
	a3 := must(t, "Set /w/a again")(kapi.Set(ctxT(t), "/w/a", "3", nil))
	db := must(t, "Delete /w/b")(kapi.Delete(ctxT(t), "/w/b", nil))
	q := must(t, "CreateInOrder /w/q")(kapi.CreateInOrder(ctxT(t), "/w/q", "job", nil))

	// From the history, everything after a1, in order.
	nextEvents(t, "recursive watcher on /w after the first set",
		kapi.Watcher("/w", &client.WatcherOptions{AfterIndex: a1.Node.ModifiedIndex, Recursive: true}),
		wantEvent{"set", "/w/b", "2", b2.Node.ModifiedIndex},
		wantEvent{"set", "/w/a", "3", a3.Node.ModifiedIndex},
		wantEvent{"delete", "/w/b", "", db.Node.ModifiedIndex},
		wantEvent{"create", q.Node.Key, "job", q.Node.ModifiedIndex})
	// A watcher on a key skips its siblings' events.
	nextEvents(t, "watcher on /w/a after the first set",
		kapi.Watcher("/w/a", &client.WatcherOptions{AfterIndex: a1.Node.ModifiedIndex}),
		wantEvent{"set", "/w/a", "3", a3.Node.ModifiedIndex})

	// Live: the first call waits from the index after the current one; the
	// following ones go on from the last event, so none is lost between
	// two calls.
	live := kapi.Watcher("/live", &client.WatcherOptions{Recursive: true})
	events := make(chan *client.Response, 5)
	errs := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
	defer cancel()
	go func() {
		for range cap(events) {
			ev, err := live.Next(ctx)
			if err != nil {
				errs <- err
				return
			}
			events <- ev
		}
	}()
	waitWatchers(t, m, 1)
	var want []wantEvent
	for i := range cap(events) {
		key, value := fmt.Sprintf("/live/k%d", i%2), fmt.Sprint(i)
		r := must(t, "Set "+key)(kapi.Set(ctxT(t), key, value, nil))
		want = append(want, wantEvent{"set", key, value, r.Node.ModifiedIndex})
	}
	for i, we := range want {
		select {
		case ev := <-events:
			if ev.Action != we.action || ev.Node.Key != we.key || ev.Node.Value != we.value || ev.Node.ModifiedIndex != we.index {
				t.Fatalf("live watcher: event %d is %q %v, want %+v", i+1, ev.Action, ev.Node, we)
			}
		case err := <-errs:
			t.Fatalf("live watcher: event %d: %v", i+1, err)
		case <-ctx.Done():
			t.Fatalf("live watcher: no event %d", i+1)
		}
	}

	// A non-recursive watcher on a dir is not woken by its children, but
	// is by the dir's own delete, and so is a watcher on a key below it.
	now := must(t, "Get /w")(kapi.Get(ctxT(t), "/w", nil)).Index
	onDir := kapi.Watcher("/w", &client.WatcherOptions{AfterIndex: now})
	below := kapi.Watcher("/w/a", &client.WatcherOptions{AfterIndex: now})
	must(t, "Set /w/c")(kapi.Set(ctxT(t), "/w/c", "child", nil))
	del := must(t, "Delete /w")(kapi.Delete(ctxT(t), "/w", &client.DeleteOptions{Recursive: true}))
	for name, w := range map[string]client.Watcher{"non-recursive watcher on /w": onDir, "watcher on /w/a": below} {
		ev := must(t, name)(w.Next(ctxT(t)))
		if ev.Action != "delete" || ev.Node.Key != "/w" || !ev.Node.Dir || ev.Node.ModifiedIndex != del.Node.ModifiedIndex {
			t.Fatalf("%s: got %q %v, want the delete of /w at %d", name, ev.Action, ev.Node, del.Node.ModifiedIndex)
		}
	}
}

// TestWatcherHistoryCleared: a watcher from an index older than the
// history's 1000 events gets error 401, and can go on from the index a
// Get reports.
func TestWatcherHistoryCleared(t *testing.T) {
	t.Parallel()
	m := startNode(t)
	kapi := keysOf(t, m.clientURL())
	first := must(t, "Set")(kapi.Set(ctxT(t), "/h/first", "x", nil))
	// 1200 writes: more than the history holds, 1000 events in etcd 3.5
	// and 1024 here (-m). Writers in parallel fill it sooner than one.
	const writers, each = 8, 150
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			for i := range each {
				if _, err := kapi.Set(ctxT(t), fmt.Sprintf("/h/%d", w), fmt.Sprint(i), nil); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatalf("filling the history: %v", err)
		}
	}
	_, err := kapi.Watcher("/h", &client.WatcherOptions{AfterIndex: first.Node.ModifiedIndex - 1, Recursive: true}).Next(ctxT(t))
	e := wantError(t, "watcher from before the history", err, client.ErrorCodeEventIndexCleared, "")
	if e.Message != "The event in requested index is outdated and cleared" {
		t.Fatalf("error 401 has message %q", e.Message)
	}
	g := must(t, "Get /h")(kapi.Get(ctxT(t), "/h", nil))
	w := kapi.Watcher("/h", &client.WatcherOptions{AfterIndex: g.Index, Recursive: true})
	r := must(t, "Set after the Get")(kapi.Set(ctxT(t), "/h/last", "y", nil))
	nextEvents(t, "watcher from the Get's index", w, wantEvent{"set", "/h/last", "y", r.Node.ModifiedIndex})
}

// waitWatchers polls /v2/stats/store until the member reports want
// watchers.
func waitWatchers(t *testing.T, m *member, want int) {
	t.Helper()
	hc := testnode.NewClient(testnode.NewTransport(), time.Second)
	testnode.WaitFor(t, requestTimeout, fmt.Sprintf("%s to report %d watchers", m.name, want), func() (bool, string) {
		r, err := hc.Get(m.clientURL() + "/v2/stats/store")
		if err != nil {
			return false, err.Error()
		}
		defer r.Body.Close()
		var stats struct {
			Watchers *int `json:"watchers"`
		}
		if err := json.NewDecoder(r.Body).Decode(&stats); err != nil || r.StatusCode != http.StatusOK || stats.Watchers == nil {
			return false, fmt.Sprintf("GET /v2/stats/store: %s, %v", r.Status, err)
		}
		return *stats.Watchers == want, fmt.Sprintf("%d watchers", *stats.Watchers)
	})
}
