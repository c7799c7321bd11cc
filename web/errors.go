package web

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/etcd-recreation/etcd/etcderr"
)

// The dashboard answers its errors as the client port does, in JSON with
// the HTTP status as the code for a route or method that does not exist:
// a client that reads the API's errors reads these too.

func writeError(w http.ResponseWriter, status int, e *etcderr.Error) {
	b, _ := json.Marshal(e)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, etcderr.HTTP(http.StatusNotFound, "no such route: "+r.URL.Path))
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, etcderr.HTTP(http.StatusMethodNotAllowed, r.Method))
}

// SendBrowsersToPage answers a browser's GET of the client port's root
// with a redirect to the page, and passes every other request to next.
// A browser is a request that accepts text/html: curl, etcdctl and the
// client libraries do not ask for it, and keep the API's answer for a path
// that is no route (a JSON 404): a program that follows redirects would
// otherwise read a page of HTML where it expects JSON.
func SendBrowsersToPage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The answer depends on Accept: a cache must not hand the redirect
		// to a program, nor the 404 to a browser.
		w.Header().Add("Vary", "Accept")
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && acceptsHTML(r) {
			http.Redirect(w, r, Prefix, http.StatusFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func acceptsHTML(r *http.Request) bool {
	for _, accept := range r.Header.Values("Accept") {
		for _, media := range strings.Split(accept, ",") {
			kind, _, _ := strings.Cut(media, ";")
			if strings.EqualFold(strings.TrimSpace(kind), "text/html") {
				return true
			}
		}
	}
	return false
}
