package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
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

// checkCORS checks that every entry of the -cors list is * or an origin as
// a browser sends it in its Origin header: an entry of another form would
// never match one.
func checkCORS(list string) error {
	for _, origin := range strings.Split(list, ",") {
		origin = strings.TrimSpace(origin)
		if origin == "" || origin == "*" {
			continue
		}
		if err := checkOrigin(origin); err != nil {
			return fmt.Errorf("%q is not an origin: %v; want * or scheme://host[:port] as a browser sends it, such as http://example.com:8080", origin, err)
		}
	}
	return nil
}

func checkOrigin(origin string) error {
	if origin != strings.ToLower(origin) {
		return errors.New("capitals, which browsers never send")
	}
	u, err := url.Parse(origin)
	if urlErr, ok := err.(*url.Error); ok {
		err = urlErr.Err
	}
	switch {
	case err != nil:
		return err
	case u.Scheme == "" || u.Opaque != "" || !strings.HasPrefix(origin, u.Scheme+"://"):
		return errors.New("no scheme://")
	case u.Host == "":
		return errors.New("no host")
	case u.User != nil:
		return errors.New("a user name")
	case u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("more than scheme, host and port")
	case strings.HasSuffix(u.Host, ":"):
		return errors.New("an empty port")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %s out of range", port)
		}
	}
	return nil
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
