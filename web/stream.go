package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

// Dashboard serves the page under Prefix on the client port, and the stream
// of the store's events it follows.
type Dashboard struct {
	store     *store.Store
	durable   func() error
	contactOf func() Contact
	api       http.Handler // the client API, for the page's first reads
	done      <-chan struct{}
	handler   http.Handler

	// writeTimeout bounds one write to a browser. One that does not take
	// the events in that time has fallen behind, or is gone: its connection
	// is dropped, and its page resumes from the last event it got.
	writeTimeout time.Duration
	// keepAlive is how often a quiet stream sends a ping, by which the page
	// tells a quiet node from a lost connection.
	keepAlive time.Duration
}

const (
	defaultWriteTimeout = 5 * time.Second
	defaultKeepAlive    = 10 * time.Second
	// A batch is what one write to a browser carries, after one wait for
	// the disk. Its bounds keep a connection's buffer small whatever the
	// values' sizes.
	maxBatchEvents = 256
	maxBatchBytes  = 64 << 10
)

// New returns the dashboard of the node whose store is st. durable returns
// once every write the store shows is on disk, as the node's reads wait
// for; an error from it ends the stream. contact is what the node knows of
// its followers (nil: nothing). Streams end when done is closed.
func New(st *store.Store, durable func() error, contact func() Contact, done <-chan struct{}) *Dashboard {
	d := &Dashboard{
		store:        st,
		durable:      durable,
		contactOf:    contact,
		done:         done,
		writeTimeout: defaultWriteTimeout,
		keepAlive:    defaultKeepAlive,
	}
	files := PageFiles(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case eventsPath:
			d.stream(w, r)
		case contactPath:
			d.contact(w, r)
		default:
			notFound(w, r)
		}
	}))
	d.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == Prefix {
			d.page(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
	return d
}

// ServeHTTP serves the page's files and the event stream.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }

// errStopped ends the streams of a node that stops.
var errStopped = errors.New("the node is stopping")

// stream answers GET Prefix+"events?since=N" with server-sent events: each
// event of the store at or after index N, oldest first, as v2 shows it
// whichever API made it (see feedEvent), then each new one as it happens. A page that lost
// its connection asks again from the index after the last event it got, and
// the store's history gives it the events in between: none is missed, none
// comes twice.
//
// When that cannot be kept, the stream ends with a "cleared" event carrying
// the API error: 401 when the history no longer holds index N (or N lies
// past the node's index: its data is not what the page saw), 500 when the
// store was replaced by a snapshot from the leader. The page then reloads
// the tree and follows from the index of its listing. A quiet stream sends
// a "ping" every keepAlive.
//
// Each event comes from a watch of the store, the machinery /v1/watch uses
// (which also passes on refreshes, for the page's TTLs):
// a watch delivers one event, so the stream watches again from the index
// after it. The store never waits for a stream, which reads the history at
// its own pace; a browser too slow for the history to hold what it has not
// yet taken gets error 401, and one that takes nothing is dropped after
// writeTimeout.
func (d *Dashboard) stream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, "GET")
		return
	}
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if err != nil || since == 0 {
		writeError(w, http.StatusBadRequest, etcderr.New(etcderr.IndexNaN,
			"since: want the index after the last event seen, or after a listing's index"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	out := &eventWriter{w: w, rc: http.NewResponseController(w), timeout: d.writeTimeout}
	// The headers go out at once: the page knows it is connected before
	// the first event.
	if out.flush() != nil {
		return
	}
	d.follow(r.Context(), out, since)
}

// follow sends the events from index next on, until the browser goes away
// or falls behind, the node stops, or the events cannot go on (see stream).
func (d *Dashboard) follow(ctx context.Context, out *eventWriter, next uint64) {
	if index := d.store.Index(); next > index+1 {
		out.end(etcderr.Newf(etcderr.EventIndexCleared,
			"index %d is past this node's index %d: its data is not what the page saw", next, index))
		return
	}
	ping := time.NewTicker(d.keepAlive)
	defer ping.Stop()
	for {
		e, err := d.await(ctx, next, ping.C)
		if err != nil {
			out.end(err)
			return
		}
		if e == nil {
			out.add("ping", "idle")
			if out.flush() != nil {
				return
			}
			continue
		}
		// Events already in the history go out together, with one wait
		// for the disk and one write.
		var pending error
		for {
			b, err := encodeFeedEvent(e)
			if err != nil {
				out.end(err)
				return
			}
			out.add("", string(b))
			next = e.Index + 1
			if out.events >= maxBatchEvents || len(out.buf) >= maxBatchBytes {
				break
			}
			if e, pending = d.held(next); e == nil {
				break
			}
		}
		if err := d.durable(); err != nil {
			return
		}
		if out.flush() != nil {
			return
		}
		if pending != nil {
			out.end(pending)
			return
		}
	}
}

// await returns the first event at or after index, waiting for it if it
// has not happened yet. It returns nil and no error if tick fires first.
func (d *Dashboard) await(ctx context.Context, index uint64, tick <-chan time.Time) (*store.Event, error) {
	w, err := d.store.WatchAll(index)
	if err != nil {
		return nil, err
	}
	defer w.Remove()
	select {
	case e, ok := <-w.EventChan():
		if !ok {
			return nil, etcderr.New(etcderr.WatcherCleared, "/")
		}
		return e, nil
	case <-tick:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-d.done:
		return nil, errStopped
	}
}

// held returns the first event at or after index if it has happened, and
// nil otherwise.
func (d *Dashboard) held(index uint64) (*store.Event, error) {
	w, err := d.store.WatchAll(index)
	if err != nil {
		return nil, err
	}
	defer w.Remove()
	select {
	case e, ok := <-w.EventChan():
		if !ok {
			return nil, etcderr.New(etcderr.WatcherCleared, "/")
		}
		return e, nil
	default:
		return nil, nil
	}
}

// eventWriter writes server-sent events to one browser. Events are
// gathered, then written and flushed together, each write bounded by a
// deadline.
type eventWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     []byte
	events  int // in buf
}

// add gathers an event of the given type ("" for the default, "message");
// data holds no newline.
func (o *eventWriter) add(kind, data string) {
	if kind != "" {
		o.buf = append(append(append(o.buf, "event: "...), kind...), '\n')
	}
	o.buf = append(append(append(o.buf, "data: "...), data...), "\n\n"...)
	o.events++
}

// flush writes what was gathered. An error means the connection is of no
// more use: the browser is gone, or did not take the events in time.
func (o *eventWriter) flush() error {
	// Without a deadline a browser that reads nothing would hold this
	// stream forever.
	if err := o.rc.SetWriteDeadline(time.Now().Add(o.timeout)); err != nil {
		return err
	}
	if _, err := o.w.Write(o.buf); err != nil {
		return err
	}
	// A batch with a large value must not keep its memory for the life of
	// the connection.
	if cap(o.buf) > 2*maxBatchBytes {
		o.buf = nil
	}
	o.buf, o.events = o.buf[:0], 0
	return o.rc.Flush()
}

// end closes the stream with a "cleared" event when err is an API error:
// the page must reload. Other errors (the browser left, the node stops)
// end it without a word.
func (o *eventWriter) end(err error) {
	var apiErr *etcderr.Error
	if !errors.As(err, &apiErr) {
		return
	}
	b, _ := json.Marshal(apiErr)
	o.add("cleared", string(b))
	o.flush()
}
