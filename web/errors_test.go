package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/etcd-recreation/etcd/etcderr"
)

// Every error of the dashboard, on the client port and at the -w address,
// is JSON in the client port's shape: a client that reads the API's errors
// reads these too.
func TestErrorsAreJSON(t *testing.T) {
	dash := newFixture(t, 10).dash
	site := Site(dash)
	for _, tt := range []struct {
		name         string
		h            http.Handler
		method, path string
		status       int
		code         int
		allow        string
	}{
		{"client port", dash, http.MethodGet, Prefix + "missing", http.StatusNotFound, http.StatusNotFound, ""},
		{"client port", dash, http.MethodGet, Prefix + "page/index.html", http.StatusNotFound, http.StatusNotFound, ""},
		{"client port", dash, http.MethodPost, Prefix, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"client port", dash, http.MethodDelete, Prefix + "app.js", http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"client port", dash, http.MethodPost, eventsPath + "?since=1", http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "GET"},
		{"client port", dash, http.MethodGet, eventsPath + "?since=x", http.StatusBadRequest, etcderr.IndexNaN, ""},
		{"-w", site, http.MethodGet, "/elsewhere", http.StatusNotFound, http.StatusNotFound, ""},
		{"-w", site, http.MethodGet, Prefix + "missing", http.StatusNotFound, http.StatusNotFound, ""},
		{"-w", site, http.MethodPost, "/", http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"-w", site, http.MethodPut, "/v1/keys/foo", http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "GET, HEAD"},
		{"-w", site, http.MethodPost, Prefix, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "GET, HEAD"},
	} {
		resp := get(t, tt.h, tt.method, tt.path)
		text := body(t, resp)
		var e etcderr.Error
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" ||
			json.Unmarshal([]byte(text), &e) != nil || e.Code != tt.code || e.Message == "" || e.Cause == "" {
			t.Errorf("%s: %s %s: %s %q %s; want %d, a JSON error of code %d", tt.name, tt.method, tt.path,
				resp.Status, resp.Header.Get("Content-Type"), text, tt.status, tt.code)
		}
		if allow := resp.Header.Get("Allow"); allow != tt.allow {
			t.Errorf("%s: %s %s: Allow %q, want %q", tt.name, tt.method, tt.path, allow, tt.allow)
		}
	}
}

// A browser that opens the client port's root is sent to the page; a
// program gets the API's answer, a JSON 404.
func TestRootSendsBrowsersToThePage(t *testing.T) {
	h := SendBrowsersToPage(next)
	for _, tt := range []struct {
		method, accept string
		status         int
	}{
		{http.MethodGet, "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", http.StatusFound},
		{http.MethodHead, "text/html", http.StatusFound},
		{http.MethodGet, "*/*", 299},
		{http.MethodGet, "", 299},
		{http.MethodGet, "application/json", 299},
		{http.MethodPost, "text/html", 299},
	} {
		req, _ := http.NewRequest(tt.method, "http://127.0.0.1:4001/", nil)
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tt.status {
			t.Errorf("%s / with Accept %q: %d, want %d", tt.method, tt.accept, w.Code, tt.status)
		}
		if w.Code == http.StatusFound && w.Header().Get("Location") != Prefix {
			t.Errorf("%s / with Accept %q: sent to %q, want %q", tt.method, tt.accept, w.Header().Get("Location"), Prefix)
		}
		if vary := w.Header().Get("Vary"); vary != "Accept" {
			t.Errorf("%s / with Accept %q: Vary %q: the answer depends on Accept, and a cache must know", tt.method, tt.accept, vary)
		}
	}
}
