package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/etcd-recreation/etcd/etcderr"
)

// clientListener serves the client port (and the dashboard's -w address)
// so that every answer on it is JSON. net/http answers some requests itself
// before any handler runs (a request line it cannot parse, headers over its
// limit, a transfer encoding it does not know), in plain text written
// straight to the connection; jsonConn puts a JSON error in its place. TLS
// is terminated here, below that rewrite: net/http's own TLS would write
// those answers encrypted, out of reach. Refused handshakes are logged
// through a limiter.
type clientListener struct {
	net.Listener
	tls            *tls.Config // nil without TLS
	maxHeaderBytes int
	handshakes     *logLimiter
}

func newClientListener(l net.Listener, tlsConfig *tls.Config, maxHeaderBytes int, port string) *clientListener {
	return &clientListener{Listener: l, tls: tlsConfig, maxHeaderBytes: maxHeaderBytes,
		handshakes: newLogLimiter(port, handshakeLogInterval, func(s string) { log.Print(s) })}
}

func (l *clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	jc := &jsonConn{Conn: c, raw: c, listener: l}
	if l.tls != nil {
		jc.tls = tls.Server(c, l.tls)
		jc.Conn = jc.tls
	}
	return jc, nil
}

// jsonConn is one client connection: TLS when the port has it, and
// net/http's own plain-text refusals replaced by JSON errors.
type jsonConn struct {
	net.Conn           // what net/http reads and writes: raw, or TLS over raw
	raw      net.Conn  // the TCP connection
	tls      *tls.Conn // nil without TLS
	listener *clientListener
	// handshook is set once the TLS handshake succeeded. net/http reads
	// from one goroutine at a time, but not always the same one.
	handshook atomic.Bool
}

// Read completes the TLS handshake first, within the read deadline
// net/http has set for the request's headers, so that a failed one can be
// told apart from a failed read and logged.
func (c *jsonConn) Read(p []byte) (int, error) {
	if c.tls != nil && !c.handshook.Load() {
		if err := c.tls.Handshake(); err != nil {
			c.handshakeFailed(err)
			return 0, err
		}
		c.handshook.Store(true)
	}
	return c.Conn.Read(p)
}

func (c *jsonConn) handshakeFailed(err error) {
	var rec tls.RecordHeaderError
	if errors.As(err, &rec) && rec.Conn != nil && looksLikeHTTP(rec.RecordHeader[:]) {
		// A client speaking plain HTTP to the HTTPS port: tell it so, in
		// the clear, as an error of the API.
		rec.Conn.Write(jsonReply(http.StatusBadRequest, "client sent an HTTP request to an HTTPS server"))
		err = errors.New("client sent an HTTP request to an HTTPS server")
	}
	c.listener.handshakes.print(fmt.Sprintf("TLS handshake error from %s: %v", c.raw.RemoteAddr(), err))
}

func looksLikeHTTP(header []byte) bool {
	for _, method := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH"} {
		if bytes.HasPrefix(header, []byte(method)) {
			return true
		}
	}
	return false
}

// cannedHeaders are what net/http puts between the status line and the
// body of the answers it writes itself. A handler's answer never has them
// in this order: net/http sorts its headers and adds a Date.
const cannedHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// Write passes a handler's answer on, and replaces one of net/http's own
// plain-text refusals, which it writes in one piece, with a JSON error.
func (c *jsonConn) Write(p []byte) (int, error) {
	status, cause, ok := parseCanned(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if status == http.StatusRequestHeaderFieldsTooLarge && cause == "" {
		cause = fmt.Sprintf("the request line and headers are over %d bytes (the key is in the request line)", c.listener.maxHeaderBytes)
	}
	if _, err := c.Conn.Write(jsonReply(status, cause)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite lets net/http half-close after a refusal, so that the client
// reads the answer before the connection is reset.
func (c *jsonConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// parseCanned recognises net/http's own refusals: "HTTP/1.1 STATUS
// TEXT[: CAUSE]", cannedHeaders, then a body repeating the status line or
// giving the cause.
func parseCanned(p []byte) (status int, cause string, ok bool) {
	const proto = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(proto)) || len(p) < len(proto)+3 {
		return 0, "", false
	}
	// The status line ends at the first CRLF: only a short look per write.
	end := bytes.Index(p, []byte("\r\n"))
	if end < 0 || !bytes.HasPrefix(p[end:], []byte(cannedHeaders)) {
		return 0, "", false
	}
	status, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil || status < 400 {
		return 0, "", false
	}
	body := p[end+len(cannedHeaders):]
	body = bytes.TrimPrefix(body, []byte(strconv.Itoa(status)+" "+http.StatusText(status)))
	return status, string(bytes.TrimPrefix(body, []byte(": "))), true
}

// jsonReply is a whole HTTP answer with an API error for status. A
// malformed request is error 209 (Invalid field), as code 400 is taken by
// another error; the other refusals carry their HTTP status as their code,
// as 404, 405 and 413 do.
func jsonReply(status int, cause string) []byte {
	e := etcderr.HTTP(status, cause)
	if status == http.StatusBadRequest {
		if cause == "" {
			cause = "malformed HTTP request"
		}
		e = etcderr.New(etcderr.InvalidField, "request: "+cause)
	}
	body, _ := json.Marshal(e)
	return fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(body), body)
}
