package faults

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goraft/raft"
)

// A member advertises its proxy's address as its raft address (-s) and
// listens on another port (-sl): every peer message to the member passes
// through its proxy, which can refuse it. Peer messages are goraft's
// protobuf bodies; the sender of each is a field of the message.

// dropMode is how a proxy refuses a request during a partition.
type dropMode int

const (
	// refuseFast answers 503 at once, like a host that rejects the
	// connection.
	refuseFast dropMode = iota
	// blackhole holds the request without an answer until the sender gives
	// up (or the partition heals), then drops the connection: a network
	// that loses packets.
	blackhole
)

func (m dropMode) String() string {
	if m == blackhole {
		return "blackhole"
	}
	return "refuse"
}

// maxPeerBody bounds what a proxy reads of one request: a snapshot's
// state is the whole store.
const maxPeerBody = 1 << 30

// longestHold bounds how long a blackholed request is held.
const longestHold = 5 * time.Second

type peerProxy struct {
	member    string // name of the member behind the proxy
	listener  net.Listener
	server    *http.Server
	rp        *httputil.ReverseProxy
	transport *http.Transport

	mu       sync.Mutex
	isolated bool            // refuse everything
	blocked  map[string]bool // refuse what these members send
	mode     dropMode
	healed   chan struct{} // closed when the current cut heals

	forwarded, refused atomic.Int64
}

// newPeerProxy serves on listener and forwards to the member's real peer
// listener at target (host:port).
func newPeerProxy(member string, listener net.Listener, target string) *peerProxy {
	u := &url.URL{Scheme: "http", Host: target}
	p := &peerProxy{
		member:   member,
		listener: listener,
		transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
			MaxIdleConnsPerHost: 16,
			DisableCompression:  true,
			IdleConnTimeout:     30 * time.Second,
		},
		healed: make(chan struct{}),
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport: p.transport,
		ErrorLog:  log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			// The member is down, paused past the sender's deadline, or
			// dropped the connection: the sender sees a lost message.
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.server = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go p.server.Serve(listener)
	return p
}

func (p *peerProxy) addr() string { return p.listener.Addr().String() }

func (p *peerProxy) close() {
	p.heal()
	p.server.Close()
	p.transport.CloseIdleConnections()
}

// cut starts refusing: everything when isolated, else what the blocked
// members send.
func (p *peerProxy) cut(isolated bool, blocked []string, mode dropMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isolated = isolated
	p.blocked = map[string]bool{}
	for _, b := range blocked {
		p.blocked[b] = true
	}
	p.mode = mode
}

// heal forwards everything again and lets go of held requests.
func (p *peerProxy) heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isolated && len(p.blocked) == 0 {
		return
	}
	p.isolated = false
	p.blocked = nil
	close(p.healed)
	p.healed = make(chan struct{})
}

func (p *peerProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPeerBody))
	if err != nil {
		// The sender gave up while sending.
		panic(http.ErrAbortHandler)
	}
	if refuse, mode, healed := p.decide(r.URL, body); refuse {
		p.refused.Add(1)
		if mode == refuseFast {
			http.Error(w, "partitioned by the fault test", http.StatusServiceUnavailable)
			return
		}
		hold := time.NewTimer(longestHold)
		defer hold.Stop()
		select {
		case <-r.Context().Done():
		case <-healed:
		case <-hold.C:
		}
		// Close the connection without an answer.
		panic(http.ErrAbortHandler)
	}
	p.forwarded.Add(1)
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.rp.ServeHTTP(w, r)
}

// decide says whether a request to this URL with this body is refused now.
func (p *peerProxy) decide(u *url.URL, body []byte) (bool, dropMode, <-chan struct{}) {
	p.mu.Lock()
	isolated, blocked, mode, healed := p.isolated, p.blocked, p.mode, p.healed
	p.mu.Unlock()
	if isolated {
		return true, mode, healed
	}
	if len(blocked) == 0 {
		return false, mode, healed
	}
	// Decoding costs CPU: only done while a partition is on.
	sender, ok := senderOf(u, body)
	return ok && blocked[sender], mode, healed
}

// senderOf names the member that sent a goraft message, or a snapshot's
// state (its leader, in the query). Routes that carry no sender (GET
// /version, /commitIndex, /name, POST /join) report false.
func senderOf(u *url.URL, body []byte) (string, bool) {
	rd := bytes.NewReader(body)
	switch u.Path {
	case "/snapshotState":
		leader := u.Query().Get("leader")
		return leader, leader != ""
	case "/log/append":
		req := &raft.AppendEntriesRequest{}
		if _, err := req.Decode(rd); err != nil {
			return "", false
		}
		return req.LeaderName, true
	case "/vote":
		req := &raft.RequestVoteRequest{}
		if _, err := req.Decode(rd); err != nil {
			return "", false
		}
		return req.CandidateName, true
	case "/snapshot":
		req := &raft.SnapshotRequest{}
		if _, err := req.Decode(rd); err != nil {
			return "", false
		}
		return req.LeaderName, true
	case "/snapshotRecovery":
		req := &raft.SnapshotRecoveryRequest{}
		if _, err := req.Decode(rd); err != nil {
			return "", false
		}
		return req.LeaderName, true
	}
	return "", false
}
