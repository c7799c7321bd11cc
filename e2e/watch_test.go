package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

func TestWatch(t *testing.T) {
	t.Parallel()

	// One node for everything that needs a quiet store: the watcher counts
	// are the node's own.
	t.Run("node", func(t *testing.T) {
		t.Parallel()
		n := startNode(t, "watch")
		watchHistory(t, n)
		watchPrefix(t, n)
		watchAbandoned(t, n)
		watchExpiry(t, n)
	})

	t.Run("outdated history", func(t *testing.T) {
		t.Parallel()
		n := startNode(t, "watch-m2", "-m", "2")
		var writes []testnode.Event
		for i := 1; i <= 5; i++ {
			writes = append(writes, n.set(fmt.Sprintf("/k%d", i), "v"))
		}
		// Index 1 left the two-event history long ago.
		r := n.do(http.MethodPost, "/v1/watch/k1", form("index", "1"))
		if r.Elapsed > 2*time.Second {
			t.Fatalf("an outdated watch took %v; it must answer at once", r.Elapsed)
		}
		e := expectError(t, r, http.StatusBadRequest, 401)
		if e.Cause == "" {
			t.Fatalf("%v: want a cause", r)
		}
		// So did the first write of the five.
		expectError(t, n.do(http.MethodPost, "/v1/watch/", form("index", fmt.Sprint(writes[0].Index))), http.StatusBadRequest, 401)
		// The last write is still held.
		last := writes[4]
		r = n.do(http.MethodPost, "/v1/watch/k5", form("index", fmt.Sprint(last.Index)))
		got := expectEvent(t, r)
		if got != last {
			t.Fatalf("watch from the last write's index: %+v, want %+v", got, last)
		}
	})
}

// watchHistory: a POST watch with an index is answered from the history with
// the first matching write at or after it, or waits for the next one.
func watchHistory(t *testing.T, n *node) {
	a := n.set("/hist/a", "1")
	n.set("/other", "x")
	b := n.set("/hist/b", "2")
	n.set("/other", "y")

	for _, c := range []struct {
		index uint64
		want  testnode.Event
	}{
		{a.Index, a},
		{a.Index + 1, b},
		{b.Index, b},
	} {
		r := n.do(http.MethodPost, "/v1/watch/hist", form("index", fmt.Sprint(c.index)))
		if r.Elapsed > 2*time.Second {
			t.Fatalf("POST /v1/watch/hist index=%d took %v; history answers at once", c.index, r.Elapsed)
		}
		if got := expectEvent(t, r); got != c.want {
			t.Fatalf("POST /v1/watch/hist index=%d: %+v, want %+v", c.index, got, c.want)
		}
	}
	// The whole key space, from the first write.
	if got := expectEvent(t, n.do(http.MethodPost, "/v1/watch/", form("index", fmt.Sprint(a.Index)))); got != a {
		t.Fatalf("POST /v1/watch/ index=%d: %+v, want %+v", a.Index, got, a)
	}
	// Deletes are events too.
	del := expectEvent(t, n.do(http.MethodDelete, "/v1/keys/hist/a", nil))
	if got := expectEvent(t, n.do(http.MethodPost, "/v1/watch/hist/a", form("index", fmt.Sprint(a.Index+1)))); got != del {
		t.Fatalf("watch of /hist/a after its set: %+v, want the delete %+v", got, del)
	}

	// Nothing matching after the index: the watch waits for the next write.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := n.watch(ctx, "/hist", form("index", fmt.Sprint(del.Index+1)))
	n.waitWatchers(1, 5*time.Second)
	select {
	case res := <-ch:
		t.Fatalf("a watch with nothing to report answered: %v %v", res.resp, res.err)
	default:
	}
	n.set("/other", "z")
	c := n.set("/hist/c", "3")
	if got := expectEvent(t, awaitWatch(t, ch, 5*time.Second, "POST /v1/watch/hist")); got != c {
		t.Fatalf("waiting watch got %+v, want %+v", got, c)
	}
	n.waitWatchers(0, 5*time.Second)
}

// watchPrefix: /foo covers /foo and /foo/x, not /foobar.
func watchPrefix(t *testing.T, n *node) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := n.watch(ctx, "/foo", nil)
	self := n.watch(ctx, "/foo/x", nil)
	n.waitWatchers(2, 5*time.Second)
	foobar := n.set("/foobar", "no")
	n.set("/fo", "no")
	x := n.set("/foo/x", "yes")
	if got := expectEvent(t, awaitWatch(t, ch, 5*time.Second, "GET /v1/watch/foo")); got != x {
		t.Fatalf("GET /v1/watch/foo: %+v, want %+v (and never /foobar)", got, x)
	}
	if got := expectEvent(t, awaitWatch(t, self, 5*time.Second, "GET /v1/watch/foo/x")); got != x {
		t.Fatalf("GET /v1/watch/foo/x: %+v, want %+v", got, x)
	}
	// One write reaches every watcher of it.
	const fan = 50
	chans := make([]<-chan watchResult, fan)
	for i := range chans {
		chans[i] = n.watch(ctx, "/fan", nil)
	}
	n.waitWatchers(fan, 5*time.Second)
	fanSet := n.set("/fan/out", "all")
	for i, ch := range chans {
		if got := expectEvent(t, awaitWatch(t, ch, 5*time.Second, fmt.Sprintf("watcher %d of /fan", i))); got != fanSet {
			t.Fatalf("watcher %d of /fan: %+v, want %+v", i, got, fanSet)
		}
	}

	// The history is searched the same way.
	r := n.do(http.MethodPost, "/v1/watch/foo", form("index", fmt.Sprint(foobar.Index)))
	if got := expectEvent(t, r); got != x {
		t.Fatalf("POST /v1/watch/foo index=%d: %+v, want %+v", foobar.Index, got, x)
	}
	n.waitWatchers(0, 5*time.Second)
}

// watchAbandoned: a client that goes away releases its watcher.
func watchAbandoned(t *testing.T, n *node) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := n.watch(ctx, "/abandoned", nil)
	n.waitWatchers(1, 5*time.Second)
	cancel()
	<-ch
	n.waitWatchers(0, 5*time.Second)

	const many = 200
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for i := range many {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f url.Values
			if i%2 == 1 {
				f = form("index", "0") // POST watches too
			}
			res := <-n.watch(ctx, fmt.Sprintf("/abandoned/%d", i), f)
			if res.err == nil {
				t.Errorf("an abandoned watch answered: %v", res.resp)
			}
		}()
	}
	n.waitWatchers(many, 15*time.Second)
	cancel()
	wg.Wait()
	n.waitWatchers(0, 10*time.Second)

	// A write nobody watches any more still works.
	n.set("/abandoned/0", "x")
	if w := n.watchers(); w != 0 {
		t.Fatalf("%d watchers after the write", w)
	}
}

// watchExpiry: an expiry reaches a watcher as a DELETE with the old value
// and the expiration.
func watchExpiry(t *testing.T, n *node) {
	set := n.set("/exp", "bar", "ttl", "2")
	if set.Expiration == "" {
		t.Fatalf("set with ttl=2 has no expiration: %+v", set)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := n.watch(ctx, "/exp", nil)
	n.waitWatchers(1, time.Second)
	r := awaitWatch(t, ch, 5*time.Second, "GET /v1/watch/exp across the expiry")
	receivedAt := time.Now()
	e := expectEvent(t, r)
	if exp, _ := time.Parse(time.RFC3339Nano, set.Expiration); receivedAt.Before(exp) || receivedAt.After(exp.Add(time.Second)) {
		t.Errorf("the expiry of /exp reached its watcher at %v, want within 1 s after its expiration %v (SPEC 3)", receivedAt, exp)
	}
	want := testnode.Event{Action: "DELETE", Key: "/exp", PrevValue: "bar", Expiration: e.Expiration}
	sameEvent(t, "expiry of /exp", e, want)
	if !sameInstant(e.Expiration, set.Expiration) {
		t.Fatalf("expiry of /exp: expiration %s, want the key's %s", e.Expiration, set.Expiration)
	}
	if e.Index <= set.Index {
		t.Fatalf("expiry of /exp at index %d, not after its set at %d", e.Index, set.Index)
	}
	if want := fmt.Sprintf(`{"action":"DELETE","key":"/exp","prevValue":"bar","expiration":"%s","index":%d}`, e.Expiration, e.Index); string(r.Body) != want {
		t.Fatalf("expiry event:\n got  %s\n want %s", r.Body, want)
	}
	// It is in the history too.
	if got := expectEvent(t, n.do(http.MethodPost, "/v1/watch/exp", form("index", fmt.Sprint(set.Index+1)))); got != e {
		t.Fatalf("the expiry from the history: %+v, want %+v", got, e)
	}
	expectError(t, n.do(http.MethodGet, "/v1/keys/exp", nil), http.StatusNotFound, 100)
}
