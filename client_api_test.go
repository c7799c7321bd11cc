package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// rawExchange sends request bytes on a fresh TCP connection to addr and
// reads the whole answer, which must come within 10 s.
func rawExchange(t *testing.T, addr string, request []byte) *http.Response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The answer may come before the whole request is sent: write aside.
	go conn.Write(request)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to %.60q: %v", request, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body of the answer to %.60q: %v", request, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// expectJSONError checks that resp is an etcd error with status and code,
// and returns its cause.
func expectJSONError(t *testing.T, what string, resp *http.Response, status, code int) string {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%s: HTTP %d, Content-Type %q, body %q; want %d with a JSON error", what, resp.StatusCode, resp.Header.Get("Content-Type"), body, status)
	}
	if msg := checkErrorAnswer(status, body); msg != "" {
		t.Fatalf("%s: %s: %q", what, msg, body)
	}
	var e struct {
		ErrorCode int    `json:"errorCode"`
		Cause     string `json:"cause"`
	}
	json.Unmarshal(body, &e)
	if e.ErrorCode != code {
		t.Fatalf("%s: error code %d, want %d: %s", what, e.ErrorCode, code, body)
	}
	return e.Cause
}

// TestEveryClientAnswerIsJSON: requests that never reach an API handler
// (an unknown route, a request line net/http cannot parse, headers over its
// limit) are answered with JSON errors like every other, over raw TCP as
// any client may send them.
func TestEveryClientAnswerIsJSON(t *testing.T) {
	t.Parallel()
	n := startTestNode(t)
	addr := strings.TrimPrefix(n.url, "http://")

	resp, err := testClient.Get(n.url + "/v3/keys/foo")
	if err != nil {
		t.Fatal(err)
	}
	if cause := expectJSONError(t, "GET /v3/keys/foo", resp, http.StatusNotFound, http.StatusNotFound); !strings.Contains(cause, "/v3/keys/foo") {
		t.Fatalf("unknown route: cause %q does not name the path", cause)
	}
	resp.Body.Close()

	resp = rawExchange(t, addr, []byte("GET /v1/keys/a b HTTP/1.1\r\nHost: x\r\n\r\n"))
	expectJSONError(t, "a space in the request path", resp, http.StatusBadRequest, 209)

	resp = rawExchange(t, addr, []byte("GET /v1/keys/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"))
	expectJSONError(t, "an unsupported transfer encoding", resp, http.StatusNotImplemented, http.StatusNotImplemented)

	// A key of 100 kB: over -maxkey (4096), and over what net/http reads
	// before it refuses the request on its own.
	big := "GET /v1/keys/" + strings.Repeat("k", 100<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"
	resp = rawExchange(t, addr, []byte(big))
	expectJSONError(t, "a 100 kB key", resp, http.StatusRequestHeaderFieldsTooLarge, http.StatusRequestHeaderFieldsTooLarge)
	// Headers of 1 MB: refused by net/http itself.
	huge := "GET /v1/keys/a HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 1<<20) + "\r\n\r\n"
	resp = rawExchange(t, addr, []byte(huge))
	expectJSONError(t, "1 MB of headers", resp, http.StatusRequestHeaderFieldsTooLarge, http.StatusRequestHeaderFieldsTooLarge)

	// The node still serves.
	n.set("after", "1")
}

// TestUncleanPathWritesKeepTheirMethod: a write to a path that is not clean
// is redirected with 308, which a client follows with the same method and
// body, so the write lands on the clean path; reads keep the original's 301.
func TestUncleanPathWritesKeepTheirMethod(t *testing.T) {
	t.Parallel()
	n := startTestNode(t)
	following := &http.Client{Timeout: 10 * time.Second}
	post := func(path string, form url.Values) (int, response) {
		t.Helper()
		resp, err := following.PostForm(n.url+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r response
		body, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("POST %s: %q: %v", path, body, err)
		}
		return resp.StatusCode, r
	}
	if status, r := post("/v1/keys//a//b", url.Values{"value": {"z"}}); status != http.StatusOK || r.Action != "SET" || r.Key != "/a/b" {
		t.Fatalf("POST /v1/keys//a//b value=z followed to HTTP %d %+v; want the set of /a/b", status, r)
	}
	if _, r := n.do(http.MethodGet, "/v1/keys/a/b", nil); r.Value != "z" {
		t.Fatalf("GET /v1/keys/a/b = %+v after the redirected write, want value z", r)
	}
	// POST /v1/keys is a write to the root: it must be refused as one, not
	// answered with the root's listing.
	if status, r := post("/v1/keys", url.Values{"value": {"x"}}); status == http.StatusOK {
		t.Fatalf("POST /v1/keys value=x followed to HTTP %d %+v; want the write refused, not a read", status, r)
	}
	req, _ := http.NewRequest(http.MethodDelete, n.url+"/v1/keys/./a/b", nil)
	resp, err := testClient.Transport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != "/v1/keys/a/b" {
		t.Fatalf("DELETE /v1/keys/./a/b: HTTP %d to %q, want 308 to /v1/keys/a/b", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		req, _ := http.NewRequest(method, n.url+"/v1/keys//a/b?consistent=true", nil)
		resp, err := testClient.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/v1/keys/a/b?consistent=true" {
			t.Fatalf("%s /v1/keys//a/b: HTTP %d to %q, want 301 to /v1/keys/a/b?consistent=true", method, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

// TestHeadAndMethodsOfInfoRoutes: HEAD answers as GET does, without a
// body; the information routes take GET and HEAD only.
func TestHeadAndMethodsOfInfoRoutes(t *testing.T) {
	t.Parallel()
	n := startTestNode(t)
	n.set("k", "v")
	for _, path := range []string{"/v1/keys/k", "/v1/keys/missing", "/v1/keys/", "/version", "/v1/machines", "/machines", "/leader", "/v1/leader"} {
		get, err := testClient.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		getBody, _ := io.ReadAll(get.Body)
		get.Body.Close()
		head, err := testClient.Head(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		headBody, _ := io.ReadAll(head.Body)
		head.Body.Close()
		if head.StatusCode != get.StatusCode || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || len(headBody) != 0 {
			t.Fatalf("HEAD %s: HTTP %d %q with %d body bytes; GET gave %d %q (%s)", path, head.StatusCode, head.Header.Get("Content-Type"),
				len(headBody), get.StatusCode, get.Header.Get("Content-Type"), getBody)
		}
		if head.ContentLength != int64(len(getBody)) {
			t.Fatalf("HEAD %s: Content-Length %d, GET's body has %d bytes", path, head.ContentLength, len(getBody))
		}
	}
	for _, path := range []string{"/version", "/v1/machines", "/machines", "/leader", "/v1/leader"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			req, _ := http.NewRequest(method, n.url+path, strings.NewReader("value=1"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := testClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			expectJSONError(t, method+" "+path, resp, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed)
			resp.Body.Close()
			if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
				t.Fatalf("%s %s: Allow %q, want \"GET, HEAD\"", method, path, allow)
			}
		}
	}
}

// TestTTLOutOfRange: a TTL too large to keep is refused as out of range,
// with the limit, not as "not a number".
func TestTTLOutOfRange(t *testing.T) {
	t.Parallel()
	n := startTestNode(t)
	status, r := n.do(http.MethodPost, "/v1/keys/foo", url.Values{"value": {"bar"}, "ttl": {"9999999999"}})
	if status != http.StatusBadRequest || r.ErrorCode != 202 {
		t.Fatalf("ttl=9999999999: HTTP %d %+v, want 400 error 202", status, r)
	}
	if !strings.Contains(r.Cause, "out of range") || !strings.Contains(r.Cause, "2147483647") {
		t.Fatalf("ttl=9999999999: cause %q does not say it is out of range and give the limit", r.Cause)
	}
	if _, r = n.do(http.MethodPost, "/v1/keys/foo", url.Values{"value": {"bar"}, "ttl": {"abc"}}); strings.Contains(r.Cause, "range") {
		t.Fatalf("ttl=abc: cause %q, which is no range problem", r.Cause)
	}
}
