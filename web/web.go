// Package web is the dashboard: a page that shows a node, its cluster and
// its keys, and follows every change to the keys as it happens.
//
// The page is self-contained, its HTML, CSS and scripts compiled in, since
// the machines etcd runs on may have no internet access. It reads the
// public client API as any client does, plus one stream this package adds:
// the store's events as server-sent events, taken from the same watches
// that answer /v1/watch. Nothing on the page can change a key.
//
// The client port serves the page under /dashboard/ (see Dashboard); -w
// serves it at the root of an address of its own (see Site).
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

// Prefix is where the page lives on the client port.
const Prefix = "/dashboard/"

// eventsPath is the stream of the store's events; see Dashboard.stream.
const eventsPath = Prefix + "events"

//go:embed page
var embedded embed.FS

// page holds the page's files, at the root of the file system.
var page = must(fs.Sub(embedded, "page"))

func must[T any](f T, err error) T {
	if err != nil {
		panic(err)
	}
	return f
}

// contentPolicy keeps the page to its own origin: it loads nothing from
// elsewhere, talks only to the node that served it, and cannot be framed by
// another site.
const contentPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// PageFiles serves the page's files under Prefix and hands every other
// request, the event stream included, to next. The files need no running
// store, so a node still catching up can show its page, which says so.
func PageFiles(next http.Handler) http.Handler {
	files := http.StripPrefix(strings.TrimSuffix(Prefix, "/"), http.FileServerFS(page))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, Prefix)
		if !ok || !isPageFile(name) {
			next.ServeHTTP(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		pageHeaders(w.Header())
		// A new binary may bring a new page: the browser asks each time,
		// which costs little for files this small.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}

func pageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
}

// indexHTML is the page itself, into which the dashboard puts the node's
// state (see preload.go).
var indexHTML = string(must(fs.ReadFile(page, "index.html")))

// isPageFile reports whether name, relative to Prefix, is one of the page's
// files; "" is the page itself.
func isPageFile(name string) bool {
	if name == "" {
		return true
	}
	info, err := fs.Stat(page, name)
	return err == nil && !info.IsDir()
}

// Site is the handler of the -w address. It serves the page at / and under
// Prefix, and passes the page's reads (the client API under /v1/ and
// /v2/keys, and the event stream) to api, the client port's handler. Only GET and HEAD get
// through: the page needs nothing else, and the -w address must not become
// a way to write. Its errors are JSON, as the client port's.
func Site(api http.Handler) http.Handler {
	files := PageFiles(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		switch {
		case r.URL.Path == "/" || r.URL.Path == Prefix:
			// The same page as at Prefix, which names its files by
			// absolute paths, and holds the node's state: the client
			// port's handler serves it (see Dashboard.page).
			r2 := r.Clone(r.Context())
			r2.URL.Path, r2.URL.RawPath = Prefix, ""
			api.ServeHTTP(w, r2)
		case strings.HasPrefix(r.URL.Path, Prefix):
			files.ServeHTTP(w, r)
		case strings.HasPrefix(r.URL.Path, "/v1/"), r.URL.Path == "/v2/keys", strings.HasPrefix(r.URL.Path, "/v2/keys/"):
			api.ServeHTTP(w, r)
		default:
			notFound(w, r)
		}
	})
}
