package main

import (
	"net/http"
	"strings"
)

// corsPolicy is the -cors list: the origins whose pages may call the client
// API from a browser.
type corsPolicy struct {
	any     bool
	origins map[string]bool
}

func newCORSPolicy(list string) corsPolicy {
	p := corsPolicy{origins: make(map[string]bool)}
	for _, origin := range strings.Split(list, ",") {
		origin = strings.TrimSpace(origin)
		switch origin {
		case "":
		case "*":
			p.any = true
		default:
			p.origins[origin] = true
		}
	}
	return p
}

// wrap adds the CORS headers for allowed origins, and answers their
// preflight requests.
func (p corsPolicy) wrap(next http.Handler) http.Handler {
	if !p.any && len(p.origins) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || !(p.any || p.origins[origin]) {
			next.ServeHTTP(w, r)
			return
		}
		if p.any {
			w.Header().Set("Access-Control-Allow-Origin", "*")
		} else {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type")
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}
