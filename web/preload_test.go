package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/store"
)

// The page is served with the answers to its first reads and the events up
// to the listing's index in it; no value can close its data block.
func TestPageHoldsTheNodesState(t *testing.T) {
	st := store.New(10)
	for i := uint64(1); i <= 4; i++ {
		if _, err := st.Set(fmt.Sprintf("/k%d", i), "</script><b>", time.Time{}, i); err != nil {
			t.Fatal(err)
		}
	}
	listed := uint64(3) // the listing was taken before the fourth write
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v2/keys/":
			w.Header().Set("X-Etcd-Index", fmt.Sprint(listed))
			w.Write([]byte(`{"action":"get","node":{"dir":true,"nodes":[{"key":"/k1","value":"</script><b>","modifiedIndex":1,"createdIndex":1}]}}`))
		case "/v1/stats/self":
			w.Write([]byte(`{"name":"node1"}`))
		default:
			w.WriteHeader(http.StatusTemporaryRedirect)
		}
	})
	d := New(st, func() error { return nil }, func() Contact { return Contact{Leading: true} }, nil)
	d.ReadsFrom(api)
	resp := get(t, d, http.MethodGet, Prefix)
	html := body(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("GET %s: %s, CSP %q", Prefix, resp.Status, resp.Header.Get("Content-Security-Policy"))
	}
	_, block, ok := strings.Cut(html, `<script type="application/json" id="preloaded">`)
	block, _, closed := strings.Cut(block, "</script>")
	if !ok || !closed || strings.Contains(block, "<") {
		t.Fatalf("the page's data block is missing or not escaped:\n%s", html)
	}
	var p struct {
		Reads   map[string]json.RawMessage `json:"reads"`
		Indexes map[string]uint64          `json:"indexes"`
		Recent  []pageEvent                `json:"recent"`
	}
	if err := json.Unmarshal([]byte(block), &p); err != nil {
		t.Fatalf("the data block: %v\n%s", err, block)
	}
	for _, path := range []string{"/v2/keys/", "/v1/stats/self", contactPath} {
		if _, ok := p.Reads[path]; !ok {
			t.Errorf("the data block has no answer to %s: %s", path, block)
		}
	}
	if _, ok := p.Reads["/v1/stats/leader"]; ok {
		t.Errorf("the data block holds an answer that was not a 200: %s", block)
	}
	if p.Indexes["/v2/keys/"] != listed {
		t.Errorf("the data block's index of the listing: %v, want %d", p.Indexes, listed)
	}
	// The recent events are as the stream sends them.
	if len(p.Recent) != 3 || p.Recent[0].Index != 1 || p.Recent[2].Index != listed || p.Recent[0].String() != "1 set /k1=</script><b> c1 m1" {
		t.Errorf("the recent events: %+v; want those of indexes 1 to %d, the listing's", p.Recent, listed)
	}
}

// A node whose reads wait (a leader without a quorum) still serves its
// page, without its state, which the page then reads itself.
func TestPageDoesNotWaitForStuckReads(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	d := New(store.New(1), func() error { return nil }, nil, nil)
	d.ReadsFrom(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	resp := get(t, d, http.MethodGet, Prefix)
	if html := body(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(html, `id="preloaded">{"reads":null,"recent":null}</script>`) {
		t.Fatalf("GET %s while reads wait: %s\n%s", Prefix, resp.Status, html)
	}
}
