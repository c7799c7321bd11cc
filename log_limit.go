package main

import (
	"fmt"
	"log"
	"strings"
	"sync"
	"time"
)

// handshakeLogInterval is the least time between two lines about refused
// TLS handshakes on one port: a scanner or a misconfigured client may try
// many times a second, and the log must stay readable.
const handshakeLogInterval = 10 * time.Second

// logLimiter prints at most one line per interval. The lines it holds back
// are counted, and the count is printed once the interval is over, so that
// a burst shows as its first line and its size.
type logLimiter struct {
	prefix   string // what the lines are about, e.g. "client port 127.0.0.1:4001"
	interval time.Duration
	out      func(string)
	now      func() time.Time
	after    func(time.Duration, func())

	mu   sync.Mutex
	last time.Time // when the last line was printed; zero before the first
	held int       // lines held back since then
}

func newLogLimiter(prefix string, interval time.Duration, out func(string)) *logLimiter {
	return &logLimiter{prefix: prefix, interval: interval, out: out, now: time.Now,
		after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }}
}

func (l *logLimiter) print(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.last.IsZero() || now.Sub(l.last) >= l.interval {
		l.out(l.prefix + ": " + msg)
		l.last = now
		return
	}
	l.held++
	if l.held == 1 {
		l.after(l.last.Add(l.interval).Sub(now), l.flush)
	}
}

// flush prints the count of the lines held back.
func (l *logLimiter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == 0 {
		return
	}
	l.out(fmt.Sprintf("%s: %d more lines like the last one were held back (at most one every %v)", l.prefix, l.held, l.interval))
	l.last = l.now()
	l.held = 0
}

// serverErrorLog is the ErrorLog of an HTTP server on the port named by
// prefix: net/http's lines about refused TLS handshakes go through a
// limiter, the rest (rare, and worth seeing) to the log as they come.
func serverErrorLog(prefix string) *log.Logger {
	handshakes := newLogLimiter(prefix, handshakeLogInterval, func(s string) { log.Print(s) })
	return log.New(lineWriter(func(line string) {
		if msg, ok := strings.CutPrefix(line, "http: "); ok && strings.HasPrefix(msg, "TLS handshake error") {
			handshakes.print(msg)
			return
		}
		log.Printf("%s: %s", prefix, line)
	}), "", 0)
}

// lineWriter hands each line a log.Logger writes to a function.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	w(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
