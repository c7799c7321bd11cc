package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestLine is a request as a server sees it: method, path with query,
// and form body; or the error that built none.
func requestLine(req *http.Request, err error) string {
	if err != nil {
		return err.Error()
	}
	line := req.Method + " " + req.URL.RequestURI()
	if req.Body != nil {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return err.Error()
		}
		line += " " + string(body)
	}
	return line
}

// The v2 cells send v2's requests to both systems, and v3.5's own cells
// send the very same ones: the v2 comparison is one API against itself.
func TestV2KeysRequests(t *testing.T) {
	ctx := context.Background()
	const base = "http://127.0.0.1:1"
	for _, api := range []keysAPI{v2Keys{}, etcd35{}} {
		for _, c := range []struct{ got, want string }{
			{requestLine(api.write(ctx, base, "bench/7", "x")), "PUT /v2/keys/bench/7 value=x"},
			{requestLine(api.read(ctx, base, "bench/7")), "GET /v2/keys/bench/7"},
			{requestLine(api.testAndSet(ctx, base, "c", "1", "2")), "PUT /v2/keys/c prevValue=1&value=2"},
			{requestLine(api.watch(ctx, base, "p", 0)), "GET /v2/keys/p?recursive=true&wait=true"},
			{requestLine(api.watch(ctx, base, "p", 42)), "GET /v2/keys/p?recursive=true&wait=true&waitIndex=42"},
		} {
			if c.got != c.want {
				t.Errorf("%T: got %q, want %q", api, c.got, c.want)
			}
		}
	}
	if got := requestLine(v2Keys{quorum: true}.read(ctx, base, "bench/7")); got != "GET /v2/keys/bench/7?quorum=true" {
		t.Errorf("quorum read: got %q", got)
	}
	if got := requestLine(ours{}.write(ctx, base, "bench/7", "x")); got != "POST /v1/keys/bench/7 value=x" {
		t.Errorf("ours' own write: got %q, want v1's", got)
	}
}

// Every v2 cell speaks v2 to both systems, after v1's cells and their
// memory figure and before the million keys; v1's cells speak each
// system's own API, as before.
func TestV2CellsSpeakV2(t *testing.T) {
	for _, members := range []int{1, 3} {
		cells := cellsFor(members)
		names := make(map[string]bool)
		memoryAt, firstV2, lastV2 := -1, -1, -1
		quorum := 0
		for i, c := range cells {
			if names[c.name] {
				t.Errorf("%d members: two cells named %q", members, c.name)
			}
			names[c.name] = true
			if c.name == memoryCell().name {
				memoryAt = i
			}
			isV2 := strings.HasPrefix(c.name, v2CellPrefix)
			for _, sys := range []system{ours{}, ours{before: true}, etcd35{}} {
				api := c.api(sys)
				switch k, ok := api.(v2Keys); {
				case isV2 && !ok:
					t.Errorf("%s to %s speaks %T, not v2", c.name, sys.label(), api)
				case isV2 && k.quorum:
					quorum++
				case !isV2 && api != keysAPI(sys):
					t.Errorf("%s to %s speaks %T, not the system's own API", c.name, sys.label(), api)
				}
			}
			if isV2 {
				if firstV2 < 0 {
					firstV2 = i
				}
				lastV2 = i
			}
		}
		if firstV2 < 0 || firstV2 < memoryAt {
			t.Errorf("%d members: the v2 cells start at %d, the memory cell is at %d", members, firstV2, memoryAt)
		}
		if members == 1 && lastV2 != len(cells)-2 {
			t.Errorf("the single node's v2 cells end at %d; only the million keys should follow", lastV2)
		}
		if quorum != 3 { // one cell, three systems
			t.Errorf("%d members: %d quorum readers, want the one cell to all three systems", members, quorum)
		}
		for _, want := range []string{"v2, 1 client writing", "v2, 256 clients writing", "v2, 64 clients reading with quorum=true", "v2, watch, 64 clients writing"} {
			if !names[want] {
				t.Errorf("%d members: no cell %q", members, want)
			}
		}
	}
}

// recorder is a member that answers every request as v2 does and notes
// what it was asked.
type recorder struct {
	mu    sync.Mutex
	lines map[string]int // "METHOD /path" → count
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.lines[req.Method+" "+req.URL.Path]++
	r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"action":"set","node":{"key":"/k","value":"v","modifiedIndex":1,"createdIndex":1}}`)
}

// A v2 write cell run as runCell runs it puts v2's PUTs on the wire to a
// system whose own API is v1.
func TestV2WriteCellSendsPUTs(t *testing.T) {
	rec := &recorder{lines: make(map[string]int)}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cl := onV2(writeCell(4), v2Keys{})
	env := &cellEnv{system: ours{}, target: &process{clientAddr: strings.TrimPrefix(srv.URL, "http://")}, duration: 50 * time.Millisecond}
	env.api = cl.api(env.system)
	r, err := cl.run(context.Background(), env)
	if err != nil || r.Errors > 0 || r.Ops == 0 {
		t.Fatalf("got %+v, %v; want writes without errors", r, err)
	}
	for line := range rec.lines {
		if !strings.HasPrefix(line, "PUT /v2/keys/bench/") {
			t.Errorf("the v2 write cell sent %q", line)
		}
	}
}

// A build that answers 404 to /v2/keys/ loses its v2 cells and keeps the
// rest; one that serves it keeps them all.
func TestWithoutV2(t *testing.T) {
	cells := cellsFor(1)
	for _, c := range []struct {
		status      int
		wantDropped bool
	}{{http.StatusOK, false}, {http.StatusNotFound, true}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.URL.Path != "/v2/keys/" {
				t.Errorf("probed %s", req.URL.Path)
			}
			w.WriteHeader(c.status)
		}))
		member := &process{clientAddr: strings.TrimPrefix(srv.URL, "http://")}
		kept, dropped, err := withoutV2(context.Background(), slices.Clone(cells), member)
		srv.Close()
		if err != nil || dropped != c.wantDropped {
			t.Fatalf("HTTP %d: dropped %v, %v; want %v", c.status, dropped, err, c.wantDropped)
		}
		v2Kept := slices.ContainsFunc(kept, func(cl cell) bool { return strings.HasPrefix(cl.name, v2CellPrefix) })
		want := len(cells)
		if c.wantDropped {
			want -= len(v2Cells())
		}
		if v2Kept == c.wantDropped || len(kept) != want {
			t.Errorf("HTTP %d: kept %d of %d cells, v2 among them: %v", c.status, len(kept), len(cells), v2Kept)
		}
	}
}

// -before measures the other build right after this one, and needs it.
func TestPickSystemsWithBefore(t *testing.T) {
	picked, err := pickSystems("ours,v3.5", true, "")
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, s := range picked {
		labels = append(labels, s.label())
	}
	if got := strings.Join(labels, ","); got != "ours,before,v3.5" {
		t.Errorf("got %s, want ours,before,v3.5", got)
	}
	if _, err := pickSystems("v3.5", true, ""); err == nil {
		t.Error("-before without ours was accepted")
	}
}

// With the other build measured, each row has its figure and its own
// ratio to v3.5, and a v2 cell it did not run shows dashes.
func TestTableWithBefore(t *testing.T) {
	none := 0
	rep := report{Results: []cellResult{
		{Setup: "3 members", Cell: "1 client writing", System: "ours", PerSecond: 300, LeaderChanges: &none},
		{Setup: "3 members", Cell: "1 client writing", System: "v3.5", PerSecond: 200, LeaderChanges: &none},
		{Setup: "3 members", Cell: "1 client writing", System: "before", PerSecond: 100, LeaderChanges: &none},
		{Setup: "3 members", Cell: "v2, 1 client writing", System: "ours", PerSecond: 400, LeaderChanges: &none},
		{Setup: "3 members", Cell: "v2, 1 client writing", System: "v3.5", PerSecond: 200, LeaderChanges: &none},
	}}
	var out strings.Builder
	rep.writeTable(&out)
	for _, row := range []string{
		"| setup | cell | measure | better | ours | v3.5 | ours/v3.5 | before | before/v3.5 | leader changes, ours / v3.5 / before |",
		"| 3 members | 1 client writing | writes/s | higher | 300 | 200 | 1.50 | 100 | 0.50 | 0 / 0 / 0 |",
		"| 3 members | v2, 1 client writing | writes/s | higher | 400 | 200 | 2.00 | — | — | 0 / 0 / — |",
		"| 3 members | v2, 1 client writing | p50 ms | lower | 0.00 | 0.00 | — | — | — |  |",
	} {
		if !strings.Contains(out.String(), row+"\n") {
			t.Errorf("no row\n%s\nin\n%s", row, out.String())
		}
	}
}

// -cells 'v2,' picks the v2 cells alone: the empty name after the comma
// is no name, not one that every cell contains.
func TestCellsPicksV2Alone(t *testing.T) {
	cfg := config{cells: cellNames("v2,")}
	for _, c := range cellsFor(1) {
		if got, want := cfg.wants(c), c.speaks != nil; got != want {
			t.Errorf("-cells 'v2,' runs %q: %v, want %v", c.name, got, want)
		}
	}
	if all := (config{cells: cellNames("")}); !all.wants(writeCell(1)) {
		t.Error("no -cells runs no cell")
	}
}
