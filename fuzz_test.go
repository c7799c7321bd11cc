package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, "PATCH", "OPTIONS"}

// textRoutes answer in plain text when they succeed (SPEC sections 6 and
// 8); their errors are JSON like any other.
var textRoutes = map[string]bool{"/version": true, "/machines": true, "/v1/machines": true, "/leader": true, "/v1/leader": true}

// FuzzClientAPI sends arbitrary requests to the client port of a real node
// (store and goraft included): none may crash it, every request but a
// waiting watch is answered, and every answer is JSON that fits the API: a
// response object, a listing, stats, or an error of the catalogue with its
// own message and status. Only redirects and the text routes are not JSON.
func FuzzClientAPI(f *testing.F) {
	seeds := []struct {
		method       byte
		target, body string
	}{
		{0, "/v1/keys/foo", ""},
		{1, "/v1/keys/foo", "value=bar&ttl=5"},
		{2, "/v1/keys/a/b", "value=1&prevValue="},
		{1, "/v1/keys/a/b", "value=2&prevValue=1"},
		{3, "/v1/keys/a/b", ""},
		{3, "/v1/keys/_etcd/machines/x", ""},
		{1, "/v1/watch/foo", "index=abc"},
		{1, "/v1/watch/foo", "index=1"},
		{0, "/v1/keys/?consistent=true", ""},
		{1, "/v1/keys/x", "value=%zz"},
		{1, "/v1/keys/x%00y", "value=1"},
		{0, "/v1/keys//a/../b", ""},
		{0, "/v1/keys", ""},
		{0, "/v1/machines", ""},
		{1, "/v1/leader", ""},
		{4, "/version", ""},
		{0, "/v1/stats/self", ""},
		{0, "/v1/stats/leader", ""},
		{5, "/v1/keys/a", "value=1"},
		{1, "/v1/keys/big", "value=" + strings.Repeat("x", 5000)},
		{0, "/v2/keys/foo", ""},
		{0, "/v2/members", ""},
		{1, "/v2/stats/self", ""},
		{0, "/version?quorum=&recursive=&sorted=", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	n := startTestNode(f, "-maxbody", "4096", "-m", "64")
	transport := &http.Transport{}
	f.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	f.Fuzz(func(t *testing.T, method byte, target, body string) {
		req, resp, answer, _, ok := sendFuzzRequest(t, client, n.url, method, target, body)
		if !ok {
			return
		}
		if msg := checkClientAnswer(req.Method, req.URL.Path, resp.StatusCode, resp.Header, answer); msg != "" {
			t.Fatalf("%s %q: HTTP %d, Content-Type %q, body %q: %s", req.Method, target, resp.StatusCode, resp.Header.Get("Content-Type"), answer, msg)
		}
	})
}

// sendFuzzRequest sends a fuzzed request, form-encoded, to base+target
// and reads the answer. A watch (v1's, or v2's wait=true) waits for a
// change: it gets a moment only, and ok is false when it used it up.
// Anything else must be answered; ok is also false for a request no client
// can send.
func sendFuzzRequest(t *testing.T, client *http.Client, base string, method byte, target, body string) (req *http.Request, resp *http.Response, answer []byte, waits, ok bool) {
	t.Helper()
	if !strings.HasPrefix(target, "/") {
		target = "/" + target
	}
	req, err := http.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], base+target, strings.NewReader(body))
	if err != nil {
		return nil, nil, nil, false, false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	waits = strings.HasPrefix(req.URL.Path, watchPrefix+"/") || v2MayWait(req)
	timeout := 10 * time.Second
	if waits {
		timeout = 50 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err = client.Do(req.WithContext(ctx))
	if err != nil {
		if waits && ctx.Err() != nil {
			return nil, nil, nil, waits, false
		}
		t.Fatalf("%s %q: no answer: %v", req.Method, target, err)
	}
	answer, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		if waits && ctx.Err() != nil {
			return nil, nil, nil, waits, false
		}
		t.Fatalf("%s %q: reading the answer: %v", req.Method, target, err)
	}
	return req, resp, answer, waits, true
}

// checkClientAnswer says what is wrong with an answer of the client API to
// method on path; "" when nothing is.
func checkClientAnswer(method, path string, status int, header http.Header, body []byte) string {
	if msg, v2 := checkV2ClusterAnswer(method, path, status, header, body); v2 {
		return msg
	}
	contentType := header.Get("Content-Type")
	switch {
	case status == http.StatusMovedPermanently || status == http.StatusTemporaryRedirect || status == http.StatusPermanentRedirect:
		// A redirect says all in its status and Location; its body is for
		// browsers.
		if header.Get("Location") == "" {
			return "a redirect without a Location"
		}
		if status == http.StatusMovedPermanently && method != http.MethodGet && method != http.MethodHead {
			return "a 301 for a write, which clients send again as a GET"
		}
		return ""
	case isV2KeysPath(path):
		return checkV2Answer(method, status, header, body)
	case status == http.StatusOK && textRoutes[path]:
		if contentType != "text/plain; charset=utf-8" {
			return "want text/plain; charset=utf-8 on a text route"
		}
		if method != http.MethodHead {
			return checkTextAnswer(path, string(body))
		}
		return ""
	}
	if contentType != "application/json" {
		return "not JSON"
	}
	if method == http.MethodHead {
		return "" // no body to check
	}
	if status >= 400 {
		return checkErrorAnswer(status, body)
	}
	if status != http.StatusOK {
		return "neither a success, a redirect nor an error"
	}
	var answer any
	if err := json.Unmarshal(body, &answer); err != nil {
		return fmt.Sprintf("invalid JSON: %v", err)
	}
	switch a := answer.(type) {
	case map[string]any:
		if _, isError := a["errorCode"]; isError {
			return "an error with a success status"
		}
		if action, _ := a["action"].(string); action == "" && !strings.HasPrefix(path, "/v1/stats/") {
			return "a success that is no response object"
		}
	case []any:
		for _, child := range a {
			if c, ok := child.(map[string]any); !ok || c["action"] != "GET" {
				return "a listing with an entry that is no GET response object"
			}
		}
	default:
		return "a success that is neither an object nor a listing"
	}
	return ""
}

// checkErrorAnswer checks an error body: exactly errorCode, message and an
// optional cause, the code in the catalogue with its message and status.
func checkErrorAnswer(status int, body []byte) string {
	var e struct {
		ErrorCode int     `json:"errorCode"`
		Message   string  `json:"message"`
		Cause     *string `json:"cause"`
	}
	if err := testnode.DecodeStrict(body, &e); err != nil {
		return fmt.Sprintf("an error status without an error body (%v)", err)
	}
	want, known := testnode.ErrorCatalogue[e.ErrorCode]
	switch {
	case !known:
		return fmt.Sprintf("error code %d is not in the catalogue", e.ErrorCode)
	case e.Message != want.Message:
		return fmt.Sprintf("error %d with message %q, want %q", e.ErrorCode, e.Message, want.Message)
	case status != want.Status:
		return fmt.Sprintf("error %d with HTTP status %d, want %d", e.ErrorCode, status, want.Status)
	case e.Cause != nil && *e.Cause == "":
		return "an empty cause, which is left out instead"
	}
	return ""
}

// checkTextAnswer checks the body of a text route's success.
func checkTextAnswer(path, body string) string {
	var urls []string
	switch path {
	case "/version":
		if !strings.HasPrefix(body, "etcd ") {
			return `want "etcd VERSION"`
		}
		return ""
	case "/leader", "/v1/leader":
		urls = []string{body}
	default:
		urls = strings.Split(body, ", ")
	}
	for _, u := range urls {
		if parsed, err := url.Parse(u); err != nil || parsed.Scheme != "http" || parsed.Host == "" {
			return fmt.Sprintf("%q is not a member's URL", u)
		}
	}
	return ""
}

var peerRoutes = []string{votePath, appendEntriesPath, snapshotPath, snapshotRecoveryPath, "/join", snapshotStatePath, forwardPath, readIndexPath}

// joinBody is the body of a POST /join for a member named name.
func joinBody(name string) []byte {
	b, err := json.Marshal(JoinCommand{RaftVersion: raftVersion, Name: name, RaftURL: "http://127.0.0.1:1", EtcdURL: "http://127.0.0.1:2"})
	if err != nil {
		panic(err)
	}
	return b
}

// FuzzPeerAPI sends arbitrary bodies to the peer routes of a real
// single-member cluster, which takes joins. The node may refuse a request,
// but must never crash; a refused join must leave the membership as it
// was; the store's record of the members must match the membership; and a
// node that is still alone must keep taking writes and serving them.
func FuzzPeerAPI(f *testing.F) {
	f.Add(byte(0), []byte("garbage"))
	f.Add(byte(1), []byte{0x08, 0x01, 0x10, 0x01})
	f.Add(byte(2), []byte{0x0a, 0x00})
	f.Add(byte(4), joinBody("node2"))
	// Names that are no single path segment: the store cannot record such a
	// member under /_etcd/machines.
	for _, name := range []string{"..", ".", "a/b", "node3/", "/node3"} {
		f.Add(byte(4), joinBody(name))
	}
	f.Add(byte(4), []byte(`{"name":"..","raftURL":"http://127.0.0.1:1","etcdURL":"http://127.0.0.1:2","raftVersion":"`+raftVersion+`"}trailing`))
	f.Add(byte(4), joinBody("node1")) // its name, another URL
	f.Add(byte(6), []byte(`{"set":{"key":"/forwarded","value":"x"}}`))
	f.Add(byte(6), []byte(`{"set":{"key":"/a","value":"x"},"delete":{"key":"/a"}}`))
	// Only the leader expires keys: a forwarded expiry of a member's key
	// would take the member out of the store but not out of raft.
	f.Add(byte(6), []byte(`{"expire":{"key":"/_etcd/machines/node1","expireTime":"0001-01-01T00:00:00Z"}}`))
	f.Add(byte(7), []byte{})

	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		// A node of its own for each input, so that a failure found by
		// fuzzing is reproduced by its input alone. A write that cannot
		// commit says so soon.
		n := startTestNode(t, "-timeout", "1s")

		path := peerRoutes[int(route)%len(peerRoutes)]
		rec := httptest.NewRecorder()
		n.e.raft.peerServer.Handler.ServeHTTP(rec, peerRequest(n, http.MethodPost, path, strings.NewReader(string(body))))
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusInternalServerError {
			t.Fatalf("POST %s: HTTP %d %q", path, rec.Code, rec.Body)
		}
		request := fmt.Sprintf("POST %s %q (answered %d %q)", path, body, rec.Code, rec.Body)

		members := machines(t, n)
		recorded, problem := recordedMembers(n)
		if problem != "" {
			t.Fatalf("after %s: %s", request, problem)
		}
		if !slices.Equal(slices.Sorted(maps.Values(recorded)), members) {
			t.Fatalf("after %s: /v1/machines lists %q, but the store records the members %q", request, members, recorded)
		}
		if path == "/join" && rec.Code == http.StatusOK && len(members) > 1 {
			var cmd JoinCommand
			if err := json.NewDecoder(strings.NewReader(string(body))).Decode(&cmd); err != nil {
				t.Fatalf("after %s: an accepted join whose body does not decode: %v", request, err)
			}
			if want := map[string]string{"node1": n.url, cmd.Name: cmd.EtcdURL}; !maps.Equal(recorded, want) {
				t.Fatalf("after %s: the members are %q, want %q", request, recorded, want)
			}
			return // the node has lost its quorum to a member that does not exist, as it should
		}
		if want := []string{n.url}; !slices.Equal(members, want) {
			t.Fatalf("after %s, which added no member: /v1/machines lists %q, want %q", request, members, want)
		}
		if msg := writeAndRead(n, "/fuzz/probe", "written after the request"); msg != "" {
			t.Fatalf("after %s: %s", request, msg)
		}
	})
}

// serveClient answers one request of the client API in-process.
func serveClient(n *testNode, method, target string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	n.e.handlers.router().ServeHTTP(rec, req)
	return rec
}

// machines is the sorted client URLs of GET /v1/machines.
func machines(t *testing.T, n *testNode) []string {
	t.Helper()
	rec := serveClient(n, http.MethodGet, "/v1/machines", nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/machines: HTTP %d %q", rec.Code, rec.Body)
	}
	return slices.Sorted(slices.Values(strings.Split(rec.Body.String(), ", ")))
}

// recordedMembers is the store's record of the members: name to client
// URL, from the keys below /_etcd/machines; or what is wrong with it.
func recordedMembers(n *testNode) (map[string]string, string) {
	rec := serveClient(n, http.MethodGet, "/v1/keys/_etcd/machines", nil)
	var entries []response
	if err := json.Unmarshal(rec.Body.Bytes(), &entries); rec.Code != http.StatusOK || err != nil {
		return nil, fmt.Sprintf("GET /v1/keys/_etcd/machines: HTTP %d %q, %v", rec.Code, rec.Body, err)
	}
	out := map[string]string{}
	for _, e := range entries {
		name, ok := strings.CutPrefix(e.Key, machinesDir+"/")
		values, err := url.ParseQuery(e.Value)
		if !ok || name == "" || err != nil || values.Get("etcd") == "" || values.Get("raft") == "" {
			return nil, fmt.Sprintf("GET /v1/keys/_etcd/machines: the entry %s %q records no member", e.Key, e.Value)
		}
		out[name] = values.Get("etcd")
	}
	return out, ""
}

// writeAndRead sets key to value and reads it back through the client
// API; "" when both work. A peer request may have made the node step down:
// it gets a few election timeouts to lead again.
func writeAndRead(n *testNode, key, value string) string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		rec := serveClient(n, http.MethodPost, "/v1/keys"+key, url.Values{"value": {value}})
		if rec.Code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("a client write is not taken within 3s: HTTP %d %q", rec.Code, rec.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec := serveClient(n, http.MethodGet, "/v1/keys"+key, nil)
	var r response
	if err := json.Unmarshal(rec.Body.Bytes(), &r); rec.Code != http.StatusOK || err != nil || r.Value != value {
		return fmt.Sprintf("GET %s after writing %q: HTTP %d %q", key, value, rec.Code, rec.Body)
	}
	return ""
}
