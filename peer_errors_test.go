package main

import (
	"io"
	"net/http"
	"testing"
)

// TestPeerPortAnswersRouteErrorsInJSON: an unknown route or a wrong method
// on the peer port is answered with an etcd JSON error, as on the client
// port, a 405 with its Allow header; the routes that exist answer as before.
func TestPeerPortAnswersRouteErrorsInJSON(t *testing.T) {
	t.Parallel()
	n := startTestNode(t)
	send := func(method, path string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, n.peerURL(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range peerRequest(n, method, path, nil).Header {
			req.Header[k] = v
		}
		resp, err := testClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, path := range []string{"/nosuch", "/v1/keys/foo", "/remove"} {
		cause := expectJSONError(t, "GET "+path, send(http.MethodGet, path), http.StatusNotFound, http.StatusNotFound)
		if cause != "no such route: "+path {
			t.Fatalf("GET %s: cause %q, want it to name the route", path, cause)
		}
	}
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodPost, "/name", "GET, HEAD"},
		{http.MethodDelete, "/version", "GET, HEAD"},
		{http.MethodGet, "/join", "POST"},
		{http.MethodGet, "/remove/node1", "DELETE"},
		{http.MethodGet, appendEntriesPath, "POST"},
	} {
		resp := send(c.method, c.path)
		if cause := expectJSONError(t, c.method+" "+c.path, resp, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed); cause != c.method {
			t.Fatalf("%s %s: cause %q, want the method", c.method, c.path, cause)
		}
		if allow := resp.Header.Get("Allow"); allow != c.allow {
			t.Fatalf("%s %s: Allow %q, want %q", c.method, c.path, allow, c.allow)
		}
	}
	resp := send(http.MethodGet, "/name")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "node1" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Fatalf("GET /name: HTTP %d %q %q, want 200 text node1", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
