package raftguard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/etcd-recreation/etcd/etcderr"
)

func TestIdentityText(t *testing.T) {
	for _, id := range []Identity{1, 0xabc, 0x0123456789abcdef, 0xffffffffffffffff} {
		s := id.String()
		if len(s) != 16 || strings.ToLower(s) != s {
			t.Fatalf("%d is written %q, want 16 lower-case hex digits", uint64(id), s)
		}
		if back, err := ParseIdentity(s); err != nil || back != id {
			t.Fatalf("ParseIdentity(%q) = %v, %v, want %v", s, back, err, id)
		}
	}
	// etcd 2 writes its ids without leading zeros.
	if id, err := ParseIdentity("abc"); err != nil || id != 0xabc {
		t.Fatalf(`ParseIdentity("abc") = %v, %v`, id, err)
	}
	for _, bad := range []string{"", "0", "0000000000000000", "00000000000000001", "0x1f", "+1f", "-1", " 1f", "1f ", "xyz", "10000000000000000"} {
		if id, err := ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity(%q) = %v, want an error", bad, id)
		}
	}
}

func TestNewIdentitiesDiffer(t *testing.T) {
	seen := map[Identity]bool{}
	for range 1000 {
		id := NewIdentity()
		if id == 0 || seen[id] {
			t.Fatalf("drew %v twice, or 0", id)
		}
		seen[id] = true
	}
}

// keeperSaving is a keeper holding id whose saves are recorded in saved.
func keeperSaving(id Identity, saved *[]Identity, notes *[]string) *IdentityKeeper {
	var k *IdentityKeeper
	k = NewIdentityKeeper(id, func(id Identity) error {
		if _, held := k.Identity(); held {
			return errors.New("saved after it was held")
		}
		*saved = append(*saved, id)
		return nil
	}, func(line string) { *notes = append(*notes, line) })
	return k
}

// TestIdentityIsSavedBeforeItIsHeld: nothing may be sent or accepted under
// an identity that a restart would not have.
func TestIdentityIsSavedBeforeItIsHeld(t *testing.T) {
	var saved []Identity
	var notes []string
	k := keeperSaving(0, &saved, &notes)
	if _, held := k.Identity(); held {
		t.Fatal("a new keeper of no identity holds one")
	}
	id, err := k.Found()
	if err != nil || len(saved) != 1 || saved[0] != id {
		t.Fatalf("Found = %v, %v; saved %v", id, err, saved)
	}
	if again, err := k.Found(); err != nil || again != id || len(saved) != 1 {
		t.Fatalf("a second Found = %v, %v (saved %v), want the first, not saved again", again, err, saved)
	}
	if err := k.Adopt(id + 1); err == nil {
		t.Fatal("a keeper holding an identity adopted another")
	}
	if err := k.Adopt(id); err != nil || len(saved) != 1 {
		t.Fatalf("adopting the identity held: %v (saved %v)", err, saved)
	}

	failing := NewIdentityKeeper(0, func(Identity) error { return errors.New("disk full") }, nil)
	if err := failing.Adopt(7); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Adopt with a failing save: %v", err)
	}
	if _, held := failing.Identity(); held {
		t.Fatal("an identity that could not be saved is held")
	}
}

const (
	ours   = Identity(0x1111)
	theirs = Identity(0x2222)
)

// TestIdentityHandler: raft routes take only this cluster's requests; the
// operator's routes take requests without an identity too; a node that has
// yet to join takes raft messages from no one, and a legacy node from
// everyone.
func TestIdentityHandler(t *testing.T) {
	type node struct {
		name   string
		id     Identity
		legacy bool
	}
	member, joiner, legacy := node{"member", ours, false}, node{"joiner", 0, false}, node{"legacy", 0, true}
	tests := []struct {
		node   node
		path   string
		header string
		passes bool
	}{
		{member, "/log/append", ours.String(), true},
		{member, "/log/append", "1111", true},
		{member, "/log/append", theirs.String(), false},
		{member, "/log/append", "", false},
		{member, "/log/append", "nonsense", false},
		{member, "/preVote", "", false}, // a route added later is guarded
		{member, "/version", "", true},
		{member, "/version", ours.String(), true},
		{member, "/version", theirs.String(), false},
		{member, "/remove/node2", "", true},
		{member, "/remove/node2", theirs.String(), false},
		{member, "/removeall", "", false},
		{joiner, "/vote", "", false},
		{joiner, "/vote", theirs.String(), false},
		{joiner, "/version", "", true},
		{joiner, "/version", theirs.String(), true},
		{legacy, "/log/append", "", true},
		{legacy, "/log/append", theirs.String(), true},
	}
	for _, tt := range tests {
		var saved []Identity
		var notes []string
		k := keeperSaving(tt.node.id, &saved, &notes)
		if tt.node.legacy {
			k.SetLegacy()
		}
		reached := false
		h := k.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }), "/version", "/remove/")
		r := httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader("body"))
		if tt.header != "" {
			r.Header.Set(IdentityHeader, tt.header)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		what := tt.node.name + " " + tt.path + " with " + IdentityHeader + " " + tt.header
		if reached != tt.passes {
			t.Errorf("%s: reached the handler %v, want %v (HTTP %d %s)", what, reached, tt.passes, w.Code, w.Body)
			continue
		}
		if got := w.Header().Get(IdentityHeader); (tt.node.id == 0 && got != "") || (tt.node.id != 0 && got != tt.node.id.String()) {
			t.Errorf("%s: the answer carries %s %q", what, IdentityHeader, got)
		}
		if tt.passes {
			if len(notes) != 0 {
				t.Errorf("%s: passed, and logged %q", what, notes)
			}
			continue
		}
		var e etcderr.Error
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != http.StatusPreconditionFailed || e.Code != etcderr.InvalidField || e.Cause == "" {
			t.Errorf("%s: refused with HTTP %d %s, want 412 and error %d", what, w.Code, w.Body, etcderr.InvalidField)
		}
		if len(notes) != 1 || !strings.Contains(notes[0], "refused POST "+tt.path) || !strings.Contains(notes[0], e.Cause) {
			t.Errorf("%s: refused (%s), and logged %q", what, e.Cause, notes)
		}
	}
}

// TestIdentityTransport: calls carry the identity held; an answer of
// another cluster is an error, its body closed.
func TestIdentityTransport(t *testing.T) {
	// The peer's handler runs in a goroutine of its own.
	var mu sync.Mutex
	var answerWith string
	var got []string
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Header.Get(IdentityHeader))
		if answerWith != "" {
			w.Header().Set(IdentityHeader, answerWith)
		}
		io.WriteString(w, "answer")
	}))
	defer peer.Close()
	var saved []Identity
	var notes []string
	k := keeperSaving(0, &saved, &notes)
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	client := &http.Client{Transport: k.Transport(base)}
	answer := func(id string) {
		mu.Lock()
		defer mu.Unlock()
		answerWith = id
	}
	sent := func(i int) string {
		mu.Lock()
		defer mu.Unlock()
		return got[i]
	}
	call := func() (*http.Request, error) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, peer.URL+"/term", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return req, err
	}

	answer(theirs.String())
	if _, err := call(); err != nil || sent(0) != "" {
		t.Fatalf("a node of no identity: %v, sent %q; want no identity sent and no answer checked", err, sent(0))
	}
	if err := k.Adopt(ours); err != nil {
		t.Fatal(err)
	}
	answer(ours.String())
	req, err := call()
	if err != nil || sent(1) != ours.String() {
		t.Fatalf("a call of cluster %s: %v, sent %q", ours, err, sent(1))
	}
	if len(req.Header) != 0 {
		t.Fatalf("the caller's request was changed: %v", req.Header)
	}
	answer("")
	if _, err := call(); err != nil {
		t.Fatalf("an answer without an identity: %v", err)
	}
	answer(theirs.String())
	_, err = call()
	mismatch, ok := IsIdentityMismatch(err)
	if !ok || mismatch.Theirs != theirs || mismatch.Ours != ours || mismatch.Peer != peer.URL {
		t.Fatalf("an answer of cluster %s: %v, want an IdentityMismatchError", theirs, err)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], theirs.String()) {
		t.Fatalf("the answer of another cluster was logged as %q", notes)
	}
	answer("nonsense")
	if _, err := call(); err == nil {
		t.Fatal("an answer with a malformed identity was taken")
	}
}

// TestAgreeWith: a joiner takes the identity of the member it joins
// through; a member of a cluster refuses another's; a legacy node waits
// for its leader's.
func TestAgreeWith(t *testing.T) {
	header := func(id string) http.Header {
		h := http.Header{}
		if id != "" {
			h.Set(IdentityHeader, id)
		}
		return h
	}
	var saved []Identity
	var notes []string
	joiner := keeperSaving(0, &saved, &notes)
	if err := joiner.AgreeWith("http://m", header("")); err == nil {
		t.Fatal("a joiner agreed with a member of no identity")
	} else if _, ok := IsIdentityMismatch(err); ok {
		t.Fatalf("a member of no identity yet is a mismatch (%v): a retry may succeed", err)
	}
	if err := joiner.AgreeWith("http://m", header(theirs.String())); err != nil {
		t.Fatal(err)
	}
	if id, _ := joiner.Identity(); id != theirs || len(saved) != 1 || saved[0] != theirs {
		t.Fatalf("the joiner holds %v, saved %v; want %v", id, saved, theirs)
	}
	err := joiner.AgreeWith("http://other", header(ours.String()))
	if mismatch, ok := IsIdentityMismatch(err); !ok || mismatch.Peer != "http://other" || mismatch.Theirs != ours || mismatch.Ours != theirs {
		t.Fatalf("a member of another cluster: %v", err)
	}

	legacy := keeperSaving(0, &saved, &notes)
	legacy.SetLegacy()
	if err := legacy.AgreeWith("http://m", header(theirs.String())); err != nil {
		t.Fatal(err)
	}
	if _, held := legacy.Identity(); held || !legacy.Legacy() {
		t.Fatal("a legacy node took the identity of a member other than its leader")
	}
	if adopted, err := legacy.AdoptFromLeader(header(theirs.String())); !adopted || err != nil {
		t.Fatalf("a legacy node did not take its leader's identity: %v", err)
	}
	if id, _ := legacy.Identity(); id != theirs || legacy.Legacy() {
		t.Fatalf("after its leader's append, the legacy node holds %v", id)
	}
	if adopted, _ := joiner.AdoptFromLeader(header(ours.String())); adopted {
		t.Fatal("a node that is not legacy took an identity from an append")
	}
}
