package main

import "net/http"

// jsonRouteErrors serves mux, answering an unknown route or a wrong method
// with the same JSON errors as the client port instead of net/http's plain
// text.
func jsonRouteErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route matched: the mux answers 404, 405 with the Allow header
		// it computed, or a redirect to a cleaned path, which is kept.
		mux.ServeHTTP(&routeErrorWriter{ResponseWriter: w, r: r}, r)
	})
}

// routeErrorWriter replaces the mux's text answer of a 404 or a 405 with
// a JSON one.
type routeErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *routeErrorWriter) WriteHeader(status int) {
	switch status {
	case http.StatusNotFound:
		w.replaced = true
		notFound(w.ResponseWriter, w.r)
	case http.StatusMethodNotAllowed:
		w.replaced = true
		methodNotAllowed(w.ResponseWriter, w.r, w.Header().Get("Allow"))
	default:
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *routeErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
