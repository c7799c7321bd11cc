package web

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The page is served with the node's state in it: the answers to the
// reads it makes first, and the latest events, in a JSON data block. Its
// scripts draw them before the browser's load event, so the first paint
// shows the node (a screenshot taken at load, as chromium --headless
// --screenshot does, shows it rather than "connecting…"), and a page
// opened after a change shows that change. The page then reads and follows
// the node as usual.

// preloadedReads are the API reads the page makes as it opens. The leader's
// statistics are left out on a follower, which redirects them.
var preloadedReads = []string{"/v1/stats/self", "/v1/keys/_etcd/machines", "/v1/stats/leader", rootListing}

// rootListing is the page's listing of /, whose index places the events.
const rootListing = "/v2/keys/"

// recentEvents is how many of the latest events a page shows as it opens.
const recentEvents = 100

// preloadWait bounds how long the page waits for its first reads: a new
// leader without a quorum holds reads for as long as a write would wait,
// and the page must show that rather than nothing. Past it, the page is
// served without them and reads the node itself.
const preloadWait = time.Second

// preloaded is the page's data block.
type preloaded struct {
	// Reads holds the body of each 200 answer, by path.
	Reads map[string]json.RawMessage `json:"reads"`
	// Indexes holds the X-Etcd-Index of each answer that has one: a v2
	// listing's index is in no body.
	Indexes map[string]uint64 `json:"indexes,omitempty"`
	// Recent are the latest events up to the index of the listing of /,
	// oldest first, as the stream sends them: the page follows the stream
	// from the index after it.
	Recent []json.RawMessage `json:"recent"`
}

// ReadsFrom gives the dashboard the client API's handler, from which the
// page's first reads are answered as it is served.
func (d *Dashboard) ReadsFrom(api http.Handler) { d.api = api }

// page serves the page with the node's state in it.
func (d *Dashboard) page(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	ready := make(chan preloaded, 1)
	go func() { ready <- d.preload(r) }()
	var p preloaded
	timer := time.NewTimer(preloadWait)
	select {
	case p = <-ready:
	case <-timer.C:
	}
	timer.Stop()
	block, err := json.Marshal(p)
	if err != nil {
		block = []byte("{}")
	}
	// json.Marshal escapes <, > and &, in the raw answers too: no value
	// can close the data block.
	html := strings.Replace(indexHTML, "</body>",
		`<script type="application/json" id="preloaded">`+string(block)+"</script>\n</body>", 1)
	pageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The page holds the node's state of the moment.
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodGet {
		w.Write([]byte(html))
	}
}

func (d *Dashboard) preload(r *http.Request) preloaded {
	p := preloaded{Reads: make(map[string]json.RawMessage), Indexes: make(map[string]uint64), Recent: []json.RawMessage{}}
	if d.api != nil {
		for _, path := range preloadedReads {
			if body, index, ok := d.read(r, path); ok {
				p.Reads[path] = body
				if index > 0 {
					p.Indexes[path] = index
				}
			}
		}
	}
	if d.contactOf != nil {
		if b, err := json.Marshal(d.contactOf()); err == nil {
			p.Reads[contactPath] = b
		}
	}
	listed, ok := p.Indexes[rootListing]
	if !ok {
		// Without the listing's index the events cannot be placed.
		return p
	}
	for _, e := range d.store.Recent(recentEvents) {
		if e.Index > listed {
			break
		}
		if b, err := encodeFeedEvent(e); err == nil {
			p.Recent = append(p.Recent, b)
		}
	}
	return p
}

// read returns the body of the API's answer to GET path, if it is a 200,
// and its X-Etcd-Index (0 if none).
func (d *Dashboard) read(r *http.Request, path string) (json.RawMessage, uint64, bool) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, path, nil)
	if err != nil {
		return nil, 0, false
	}
	req.RemoteAddr, req.TLS = r.RemoteAddr, r.TLS
	rec := &recorder{header: make(http.Header), status: http.StatusOK}
	d.api.ServeHTTP(rec, req)
	if rec.status != http.StatusOK || !json.Valid(rec.body.Bytes()) {
		return nil, 0, false
	}
	index, _ := strconv.ParseUint(rec.header.Get("X-Etcd-Index"), 10, 64)
	return rec.body.Bytes(), index, true
}

// recorder keeps an answer of the API made in this process.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (rec *recorder) Header() http.Header { return rec.header }

func (rec *recorder) WriteHeader(status int) {
	if !rec.wrote {
		rec.status, rec.wrote = status, true
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	rec.WriteHeader(http.StatusOK)
	return rec.body.Write(b)
}
