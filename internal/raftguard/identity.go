package raftguard

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/etcd-recreation/etcd/etcderr"
)

// One cluster identity.
//
// goraft follows whichever leader reaches it with a higher term. Without an
// identity, a node whose peer port had just been a member's of another
// cluster took that cluster's leader as its own, and would have taken its
// log too (seen in CI, where test processes reuse each other's ports).
//
// A cluster draws a random identity when it is founded. Every member keeps
// it in its data directory, sends it in IdentityHeader with every request to
// a peer and every answer, and refuses the raft messages of any other
// cluster, or that carry none, before goraft sees them. The routes an
// operator calls with curl (and a joiner before it has an identity) take
// requests without it, but refuse one that carries another. A joiner takes
// the identity of the member it joins through, saved before it asks to
// join; until then it refuses every raft message, so that no stray leader
// captures it.
//
// A data directory written before identities holds none: see
// IdentityKeeper.SetLegacy.

// IdentityHeader carries the cluster's identity on every peer request and
// answer; etcd 2's members use the same header.
const IdentityHeader = "X-Etcd-Cluster-ID"

// Identity is a cluster's identity: 64 random bits, never 0.
type Identity uint64

// NewIdentity draws a new identity.
func NewIdentity() Identity {
	var b [8]byte
	for {
		// crypto/rand's Read does not fail: it crashes the program instead.
		rand.Read(b[:])
		if id := Identity(binary.BigEndian.Uint64(b[:])); id != 0 {
			return id
		}
	}
}

// String is the identity as 16 lower-case hex digits.
func (id Identity) String() string { return fmt.Sprintf("%016x", uint64(id)) }

// ParseIdentity reads an identity of 1 to 16 hex digits: etcd 2 writes its
// ids without leading zeros.
func ParseIdentity(s string) (Identity, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil || v == 0 || len(s) > 16 {
		return 0, fmt.Errorf("%q is not a cluster identity (1 to 16 hex digits, not all zero)", s)
	}
	return Identity(v), nil
}

// IdentityMismatchError is an answer from a member of another cluster.
type IdentityMismatchError struct {
	Peer   string // the member's URL
	Theirs Identity
	Ours   Identity
}

func (e *IdentityMismatchError) Error() string {
	return fmt.Sprintf("the member at %s belongs to cluster %s, and this node to cluster %s", e.Peer, e.Theirs, e.Ours)
}

// IdentityKeeper holds the identity of the cluster this node belongs to:
// none until it founds or joins one. An identity is saved before it is
// held, so that nothing is sent or accepted under an identity that a
// restart would not have.
type IdentityKeeper struct {
	save func(Identity) error
	note func(string) // logs a refusal; called many times a second by a stray cluster

	mu      sync.Mutex // one save at a time
	current atomic.Uint64
	legacy  atomic.Bool
}

// NewIdentityKeeper holds id, 0 for none. save keeps a new identity
// durably; note logs each refused request and each answer of another
// cluster, and should limit their rate.
func NewIdentityKeeper(id Identity, save func(Identity) error, note func(string)) *IdentityKeeper {
	k := &IdentityKeeper{save: save, note: note}
	k.current.Store(uint64(id))
	return k
}

// Identity is the identity held, false while there is none.
func (k *IdentityKeeper) Identity() (Identity, bool) {
	id := Identity(k.current.Load())
	return id, id != 0
}

// SetLegacy says that this node holds no identity because its data
// directory was written before identities, not because it has yet to join.
//
// Such a node takes raft messages with or without an identity, as it did
// before, until it holds one. If it leads, it draws the cluster's identity
// (Found, as it is elected and before its first append); if it follows, it
// takes the identity of the first append that goraft accepted from a
// member it knows (AdoptFromLeader). Every member of an upgraded cluster so
// ends up with its first leader's identity. One case needs an operator: a
// leader that drew an identity and was cut off before any member took it,
// while the others elected another leader without it, ends up refused by
// the others, and must be started again with -f.
func (k *IdentityKeeper) SetLegacy() { k.legacy.Store(true) }

// Legacy reports whether this node holds no identity because its data
// directory is from before identities.
func (k *IdentityKeeper) Legacy() bool {
	_, held := k.Identity()
	return !held && k.legacy.Load()
}

// Found returns the identity held, or draws and saves a new one: for a node
// founding a cluster, or leading one from before identities.
func (k *IdentityKeeper) Found() (Identity, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if id, held := k.Identity(); held {
		return id, nil
	}
	return k.holdLocked(NewIdentity())
}

// Adopt saves and holds id; a node holding another refuses it.
func (k *IdentityKeeper) Adopt(id Identity) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if held, ok := k.Identity(); ok {
		if held != id {
			return fmt.Errorf("this node belongs to cluster %s, not %s", held, id)
		}
		return nil
	}
	_, err := k.holdLocked(id)
	return err
}

func (k *IdentityKeeper) holdLocked(id Identity) (Identity, error) {
	if err := k.save(id); err != nil {
		return 0, fmt.Errorf("keep the cluster identity %s: %w", id, err)
	}
	k.current.Store(uint64(id))
	return id, nil
}

// AdoptFromLeader takes the identity of an append that goraft accepted,
// carried in h, if this node is a legacy one (see SetLegacy). The caller
// checks that the leader is a member this node knows. It reports whether it
// adopted one.
func (k *IdentityKeeper) AdoptFromLeader(h http.Header) (bool, error) {
	text := h.Get(IdentityHeader)
	if !k.Legacy() || text == "" {
		return false, nil
	}
	id, err := ParseIdentity(text)
	if err != nil {
		return false, err
	}
	return true, k.Adopt(id)
}

// AgreeWith makes sure that the member at peer, whose answer carried h,
// belongs to this node's cluster: a joiner that holds no identity yet takes
// the member's, saved before it returns. A legacy node takes its leader's
// instead (see SetLegacy), and agrees with anyone. A member that answers
// without an identity may still be joining: the error then is not an
// IdentityMismatchError, and asking again later may succeed.
func (k *IdentityKeeper) AgreeWith(peer string, h http.Header) error {
	if k.Legacy() {
		return nil
	}
	text := h.Get(IdentityHeader)
	if text == "" {
		return fmt.Errorf("the member at %s holds no cluster identity yet", peer)
	}
	theirs, err := ParseIdentity(text)
	if err != nil {
		return fmt.Errorf("the member at %s answers with %s: %w", peer, IdentityHeader, err)
	}
	ours, held := k.Identity()
	if held && theirs != ours {
		return &IdentityMismatchError{Peer: peer, Theirs: theirs, Ours: ours}
	}
	return k.Adopt(theirs)
}

// Handler refuses, before next sees them, the requests of another cluster,
// and every request without this node's identity but on operatorPaths (a
// path, or a prefix ending in "/"). Routes are refused unless listed, so
// that a raft route added later is guarded from the start. Every answer
// carries this node's identity, refusals too.
func (k *IdentityKeeper) Handler(next http.Handler, operatorPaths ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ours, held := k.Identity()
		if held {
			w.Header().Set(IdentityHeader, ours.String())
		}
		reason := k.refusal(r.Header.Get(IdentityHeader), identityOperatorPath(r.URL.Path, operatorPaths))
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		k.note(fmt.Sprintf("refused %s %s from %s: %s", r.Method, r.URL.Path, r.RemoteAddr, reason))
		b, _ := json.Marshal(etcderr.New(etcderr.InvalidField, reason))
		w.Header().Set("Content-Type", "application/json")
		// As etcd 2's members answer a cluster id mismatch.
		w.WriteHeader(http.StatusPreconditionFailed)
		w.Write(b)
	})
}

func identityOperatorPath(path string, operatorPaths []string) bool {
	for _, p := range operatorPaths {
		if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
			return true
		}
	}
	return false
}

// refusal is why a request that carried theirs (the header's text) is
// refused, "" when it is not.
func (k *IdentityKeeper) refusal(theirs string, operator bool) string {
	ours, held := k.Identity()
	open := operator || k.Legacy()
	if theirs == "" {
		switch {
		case open:
			return ""
		case held:
			return fmt.Sprintf("the request carries no cluster identity (%s), and this node belongs to cluster %s", IdentityHeader, ours)
		default:
			return "this node has not joined a cluster yet: it takes the identity of the member it joins through"
		}
	}
	id, err := ParseIdentity(theirs)
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", IdentityHeader, err)
	case held && id != ours:
		return fmt.Sprintf("the request comes from cluster %s, and this node belongs to cluster %s", id, ours)
	case !held && !open:
		return fmt.Sprintf("the request comes from cluster %s, and this node has not joined a cluster yet", id)
	}
	return ""
}

// Transport returns base, sending this node's identity with every request
// and refusing every answer that carries another.
func (k *IdentityKeeper) Transport(base *http.Transport) *IdentityTransport {
	return &IdentityTransport{keeper: k, base: base}
}

// IdentityTransport is the http.RoundTripper of every call to a peer.
type IdentityTransport struct {
	keeper *IdentityKeeper
	base   *http.Transport
}

// RoundTrip sends r with this node's identity, if it holds one. An answer
// that carries another identity is an *IdentityMismatchError: it comes
// from a node of another cluster, which has the address of a member, or
// was named by mistake.
func (t *IdentityTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	ours, held := t.keeper.Identity()
	if !held {
		return t.base.RoundTrip(r)
	}
	// A RoundTripper must not change the caller's request.
	r = r.Clone(r.Context())
	if r.Header == nil {
		r.Header = make(http.Header)
	}
	r.Header.Set(IdentityHeader, ours.String())
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	text := resp.Header.Get(IdentityHeader)
	if text == "" {
		return resp, nil
	}
	theirs, err := ParseIdentity(text)
	if err == nil && theirs == ours {
		return resp, nil
	}
	resp.Body.Close()
	peer := r.URL.Scheme + "://" + r.URL.Host
	if err != nil {
		return nil, fmt.Errorf("the member at %s answers with %s: %w", peer, IdentityHeader, err)
	}
	mismatch := &IdentityMismatchError{Peer: peer, Theirs: theirs, Ours: ours}
	t.keeper.note(fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, mismatch))
	return nil, mismatch
}

// CloseIdleConnections closes the idle connections of the base transport.
func (t *IdentityTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// IsIdentityMismatch reports whether err comes from an answer of another
// cluster, and returns it.
func IsIdentityMismatch(err error) (*IdentityMismatchError, bool) {
	var mismatch *IdentityMismatchError
	ok := errors.As(err, &mismatch)
	return mismatch, ok
}
