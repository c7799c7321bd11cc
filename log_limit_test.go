package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRejectedTLSHandshakesAreLogged: a client without a certificate at a
// node that requires one is refused, and the node says so, once per
// interval however many are refused. It captures the process's log, so it
// does not run in parallel.
func TestRejectedTLSHandshakesAreLogged(t *testing.T) {
	var logged syncLog
	log.SetOutput(io.MultiWriter(os.Stderr, &logged))
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	ca := newTestCA(t, "handshake")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key, "-clientCAFile", ca.file,
		"-serverCert", cert, "-serverKey", key, "-serverCAFile", ca.file)
	for _, addr := range []string{n.e.cfg.ClientAddr, n.e.cfg.RaftAddr} {
		for range 5 {
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.pool()})
			if err == nil {
				// TLS 1.3 reports the missing certificate on the first read.
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Read(make([]byte, 1))
				conn.Close()
			}
			if err == nil {
				t.Fatalf("%s: a client without a certificate was let in", addr)
			}
		}
		waitFor(t, 5*time.Second, "the refused handshakes at "+addr+" to be logged", func() bool {
			return strings.Contains(logged.String(), "TLS handshake error from 127.0.0.1:") && strings.Contains(logged.String(), addr)
		})
		if c := strings.Count(logged.String(), addr+": TLS handshake error"); c != 1 {
			t.Fatalf("%d lines for 5 refused handshakes at %s, want 1 (the rest counted for later):\n%s", c, addr, logged.String())
		}
	}
	// Plain HTTP at the HTTPS client port is told so, as an API error.
	resp := rawExchange(t, n.e.cfg.ClientAddr, []byte("GET /version HTTP/1.1\r\nHost: x\r\n\r\n"))
	if cause := expectJSONError(t, "plain HTTP at the HTTPS port", resp, http.StatusBadRequest, 209); !strings.Contains(cause, "HTTPS") {
		t.Fatalf("plain HTTP at the HTTPS port: cause %q", cause)
	}
}

// syncLog collects log output written by the node's goroutines.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestHandshakeLogLimit: after the first line of an interval, lines are
// held back and counted, and the count is printed when the interval ends.
func TestHandshakeLogLimit(t *testing.T) {
	var lines []string
	var flush func()
	now := time.Unix(1000, 0)
	l := newLogLimiter("client port 127.0.0.1:4001", 10*time.Second, func(s string) { lines = append(lines, s) })
	l.now = func() time.Time { return now }
	l.after = func(d time.Duration, f func()) {
		if d != 8*time.Second || flush != nil {
			t.Fatalf("flush scheduled in %v (already scheduled: %v), want once in 8s", d, flush != nil)
		}
		flush = f
	}
	l.print("a")
	now = now.Add(2 * time.Second)
	l.print("b")
	l.print("c")
	now = now.Add(8 * time.Second)
	flush()
	now = now.Add(10 * time.Second)
	l.print("d")
	want := []string{
		"client port 127.0.0.1:4001: a",
		"client port 127.0.0.1:4001: 2 more lines like the last one were held back (at most one every 10s)",
		"client port 127.0.0.1:4001: d",
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("lines %q, want %q", lines, want)
	}
}
