package main

import (
	"io"
	"strings"
	"testing"
)

// TestCORSOriginsMustBeOrigins: -cors takes * or origins as browsers send
// them; anything else would never match an Origin header, and is refused
// with a message that names it.
func TestCORSOriginsMustBeOrigins(t *testing.T) {
	for _, good := range []string{"*", "http://x.com", "http://x.com,https://y.org:8443", "http://127.0.0.1:3000", "http://[::1]:8080", " http://x.com , *", "chrome-extension://abcdef"} {
		cfg, err := parseFlags([]string{"-cors", good}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.validate(); err != nil {
			t.Errorf("-cors %q: %v, want it accepted", good, err)
		}
	}
	for _, c := range []struct{ list, bad string }{
		{"http://x.com,bad", "bad"},
		{"x.com", "x.com"},
		{"http://x.com/", "http://x.com/"},
		{"http://x.com/page", "http://x.com/page"},
		{"http://x.com?q=1", "http://x.com?q=1"},
		{"http://user@x.com", "http://user@x.com"},
		{"http://x.com:", "http://x.com:"},
		{"http://x.com:port", "http://x.com:port"},
		{"http://x.com:99999", "http://x.com:99999"},
		{"http://", "http://"},
		{"HTTP://X.COM", "HTTP://X.COM"},
		{"null", "null"},
		{"http://x.com *", "http://x.com *"},
	} {
		cfg, err := parseFlags([]string{"-cors", c.list}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		err = cfg.validate()
		if err == nil || !strings.HasPrefix(err.Error(), "-cors: ") || !strings.Contains(err.Error(), `"`+c.bad+`"`) {
			t.Errorf("-cors %q: error %v, want one that names -cors and the origin %q", c.list, err, c.bad)
		}
	}
}
