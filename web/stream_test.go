package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

const testTimeout = 5 * time.Second

// fixture is a store and a dashboard serving it.
type fixture struct {
	t      *testing.T
	store  *store.Store
	dash   *Dashboard
	server *httptest.Server
	done   chan struct{}
	// streams counts the stream handlers running.
	streams atomic.Int32
}

func newFixture(t *testing.T, historySize int) *fixture {
	t.Helper()
	f := &fixture{t: t, store: store.New(historySize), done: make(chan struct{})}
	f.dash = New(f.store, func() error { return nil }, nil, f.done)
	f.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.streams.Add(1)
		defer f.streams.Add(-1)
		f.dash.ServeHTTP(w, r)
	}))
	t.Cleanup(f.server.Close)
	return f
}

// set writes key at the store's next index.
func (f *fixture) set(key, value string) *store.Event {
	f.t.Helper()
	e, err := f.store.Set(key, value, time.Time{}, f.store.Index()+1)
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

// sse is one server-sent event.
type sse struct {
	kind string // "" for the default type
	data string
}

// stream is a client of the event stream.
type stream struct {
	t    *testing.T
	body io.ReadCloser
	r    *bufio.Reader
}

func (f *fixture) follow(since string) *stream {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.server.URL+eventsPath+"?since="+since, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		f.t.Fatalf("GET events?since=%s: %s, Content-Type %q", since, resp.Status, resp.Header.Get("Content-Type"))
	}
	f.t.Cleanup(func() { resp.Body.Close() })
	return &stream{t: f.t, body: resp.Body, r: bufio.NewReader(resp.Body)}
}

// next reads the next event, failing the test at the end of the stream or
// after testTimeout.
func (s *stream) next() sse {
	s.t.Helper()
	e, err := s.read()
	if err != nil {
		s.t.Fatalf("reading the stream: %v", err)
	}
	return e
}

func (s *stream) read() (sse, error) {
	timer := time.AfterFunc(testTimeout, func() { s.body.Close() })
	defer timer.Stop()
	var e sse
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			return e, nil
		case strings.HasPrefix(line, "event: "):
			e.kind = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			e.data = strings.TrimPrefix(line, "data: ")
		default:
			return e, fmt.Errorf("unexpected line %q", line)
		}
	}
}

// nextEvent reads the next event and expects a store event, as v2 shows it.
func (s *stream) nextEvent() pageEvent {
	s.t.Helper()
	e := s.next()
	if e.kind != "" {
		s.t.Fatalf("got a %q event (%s), want a store event", e.kind, e.data)
	}
	var ev pageEvent
	if err := json.Unmarshal([]byte(e.data), &ev); err != nil || ev.Node == nil {
		s.t.Fatalf("event %q: %v", e.data, err)
	}
	return ev
}

// expectCleared reads a "cleared" event with the given error code, and then
// the end of the stream.
func (s *stream) expectCleared(code int) etcderr.Error {
	s.t.Helper()
	e := s.next()
	var apiErr etcderr.Error
	if e.kind != "cleared" || json.Unmarshal([]byte(e.data), &apiErr) != nil || apiErr.Code != code {
		s.t.Fatalf("got %+v, want a cleared event with error %d", e, code)
	}
	if e, err := s.read(); err != io.EOF {
		s.t.Fatalf("after the cleared event: %+v, %v; want the end of the stream", e, err)
	}
	return apiErr
}

func TestStreamSendsTheHistoryThenNewEvents(t *testing.T) {
	f := newFixture(t, 100)
	var written []*store.Event
	for i := range 5 {
		written = append(written, f.set(fmt.Sprintf("/k%d", i), "v"))
	}
	s := f.follow("3")
	for _, want := range written[2:] {
		if got := s.nextEvent(); got.Index != want.Index || got.Node.Key != want.Key {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	later := f.set("/dir/new", "value")
	if got := s.nextEvent(); got.Index != later.Index || got.Node.Key != "/dir/new" || got.PrevNode != nil {
		t.Fatalf("got %+v, want the new write %+v", got, later)
	}
}

// A page that got events up to index N asks again from N+1: it gets every
// event after N, and none it already had, however many happened between.
func TestStreamResumesWithoutMissingOrDoubling(t *testing.T) {
	f := newFixture(t, 1000)
	s := f.follow("1")
	var last uint64
	for i := range 10 {
		e := f.set("/k", fmt.Sprint(i))
		if got := s.nextEvent(); got.Index != e.Index {
			t.Fatalf("got index %d, want %d", got.Index, e.Index)
		}
		last = e.Index
	}
	s.body.Close()
	var missed []uint64
	for i := range 300 {
		missed = append(missed, f.set(fmt.Sprintf("/gap/%d", i), "v").Index)
	}
	resumed := f.follow(fmt.Sprint(last + 1))
	for _, want := range missed {
		if got := resumed.nextEvent(); got.Index != want {
			t.Fatalf("after resuming: index %d, want %d", got.Index, want)
		}
	}
	// The last event needs no expiry of the history, nor a new write, to
	// be the last one sent: the stream now waits.
	after := f.set("/after", "v")
	if got := resumed.nextEvent(); got.Index != after.Index {
		t.Fatalf("index %d, want %d", got.Index, after.Index)
	}
}

// Writes at or after the asked index that the history no longer holds
// make the stream end with error 401, which tells the page to list again.
func TestStreamClearedHistory(t *testing.T) {
	f := newFixture(t, 3)
	for i := range 6 {
		f.set(fmt.Sprintf("/k%d", i), "v")
	}
	err := f.follow("2").expectCleared(etcderr.EventIndexCleared)
	if !strings.Contains(err.Cause, "[4/2]") {
		t.Errorf("cause %q does not say what the history holds", err.Cause)
	}
	// From an index the history still holds, the stream goes on.
	if got := f.follow("4").nextEvent(); got.Index != 4 {
		t.Fatalf("from index 4: got %d", got.Index)
	}
}

// An index past the node's own comes from a page that saw other data (the
// node's was wiped, or replaced): it must list again.
func TestStreamIndexPastTheNode(t *testing.T) {
	f := newFixture(t, 10)
	f.set("/k", "v")
	f.follow("3").expectCleared(etcderr.EventIndexCleared)
	f.set("/k", "again") // index 2: the next write is at 3, so 3 waits
	s := f.follow("3")
	f.set("/k", "third")
	if got := s.nextEvent(); got.Index != 3 {
		t.Fatalf("got %d, want 3", got.Index)
	}
}

// A snapshot from the leader replaces the store: the stream ends with
// error 500, as a watch does.
func TestStreamStoreRecovered(t *testing.T) {
	f := newFixture(t, 10)
	f.set("/k", "v")
	snap, err := f.store.Save()
	if err != nil {
		t.Fatal(err)
	}
	s := f.follow("2")
	waitFor(t, "the stream to watch", func() bool { return f.store.Stats().Watchers == 1 })
	if err := f.store.Recover(snap); err != nil {
		t.Fatal(err)
	}
	s.expectCleared(etcderr.WatcherCleared)
}

// A browser that takes nothing never slows the store: writes go on at full
// speed, and the stream is dropped once its write times out, leaving
// nothing behind.
func TestStuckBrowserIsDroppedWithoutSlowingWrites(t *testing.T) {
	f := newFixture(t, 20000)
	f.dash.writeTimeout = 300 * time.Millisecond
	conn, err := net.Dial("tcp", f.server.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The client's receive buffer is made small, and it never reads.
	conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(conn, "GET %s?since=1 HTTP/1.1\r\nHost: etcd\r\n\r\n", eventsPath)
	waitFor(t, "the stream to start", func() bool { return f.streams.Load() == 1 })

	value := strings.Repeat("x", 4<<10)
	start := time.Now()
	const writes = 10000
	for i := range writes {
		f.set(fmt.Sprintf("/load/%d", i%100), value)
	}
	took := time.Since(start)
	// Far more than the socket buffers hold has been written: only a
	// stream that does not wait for the browser lets this finish at once.
	if took > 3*time.Second {
		t.Fatalf("%d writes took %v with a stuck browser", writes, took)
	}
	waitFor(t, "the stuck stream to be dropped", func() bool { return f.streams.Load() == 0 })
	if w := f.store.Stats().Watchers; w != 0 {
		t.Fatalf("%d watchers left behind", w)
	}
	t.Logf("%d writes of 4 KiB in %v while a browser took nothing; its stream was dropped", writes, took)
}

// A stream that falls further behind than the history reaches is told so
// (401), rather than holding the store or missing events silently. Here
// the disk holds it back; a slow browser does the same.
func TestStreamThatFallsBehindIsToldSo(t *testing.T) {
	f := newFixture(t, 50)
	release := make(chan struct{})
	f.dash.durable = func() error {
		<-release
		return nil
	}
	s := f.follow("1")
	// The stream must be waiting for index 1 before the history moves on.
	waitFor(t, "the stream to watch", func() bool { return f.store.Stats().Watchers == 1 })
	first := f.set("/first", "v")
	for i := range 500 {
		f.set(fmt.Sprintf("/k%d", i), "v")
	}
	close(release)
	if got := s.nextEvent(); got.Index != first.Index {
		t.Fatalf("got index %d, want %d", got.Index, first.Index)
	}
	// The stream may have taken more events into the batch it was holding
	// for the disk, as many as were still in the history while it
	// gathered them, up to a batch; whatever follows must be in order, and
	// then the stream must say it fell behind.
	want := first.Index + 1
	for {
		e := s.next()
		if e.kind == "cleared" {
			var apiErr etcderr.Error
			if json.Unmarshal([]byte(e.data), &apiErr) != nil || apiErr.Code != etcderr.EventIndexCleared {
				t.Fatalf("got %+v, want a cleared event with error %d", e, etcderr.EventIndexCleared)
			}
			return
		}
		var ev pageEvent
		if err := json.Unmarshal([]byte(e.data), &ev); err != nil || ev.Index != want {
			t.Fatalf("got %+v, want the event at index %d or a cleared event", e, want)
		}
		if want > first.Index+maxBatchEvents {
			t.Fatalf("the stream sent %d events of a history that keeps 50, more than one batch, and never said it fell behind", want-first.Index)
		}
		want++
	}
}

func TestStreamWaitsForTheDisk(t *testing.T) {
	f := newFixture(t, 10)
	release := make(chan struct{})
	var waited atomic.Int32
	f.dash.durable = func() error {
		waited.Add(1)
		<-release
		return nil
	}
	s := f.follow("1")
	f.set("/k", "v")
	waitFor(t, "the stream to wait for the disk", func() bool { return waited.Load() == 1 })
	// The read reports through the channel: a t.Fatalf in its goroutine
	// would leave this test waiting on the channel until go test's timeout.
	type read struct {
		e   sse
		err error
	}
	got := make(chan read, 1)
	go func() {
		e, err := s.read()
		got <- read{e, err}
	}()
	select {
	case r := <-got:
		t.Fatalf("event %+v (%v) sent before it was on disk", r.e, r.err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-got
	var ev pageEvent
	if r.err != nil || r.e.kind != "" || json.Unmarshal([]byte(r.e.data), &ev) != nil || ev.Node == nil || ev.Node.Key != "/k" {
		t.Fatalf("got %+v, %v; want the event of /k", r.e, r.err)
	}
}

func TestStreamPingsWhenQuiet(t *testing.T) {
	f := newFixture(t, 10)
	f.dash.keepAlive = 20 * time.Millisecond
	if e := f.follow("1").next(); e.kind != "ping" {
		t.Fatalf("got %+v, want a ping", e)
	}
}

func TestStreamEndsWhenTheNodeStops(t *testing.T) {
	f := newFixture(t, 10)
	s := f.follow("1")
	waitFor(t, "the stream to watch", func() bool { return f.store.Stats().Watchers == 1 })
	close(f.done)
	if e, err := s.read(); err != io.EOF {
		t.Fatalf("got %+v, %v; want the end of the stream", e, err)
	}
	waitFor(t, "the watcher to go", func() bool { return f.store.Stats().Watchers == 0 })
}

func TestStreamRefusesBadRequests(t *testing.T) {
	f := newFixture(t, 10)
	for _, tt := range []struct {
		method, query string
		status        int
	}{
		{http.MethodGet, "", http.StatusBadRequest},
		{http.MethodGet, "?since=0", http.StatusBadRequest},
		{http.MethodGet, "?since=x", http.StatusBadRequest},
		{http.MethodGet, "?since=-1", http.StatusBadRequest},
		{http.MethodPost, "?since=1", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tt.method, f.server.URL+eventsPath+tt.query, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s: %s, want %d", tt.method, tt.query, resp.Status, tt.status)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
