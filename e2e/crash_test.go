package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// ack is a write the node acknowledged.
type ack struct {
	key, value string
	index      uint64
}

// ackOf checks that r acknowledges a SET that created key with value, and
// returns the acknowledgement; any other answer is a test error.
func ackOf(t testing.TB, r *testnode.Response, key, value string) (ack, bool) {
	t.Helper()
	var e testnode.Event
	if r.Status != http.StatusOK {
		t.Errorf("%v: want 200", r)
		return ack{}, false
	}
	if err := testnode.DecodeCanonical(r, &e); err != nil {
		t.Errorf("%v: %v", r, err)
		return ack{}, false
	}
	if e.Action != "SET" || e.Key != key || e.Value != value || !e.NewKey || e.PrevValue != "" || e.Index == 0 {
		t.Errorf("%v: want a SET of the new key %s to %s", r, key, value)
		return ack{}, false
	}
	return ack{key, value, e.Index}, true
}

// ackLog collects the writes that concurrent writers saw acknowledged.
type ackLog struct {
	mu       sync.Mutex
	acks     []ack
	progress func(acked int) // if not nil, called after each acknowledgement
}

func (l *ackLog) add(a ack) {
	l.mu.Lock()
	l.acks = append(l.acks, a)
	n := len(l.acks)
	l.mu.Unlock()
	if l.progress != nil {
		l.progress(n)
	}
}

func (l *ackLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

// sorted returns the acknowledged writes sorted by key.
func (l *ackLog) sorted() []ack {
	l.mu.Lock()
	defer l.mu.Unlock()
	sort.Slice(l.acks, func(i, j int) bool { return l.acks[i].key < l.acks[j].key })
	return l.acks
}

// writeKeys writes total keys prefix/kNNNN from workers concurrent clients
// and returns the acknowledged writes, sorted by key. A client stops at its
// first transport error (the node went away); any answer other than a
// successful SET of a new key is a test error. progress, if not nil, is
// called with the number of acknowledgements so far after each one.
func writeKeys(t *testing.T, n *node, prefix string, total, workers int, progress func(acked int)) []ack {
	t.Helper()
	log := &ackLog{progress: progress}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < total; i += workers {
				key := fmt.Sprintf("%s/k%04d", prefix, i)
				value := fmt.Sprintf("value-%04d", i)
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				r, err := n.request(ctx, http.MethodPost, "/v1/keys"+key, form("value", value))
				cancel()
				if err != nil {
					return // the node is gone; this write is not acknowledged
				}
				a, ok := ackOf(t, r, key, value)
				if !ok {
					return
				}
				log.add(a)
			}
		}()
	}
	wg.Wait()
	return log.sorted()
}

// checkAcked reads every acknowledged key back, and asks for its write again
// with a watch from its index: the answer must be that very write, at once,
// from the history.
func checkAcked(t *testing.T, n *node, acks []ack, withWatch bool) {
	t.Helper()
	const workers = 8
	var wg sync.WaitGroup
	var failMu sync.Mutex
	failures := 0
	fail := func(format string, args ...any) {
		failMu.Lock()
		defer failMu.Unlock()
		if failures++; failures <= 10 {
			t.Errorf(format, args...)
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(acks); i += workers {
				a := acks[i]
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				r, err := n.request(ctx, http.MethodGet, "/v1/keys"+a.key, nil)
				cancel()
				if err != nil {
					fail("GET %s: %v", a.key, err)
					continue
				}
				var e testnode.Event
				if r.Status != http.StatusOK {
					fail("acknowledged write lost: %v (acknowledged value %q at index %d)", r, a.value, a.index)
					continue
				}
				if err := testnode.DecodeCanonical(r, &e); err != nil || e.Value != a.value || e.Key != a.key || e.Action != "GET" {
					fail("%v: want value %q (err %v)", r, a.value, err)
					continue
				}
				if !withWatch {
					continue
				}
				ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
				r, err = n.request(ctx, http.MethodPost, "/v1/watch"+a.key, form("index", fmt.Sprint(a.index)))
				cancel()
				if err != nil {
					fail("POST /v1/watch%s index=%d did not answer at once: %v", a.key, a.index, err)
					continue
				}
				e = testnode.Event{}
				if r.Status != http.StatusOK {
					fail("%v: want the SET at index %d", r, a.index)
					continue
				}
				if err := testnode.DecodeCanonical(r, &e); err != nil || e.Index != a.index || e.Action != "SET" || e.Key != a.key || e.Value != a.value || !e.NewKey {
					fail("%v: want the SET of %s=%s at index %d, the index acknowledged before the crash (err %v)", r, a.key, a.value, a.index, err)
				}
			}
		}()
	}
	wg.Wait()
	if failures > 0 {
		t.Fatalf("%d of %d acknowledged writes were not found as acknowledged", failures, len(acks))
	}
}

// TestCrashRecovery kills a node while clients write to it and checks that
// every acknowledged write survives the restart, at its index.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	n := startNode(t, "crash", "-m", "20000")

	const total, threshold = 2000, 1500
	reached := make(chan struct{})
	var once sync.Once
	writersDone := make(chan []ack, 1)
	go func() {
		writersDone <- writeKeys(t, n, "/crash", total, 8, func(acked int) {
			if acked >= threshold {
				once.Do(func() { close(reached) })
			}
		})
	}()
	var acks []ack
	select {
	case <-reached:
	case acks = <-writersDone:
		if len(acks) < total {
			t.Fatalf("the writers stopped after %d of %d writes", len(acks), total)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("fewer than %d writes acknowledged within 60 s", threshold)
	}

	// Three keys with a TTL, then the crash, while the writers still write.
	ttlSetAt := time.Now()
	ttlKeys := map[string]testnode.Event{}
	for i := range 3 {
		key := fmt.Sprintf("/ttl/k%d", i)
		before := time.Now()
		e := n.set(key, "short-lived", "ttl", "3")
		checkTTL(t, "set "+key+" ttl=3", e, 3, before, time.Now())
		ttlKeys[key] = e
	}
	n.crash()
	if acks == nil {
		select {
		case acks = <-writersDone:
		case <-time.After(2 * requestTimeout):
			t.Fatal("the writers did not stop after the crash")
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d of %d writes acknowledged before SIGKILL", len(acks), total)
	var maxIndex uint64
	for _, a := range acks {
		maxIndex = max(maxIndex, a.index)
	}
	for _, e := range ttlKeys {
		maxIndex = max(maxIndex, e.Index)
	}

	n.restart()

	// The TTL keys: still there with their expiration, or gone, and gone
	// within 3 s + 2 s of being set.
	deadline := ttlSetAt.Add(5 * time.Second)
	remaining := map[string]testnode.Event{}
	for k, e := range ttlKeys {
		remaining[k] = e
	}
	for len(remaining) > 0 {
		for key, set := range remaining {
			r := n.do(http.MethodGet, "/v1/keys"+key, nil)
			if r.Status == http.StatusNotFound {
				expectError(t, r, http.StatusNotFound, 100)
				delete(remaining, key)
				continue
			}
			e := expectEvent(t, r)
			if e.Value != "short-lived" || !sameInstant(e.Expiration, set.Expiration) {
				t.Fatalf("%s after the restart: %v; want value short-lived, expiration %s", key, r, set.Expiration)
			}
		}
		if len(remaining) > 0 && time.Now().After(deadline) {
			t.Fatalf("keys set with ttl=3 at %v still present after %v: %v", ttlSetAt.Format(time.StampMilli), time.Since(ttlSetAt), remaining)
		}
		time.Sleep(50 * time.Millisecond)
	}

	checkAcked(t, n, acks, true)

	// A write that was in flight may or may not have been applied, but a
	// key present has the value that was sent.
	for _, e := range expectList(t, n.do(http.MethodGet, "/v1/keys/crash/", nil)) {
		var i int
		if _, err := fmt.Sscanf(e.Key, "/crash/k%04d", &i); err != nil || e.Value != fmt.Sprintf("value-%04d", i) {
			t.Fatalf("unexpected entry after the restart: %+v", e)
		}
	}

	// Indexes go on from where they were.
	after := n.set("/after-crash", "x")
	if after.Index <= maxIndex {
		t.Fatalf("first write after the restart has index %d, not above the last acknowledged %d", after.Index, maxIndex)
	}

	// A crash in the middle of appending leaves a torn entry at the end of
	// the log: the restart drops it and keeps everything acknowledged.
	n.crash()
	f, err := os.OpenFile(filepath.Join(n.dataDir, "log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("0000003a\n\x08\x05\x10\x00\x1a")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	n.restart()
	checkAcked(t, n, append(acks, ack{after.Key, after.Value, after.Index}), false)
	if e := n.set("/after-torn-tail", "y"); e.Index <= after.Index {
		t.Fatalf("first write after the torn-tail restart has index %d, not above %d", e.Index, after.Index)
	}
}

// sameInstant reports whether two RFC 3339 times are the same instant.
func sameInstant(a, b string) bool {
	ta, errA := time.Parse(time.RFC3339Nano, a)
	tb, errB := time.Parse(time.RFC3339Nano, b)
	return errA == nil && errB == nil && ta.Equal(tb)
}
