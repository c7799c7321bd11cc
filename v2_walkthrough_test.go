package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// indexRef is "#N" in an expected answer: the index N writes after the
// test's first; "~N" is the same index as an in-order key's name.
var indexRef = regexp.MustCompile(`[#~](\d+)`)

// expandIndexes replaces every #N and ~N in s with base+N.
func expandIndexes(s string, base uint64) string {
	return indexRef.ReplaceAllStringFunc(s, func(ref string) string {
		n, _ := strconv.ParseUint(ref[1:], 10, 64)
		if ref[0] == '~' {
			return fmt.Sprintf("%020d", base+n)
		}
		return strconv.FormatUint(base+n, 10)
	})
}

type v2Step struct {
	section, method, target, body string
	status                        int
	want                          string // the body; #N is an index
	index                         string // X-Etcd-Index
}

// runV2Steps sends each step in turn and checks its answer byte for byte.
// Each write takes the next index, failed or not (one log entry each).
func runV2Steps(t *testing.T, n *testNode, base uint64, steps []v2Step) {
	t.Helper()
	for _, s := range steps {
		target := expandIndexes(s.target, base)
		a := v2Do(t, n, s.method, target, s.body)
		what := fmt.Sprintf("%s: %s %s %s", s.section, s.method, target, s.body)
		want := expandIndexes(s.want, base)
		if s.method == http.MethodHead {
			if a.status != s.status || a.body != "" || a.header.Get("Content-Length") != strconv.Itoa(len(want)+1) {
				t.Errorf("%s: HTTP %d %q, Content-Length %q; want %d, no body, the GET's length %d", what, a.status, a.body, a.header.Get("Content-Length"), s.status, len(want)+1)
			}
		} else if a.status != s.status || a.body != want+"\n" {
			t.Errorf("%s: HTTP %d %q\nwant %d %q", what, a.status, a.body, s.status, want+"\n")
			continue
		}
		index := expandIndexes(s.index, base)
		if a.status >= 400 {
			checkV2ErrorHeaders(t, what, a, index)
			continue
		}
		checkV2SuccessHeaders(t, what, a, index)
	}
}

// checkV2SuccessHeaders checks the headers of a keys success (§6).
func checkV2SuccessHeaders(t *testing.T, what string, a v2Answer, index string) {
	t.Helper()
	h := a.header
	_, raftIndexErr := strconv.ParseUint(h.Get("X-Raft-Index"), 10, 64)
	_, raftTermErr := strconv.ParseUint(h.Get("X-Raft-Term"), 10, 64)
	switch {
	case h.Get("Content-Type") != "application/json":
		t.Errorf("%s: Content-Type %q", what, h.Get("Content-Type"))
	case index != "" && h.Get("X-Etcd-Index") != index:
		t.Errorf("%s: X-Etcd-Index %q, want %q", what, h.Get("X-Etcd-Index"), index)
	case !clusterIDPattern.MatchString(h.Get("X-Etcd-Cluster-Id")):
		t.Errorf("%s: X-Etcd-Cluster-Id %q", what, h.Get("X-Etcd-Cluster-Id"))
	case raftIndexErr != nil || raftTermErr != nil:
		t.Errorf("%s: X-Raft-Index %q, X-Raft-Term %q", what, h.Get("X-Raft-Index"), h.Get("X-Raft-Term"))
	}
}

// firstV2Write makes the test's first write and returns the index before
// it: the writes that follow take base+2, base+3...
func firstV2Write(t *testing.T, n *testNode, target, body string) uint64 {
	t.Helper()
	a := v2Do(t, n, http.MethodPut, target, body)
	index, err := strconv.ParseUint(a.header.Get("X-Etcd-Index"), 10, 64)
	if a.status != http.StatusCreated || err != nil {
		t.Fatalf("PUT %s %s: HTTP %d %q, X-Etcd-Index %q", target, body, a.status, a.body, a.header.Get("X-Etcd-Index"))
	}
	return index - 1
}

// TestV2Walkthrough: the keys API's requests and answers, as etcd 3.5
// answers them, each write taking the next index.
func TestV2Walkthrough(t *testing.T) {
	n := startTestNode(t)
	base := firstV2Write(t, n, "/v2/keys/message", "value=Hello+world")
	runV2Steps(t, n, base, []v2Step{
		{"§5 GET", "GET", "/v2/keys/message", "", 200, `{"action":"get","node":{"key":"/message","value":"Hello world","modifiedIndex":#1,"createdIndex":#1}}`, "#1"},
		{"§5 HEAD", "HEAD", "/v2/keys/message", "", 200, `{"action":"get","node":{"key":"/message","value":"Hello world","modifiedIndex":#1,"createdIndex":#1}}`, "#1"},
		{"§5 PUT replace", "PUT", "/v2/keys/message", "value=Hello+etcd", 200, `{"action":"set","node":{"key":"/message","value":"Hello etcd","modifiedIndex":#2,"createdIndex":#2},"prevNode":{"key":"/message","value":"Hello world","modifiedIndex":#1,"createdIndex":#1}}`, "#2"},
		{"§5 DELETE", "DELETE", "/v2/keys/message", "", 200, `{"action":"delete","node":{"key":"/message","modifiedIndex":#3,"createdIndex":#2},"prevNode":{"key":"/message","value":"Hello etcd","modifiedIndex":#2,"createdIndex":#2}}`, "#3"},
		{"§14 100", "GET", "/v2/keys/message", "", 404, `{"errorCode":100,"message":"Key not found","cause":"/message","index":#3}`, "#3"},
		{"§9 mkdir", "PUT", "/v2/keys/dir?dir=true", "value=ignored", 201, `{"action":"set","node":{"key":"/dir","dir":true,"modifiedIndex":#4,"createdIndex":#4}}`, "#4"},
		{"§7 in-order key, its dir made on the way", "POST", "/v2/keys/queue", "value=job1", 201, `{"action":"create","node":{"key":"/queue/~5","value":"job1","modifiedIndex":#5,"createdIndex":#5}}`, "#5"},
		{"§4 create", "PUT", "/v2/keys/k?prevExist=false", "value=one", 201, `{"action":"create","node":{"key":"/k","value":"one","modifiedIndex":#6,"createdIndex":#6}}`, "#6"},
		{"§10 105, a failed write takes an index", "PUT", "/v2/keys/k?prevExist=false", "value=x", 412, `{"errorCode":105,"message":"Key already exists","cause":"/k","index":#7}`, "#7"},
		{"§4 update", "PUT", "/v2/keys/k?prevExist=true", "value=two", 200, `{"action":"update","node":{"key":"/k","value":"two","modifiedIndex":#8,"createdIndex":#6},"prevNode":{"key":"/k","value":"one","modifiedIndex":#6,"createdIndex":#6}}`, "#8"},
		{"§10 101", "PUT", "/v2/keys/k?prevValue=bad", "value=three", 412, `{"errorCode":101,"message":"Compare failed","cause":"[bad != two]","index":#9}`, "#9"},
		{"§10 compareAndSwap", "PUT", "/v2/keys/k?prevValue=two&prevIndex=#8", "value=three", 200, `{"action":"compareAndSwap","node":{"key":"/k","value":"three","modifiedIndex":#10,"createdIndex":#6},"prevNode":{"key":"/k","value":"two","modifiedIndex":#8,"createdIndex":#6}}`, "#10"},
		{"§10 compareAndDelete", "DELETE", "/v2/keys/k?prevValue=three", "", 200, `{"action":"compareAndDelete","node":{"key":"/k","modifiedIndex":#11,"createdIndex":#6},"prevNode":{"key":"/k","value":"three","modifiedIndex":#10,"createdIndex":#6}}`, "#11"},
		{"§3 %2F is a separator, a trailing slash goes", "PUT", "/v2/keys/sl%2Fash/", "value=", 201, `{"action":"set","node":{"key":"/sl/ash","value":"","modifiedIndex":#12,"createdIndex":#12}}`, "#12"},
		{"§5 root listing: sorted, _etcd hidden, no key or indexes", "GET", "/v2/keys?sorted=true", "", 200, `{"action":"get","node":{"dir":true,"nodes":[{"key":"/dir","dir":true,"modifiedIndex":#4,"createdIndex":#4},{"key":"/queue","dir":true,"modifiedIndex":#5,"createdIndex":#5},{"key":"/sl","dir":true,"modifiedIndex":#12,"createdIndex":#12}]}}`, "#12"},
		{"§5 recursive listing", "GET", "/v2/keys/sl/?recursive=true", "", 200, `{"action":"get","node":{"key":"/sl","dir":true,"nodes":[{"key":"/sl/ash","value":"","modifiedIndex":#12,"createdIndex":#12}],"modifiedIndex":#12,"createdIndex":#12}}`, "#12"},
		{"§9 102", "DELETE", "/v2/keys/dir", "", 403, `{"errorCode":102,"message":"Not a file","cause":"/dir","index":#13}`, "#13"},
		{"§5 107", "PUT", "/v2/keys/", "value=x", 400, `{"errorCode":107,"message":"Root is read only","cause":"/","index":#14}`, "#14"},
		{"§3 noValueOnSuccess", "PUT", "/v2/keys/nv?noValueOnSuccess=true", "value=1", 201, `{"action":"set"}`, "#15"},
		{"§9 rmdir", "DELETE", "/v2/keys/dir?dir=true", "", 200, `{"action":"delete","node":{"key":"/dir","dir":true,"modifiedIndex":#16,"createdIndex":#4},"prevNode":{"key":"/dir","dir":true,"modifiedIndex":#4,"createdIndex":#4}}`, "#16"},
		{"§3 quorum=true&wait=true is a quorum GET", "GET", "/v2/keys/nv?quorum=true&wait=true", "", 200, `{"action":"get","node":{"key":"/nv","value":"1","modifiedIndex":#15,"createdIndex":#15}}`, ""},
	})
}

// openV2Watch starts a watch and returns its answer once the headers have
// come: they come before any event (§4, §11).
func openV2Watch(t *testing.T, ctx context.Context, n *testNode, target string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.url+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestV2Watches: a long poll answers its headers at once, with the index
// at registration, then one event and a newline; a stream sends a line
// per event; a watch from the history answers at once (§6, §11).
func TestV2Watches(t *testing.T) {
	n := startTestNode(t)
	base := firstV2Write(t, n, "/v2/keys/w/a", "value=0")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	poll := openV2Watch(t, ctx, n, "/v2/keys/w?wait=true&recursive=true")
	stream := openV2Watch(t, ctx, n, "/v2/keys/w/a?wait=true&stream=true")
	for _, resp := range []*http.Response{poll, stream} {
		checkV2SuccessHeaders(t, "watch", v2Answer{status: resp.StatusCode, header: resp.Header}, expandIndexes("#1", base))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Length") != "" {
			t.Fatalf("watch: HTTP %d, Content-Length %q; want 200, chunked", resp.StatusCode, resp.Header.Get("Content-Length"))
		}
	}
	runV2Steps(t, n, base, []v2Step{
		{"§11", "PUT", "/v2/keys/w/a", "value=1", 200, `{"action":"set","node":{"key":"/w/a","value":"1","modifiedIndex":#2,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"0","modifiedIndex":#1,"createdIndex":#1}}`, "#2"},
		{"§11", "PUT", "/v2/keys/w/a?prevExist=true", "value=2", 200, `{"action":"update","node":{"key":"/w/a","value":"2","modifiedIndex":#3,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"1","modifiedIndex":#2,"createdIndex":#2}}`, "#3"},
		{"§11", "DELETE", "/v2/keys/w/a", "", 200, `{"action":"delete","node":{"key":"/w/a","modifiedIndex":#4,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"2","modifiedIndex":#3,"createdIndex":#2}}`, "#4"},
	})
	body, err := io.ReadAll(poll.Body)
	if want := expandIndexes(`{"action":"set","node":{"key":"/w/a","value":"1","modifiedIndex":#2,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"0","modifiedIndex":#1,"createdIndex":#1}}`, base) + "\n"; err != nil || string(body) != want {
		t.Errorf("long poll: %q (%v), want %q", body, err, want)
	}
	lines := bufio.NewReader(stream.Body)
	for _, want := range []string{
		`{"action":"set","node":{"key":"/w/a","value":"1","modifiedIndex":#2,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"0","modifiedIndex":#1,"createdIndex":#1}}`,
		`{"action":"update","node":{"key":"/w/a","value":"2","modifiedIndex":#3,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"1","modifiedIndex":#2,"createdIndex":#2}}`,
		`{"action":"delete","node":{"key":"/w/a","modifiedIndex":#4,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"2","modifiedIndex":#3,"createdIndex":#2}}`,
	} {
		line, err := lines.ReadString('\n')
		if want = expandIndexes(want, base) + "\n"; err != nil || line != want {
			t.Errorf("stream: %q (%v), want %q", line, err, want)
		}
	}

	history := openV2Watch(t, ctx, n, expandIndexes("/v2/keys/w/a?wait=true&waitIndex=#3", base))
	body, err = io.ReadAll(history.Body)
	if want := expandIndexes(`{"action":"update","node":{"key":"/w/a","value":"2","modifiedIndex":#3,"createdIndex":#2},"prevNode":{"key":"/w/a","value":"1","modifiedIndex":#2,"createdIndex":#2}}`, base) + "\n"; err != nil || string(body) != want {
		t.Errorf("watch from the history: %q (%v), want %q", body, err, want)
	}
	if got := history.Header.Get("X-Etcd-Index"); got != expandIndexes("#4", base) {
		t.Errorf("watch from the history: X-Etcd-Index %q, want the current index", got)
	}
}

// TestV2WatchEnds: a pending watch ends when its client goes away (its
// watcher released) and when the node stops (the response ends, no event).
func TestV2WatchEnds(t *testing.T) {
	n := startTestNode(t)
	firstV2Write(t, n, "/v2/keys/x", "value=0")
	ctx, cancel := context.WithCancel(context.Background())
	openV2Watch(t, ctx, n, "/v2/keys/gone?wait=true")
	waitFor(t, 5*time.Second, "the watcher registered", func() bool { return n.e.store.Stats().Watchers == 1 })
	cancel()
	waitFor(t, 5*time.Second, "the watcher released", func() bool { return n.e.store.Stats().Watchers == 0 })

	pending := openV2Watch(t, context.Background(), n, "/v2/keys/x?wait=true&stream=true")
	done := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(pending.Body)
		done <- string(b)
	}()
	n.e.stop()
	n.e = nil
	select {
	case b := <-done:
		if b != "" {
			t.Errorf("a watch ended by the node's stop sent %q", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a pending watch outlived its node by 10 s")
	}
}

// TestV2WritesAndReadsSpanV1: v1 and v2 share one store (V2-API.md §17).
func TestV2WritesAndReadsSpanV1(t *testing.T) {
	n := startTestNode(t)
	n.set("shared/v1", "from v1")
	a := v2Do(t, n, http.MethodGet, "/v2/keys/shared/v1", "")
	if !strings.Contains(a.body, `"value":"from v1"`) || a.status != 200 {
		t.Errorf("a v1 write read with v2: HTTP %d %q", a.status, a.body)
	}
	v2Do(t, n, http.MethodPut, "/v2/keys/shared/v2", "value=from+v2")
	code, r := n.do(http.MethodGet, "/v1/keys/shared/v2", nil)
	if code != 200 || r.Value != "from v2" {
		t.Errorf("a v2 write read with v1: HTTP %d %+v", code, r)
	}
}

// TestV2ThroughTheWrappers: -v's request log and -cors wrap the v2
// handlers as they wrap v1's: a watch's headers still go out at once
// through them (the flush reaches the connection), with the CORS header.
func TestV2ThroughTheWrappers(t *testing.T) {
	n := startTestNode(t, "-v", "-cors", "*")
	firstV2Write(t, n, "/v2/keys/x", "value=0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/v2/keys/x?wait=true", nil)
	req.Header.Set("Origin", "http://example.com")
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatalf("a watch through -v and -cors: no headers before an event: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("a watch through -v and -cors: HTTP %d, headers %v", resp.StatusCode, resp.Header)
	}
}

// TestV2TTLsAndHistory: refreshes and directory TTLs (§8), and a watch
// from before the history (§11): error 401 at the current index.
func TestV2TTLsAndHistory(t *testing.T) {
	n := startTestNode(t, "-m", "3")
	base := firstV2Write(t, n, "/v2/keys/t", "value=v")
	steps := []v2Step{
		{"§8 refresh: value kept, indexes new", "PUT", "/v2/keys/t?refresh=true&ttl=100", "", 200, `{"action":"set","node":{"key":"/t","value":"v","expiration":"E","ttl":100,"modifiedIndex":#2,"createdIndex":#2},"prevNode":{"key":"/t","value":"v","modifiedIndex":#1,"createdIndex":#1}}`, "#2"},
		{"§8 refresh with prevExist: an update", "PUT", "/v2/keys/t?refresh=true&prevExist=true", "ttl=100&value=", 200, `{"action":"update","node":{"key":"/t","value":"v","expiration":"E","ttl":100,"modifiedIndex":#3,"createdIndex":#2},"prevNode":{"key":"/t","value":"v","expiration":"E","ttl":100,"modifiedIndex":#2,"createdIndex":#2}}`, "#3"},
		{"§8 an empty ttl clears it", "PUT", "/v2/keys/t?prevExist=true&ttl=", "value=w", 200, `{"action":"update","node":{"key":"/t","value":"w","modifiedIndex":#4,"createdIndex":#2},"prevNode":{"key":"/t","value":"v","expiration":"E","ttl":100,"modifiedIndex":#3,"createdIndex":#2}}`, "#4"},
		{"§8 a directory with a TTL", "PUT", "/v2/keys/d?dir=true&ttl=100", "", 201, `{"action":"set","node":{"key":"/d","dir":true,"expiration":"E","ttl":100,"modifiedIndex":#5,"createdIndex":#5}}`, "#5"},
		{"§8 its TTL moved on, as 2.3", "PUT", "/v2/keys/d?dir=true&prevExist=true&ttl=200", "", 200, `{"action":"update","node":{"key":"/d","dir":true,"expiration":"E","ttl":200,"modifiedIndex":#6,"createdIndex":#5},"prevNode":{"key":"/d","dir":true,"expiration":"E","ttl":100,"modifiedIndex":#5,"createdIndex":#5}}`, "#6"},
		{"§11 401", "GET", "/v2/keys/t?wait=true&waitIndex=#1", "", 400, `{"errorCode":401,"message":"The event in requested index is outdated and cleared","cause":"the requested history has been cleared [#4/#1]","index":#6}`, "#6"},
	}
	expiration := regexp.MustCompile(`"expiration":"[^"]+"`)
	for _, s := range steps {
		a := v2Do(t, n, s.method, expandIndexes(s.target, base), s.body)
		got := expiration.ReplaceAllString(a.body, `"expiration":"E"`)
		if want := expandIndexes(s.want, base) + "\n"; a.status != s.status || got != want {
			t.Errorf("%s: HTTP %d %q\nwant %d %q", s.section, a.status, a.body, s.status, want)
		}
		if got := a.header.Get("X-Etcd-Index"); got != expandIndexes(s.index, base) {
			t.Errorf("%s: X-Etcd-Index %q, want %q", s.section, got, expandIndexes(s.index, base))
		}
	}
}

// TestV2OverTLS: /v2/keys is served behind the client port's TLS and its
// demand for a client certificate, as v1 is.
func TestV2OverTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key, "-clientCAFile", ca.file)
	target := strings.Replace(n.url, "http://", "https://", 1) + "/v2/keys/tls"
	clientCert, clientKey := ca.issue("client")
	client := httpsClient(t, ca, clientCert, clientKey)
	resp, err := client.Post(target, "application/x-www-form-urlencoded", strings.NewReader("value=secret"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST %s over TLS: HTTP %d", target, resp.StatusCode)
	}
	if resp, err := httpsClient(t, ca, "", "").Get(target); err == nil {
		resp.Body.Close()
		t.Fatalf("GET %s without a client certificate: HTTP %d, want the handshake refused", target, resp.StatusCode)
	}
}
