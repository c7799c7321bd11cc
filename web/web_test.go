package web

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// next stands for the rest of a server: it answers 299 to say it was asked.
var next = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(299) })

func TestPageFiles(t *testing.T) {
	h := PageFiles(next)
	page := get(t, h, http.MethodGet, Prefix)
	if page.StatusCode != http.StatusOK || !strings.Contains(body(t, page), `<script type="module" src="/dashboard/app.js">`) {
		t.Fatalf("GET %s: %s", Prefix, page.Status)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("Content-Security-Policy %q: the page must load and call nothing but its own origin", csp)
	}
	for path, contentType := range map[string]string{
		Prefix + "app.js":      "text/javascript; charset=utf-8",
		Prefix + "style.css":   "text/css; charset=utf-8",
		Prefix + "favicon.svg": "image/svg+xml",
	} {
		if resp := get(t, h, http.MethodGet, path); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != contentType {
			t.Errorf("GET %s: %s, %q; want %q", path, resp.Status, resp.Header.Get("Content-Type"), contentType)
		}
	}
	for _, path := range []string{eventsPath, Prefix + "missing.js", "/v1/keys/", "/"} {
		if resp := get(t, h, http.MethodGet, path); resp.StatusCode != 299 {
			t.Errorf("GET %s: %s, want it passed on", path, resp.Status)
		}
	}
	if resp := get(t, h, http.MethodPost, Prefix); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST %s: %s", Prefix, resp.Status)
	}
}

// Every script the page loads is one of its own files: nothing comes from
// elsewhere, and no import is missing.
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	h := PageFiles(next)
	sources := []string{body(t, get(t, h, http.MethodGet, Prefix))}
	scripts, err := fs.Glob(page, "*.js")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("the page's scripts: %v, %v", scripts, err)
	}
	for _, name := range append(scripts, "style.css") {
		sources = append(sources, body(t, get(t, h, http.MethodGet, Prefix+name)))
	}
	for _, src := range sources {
		if strings.Contains(src, "http://") || strings.Contains(src, "https://") || strings.Contains(src, "//cdn") {
			t.Errorf("a file of the page names another site:\n%s", src)
		}
		for _, line := range strings.Split(src, "\n") {
			_, from, ok := strings.Cut(line, `from "./`)
			if !ok {
				continue
			}
			name, _, _ := strings.Cut(from, `"`)
			if resp := get(t, h, http.MethodGet, Prefix+name); resp.StatusCode != http.StatusOK {
				t.Errorf("%q imports %s, which is not served: %s", line, name, resp.Status)
			}
		}
	}
}

func TestSiteIsReadOnly(t *testing.T) {
	h := Site(next)
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/", 299},
		{http.MethodHead, "/", 299},
		{http.MethodGet, Prefix, 299},
		{http.MethodGet, Prefix + "tree.js", http.StatusOK},
		{http.MethodGet, eventsPath + "?since=1", 299},
		{http.MethodGet, "/v1/keys/foo", 299},
		{http.MethodGet, "/v1/stats/leader", 299},
		{http.MethodGet, "/v2/keys/foo", 299},
		{http.MethodHead, "/v2/keys", 299},
		{http.MethodPut, "/v2/keys/foo", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v2/keys/queue", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/v2/keys/foo", http.StatusMethodNotAllowed},
		{http.MethodGet, "/v2/machines", http.StatusNotFound},
		{http.MethodPost, "/v1/keys/foo", http.StatusMethodNotAllowed},
		{http.MethodPut, "/v1/keys/foo", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/v1/keys/foo", http.StatusMethodNotAllowed},
		{http.MethodPost, "/v1/watch/foo", http.StatusMethodNotAllowed},
		{http.MethodGet, "/version", http.StatusNotFound},
		{http.MethodGet, "/elsewhere", http.StatusNotFound},
	} {
		if resp := get(t, h, tt.method, tt.path); resp.StatusCode != tt.status {
			t.Errorf("%s %s: %s, want %d", tt.method, tt.path, resp.Status, tt.status)
		}
	}
	// The page, with the node's state in it, comes from the client
	// port's handler, asked for it at Prefix.
	var asked string
	h = Site(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { asked = r.URL.Path }))
	if get(t, h, http.MethodGet, "/"); asked != Prefix {
		t.Errorf("GET / asked the client port for %q, want %q", asked, Prefix)
	}
}
