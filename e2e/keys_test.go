package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestKeys covers the rules of SPEC section 3 that the README walkthrough
// does not reach: where form values come from, key normalisation, escaping,
// test-and-set on missing keys, empty directories and TTL details.
func TestKeys(t *testing.T) {
	t.Parallel()
	n := startNode(t, "keys")

	t.Run("form values", func(t *testing.T) {
		// The body wins over the query string.
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.url("/v1/keys/q?value=query"), strings.NewReader("value=body"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r, err := n.send(req)
		if err != nil {
			t.Fatal(err)
		}
		sameEvent(t, "body and query", expectEvent(t, r), testnode.Event{Action: "SET", Key: "/q", Value: "body", NewKey: true})
		// The query string alone is enough.
		r = n.do(http.MethodPost, "/v1/keys/qo?value=fromquery&ttl=100", nil)
		e := expectEvent(t, r)
		sameEvent(t, "query only", e, testnode.Event{Action: "SET", Key: "/qo", Value: "fromquery", NewKey: true})
		if e.TTL != 99 {
			t.Fatalf("ttl=100 reported ttl %d, want 99 (whole seconds left, rounded down)", e.TTL)
		}
		// The first of repeated values.
		r = n.do(http.MethodPost, "/v1/keys/rep", form("value", "first", "value", "second"))
		sameEvent(t, "repeated value", expectEvent(t, r), testnode.Event{Action: "SET", Key: "/rep", Value: "first", NewKey: true})
		// PUT is a set too.
		r = n.do(http.MethodPut, "/v1/keys/rep", form("value", "put"))
		sameEvent(t, "PUT", expectEvent(t, r), testnode.Event{Action: "SET", Key: "/rep", PrevValue: "first", Value: "put"})
	})

	t.Run("key normalisation and escaping", func(t *testing.T) {
		// A trailing slash is dropped from the key.
		r := n.do(http.MethodPost, "/v1/keys/h/", form("value", "trailing"))
		sameEvent(t, "set /h/", expectEvent(t, r), testnode.Event{Action: "SET", Key: "/h", Value: "trailing", NewKey: true})
		sameEvent(t, "get /h/", n.get("/h/"), testnode.Event{Action: "GET", Key: "/h", Value: "trailing"})
		// /v1/keys without the slash is sent to the root.
		r = n.do(http.MethodGet, "/v1/keys", nil)
		if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != "/v1/keys/" {
			t.Fatalf("GET /v1/keys: %d Location %q, want 301 to /v1/keys/", r.Status, r.Header.Get("Location"))
		}
		// Strings are escaped as Go's encoding/json does.
		r = n.do(http.MethodPost, "/v1/keys/esc", form("value", `<a>&"é`))
		e := expectEvent(t, r)
		if want := fmt.Sprintf(`{"action":"SET","key":"/esc","value":"\u003ca\u003e\u0026\"é","newKey":true,"index":%d}`, e.Index); string(r.Body) != want {
			t.Fatalf("escaping:\n got  %s\n want %s", r.Body, want)
		}
		// Non-ASCII keys are keys like any other.
		r = n.do(http.MethodPost, "/v1/keys/%C3%A9t%C3%A9", form("value", "summer"))
		sameEvent(t, "set /été", expectEvent(t, r), testnode.Event{Action: "SET", Key: "/été", Value: "summer", NewKey: true})
	})

	t.Run("test and set", func(t *testing.T) {
		// An empty prevValue creates a missing key...
		r := n.do(http.MethodPost, "/v1/keys/tas", form("value", "new", "prevValue", ""))
		sameEvent(t, "create with prevValue=", expectEvent(t, r), testnode.Event{Action: "SET", Key: "/tas", Value: "new", NewKey: true})
		// ...and fails on an existing one.
		r = n.do(http.MethodPost, "/v1/keys/tas", form("value", "again", "prevValue", ""))
		if e := expectError(t, r, http.StatusBadRequest, 101); e.Cause != "TestAndSet: new!=" {
			t.Fatalf("cause %q, want %q", e.Cause, "TestAndSet: new!=")
		}
		// A non-empty prevValue on a missing key is 100.
		expectError(t, n.do(http.MethodPost, "/v1/keys/tas-missing", form("value", "x", "prevValue", "y")), http.StatusNotFound, 100)
		if got := n.get("/tas").Value; got != "new" {
			t.Fatalf("/tas = %q, want new", got)
		}
	})

	t.Run("directories", func(t *testing.T) {
		n.set("/ed/only", "1")
		expectEvent(t, n.do(http.MethodDelete, "/v1/keys/ed/only", nil))
		r := n.do(http.MethodGet, "/v1/keys/ed", nil)
		expectList(t, r)
		if string(r.Body) != "[]" {
			t.Fatalf("an emptied directory lists as %s, want []", r.Body)
		}
		// Reads never change the index.
		last := n.set("/idx", "x").Index
		for range 3 {
			if e := n.get("/idx"); e.Index != last {
				t.Fatalf("GET after the write at %d reports index %d", last, e.Index)
			}
		}
		if e := expectEvent(t, n.do(http.MethodGet, "/v1/keys/idx?consistent=true", nil)); e.Index != last || e.Value != "x" {
			t.Fatalf("consistent GET: %+v, want value x at index %d", e, last)
		}
		if e := n.set("/idx", "y"); e.Index <= last {
			t.Fatalf("write after reads has index %d, not above %d", e.Index, last)
		}
	})

	t.Run("ttl", func(t *testing.T) {
		// Below one second left, ttl is omitted while expiration stays.
		e := n.set("/short", "s", "ttl", "1")
		if e.Expiration == "" || e.TTL != 0 {
			t.Fatalf("set with ttl=1: %+v; want an expiration and no ttl", e)
		}

		// Deleting a key with a TTL shows its expiration, not a ttl.
		set := n.set("/delttl", "v", "ttl", "100")
		r := n.do(http.MethodDelete, "/v1/keys/delttl", nil)
		del := expectEvent(t, r)
		if want := fmt.Sprintf(`{"action":"DELETE","key":"/delttl","prevValue":"v","expiration":"%s","index":%d}`, set.Expiration, del.Index); string(r.Body) != want {
			t.Errorf("DELETE of a key with a TTL (SPEC 3: prevValue, plus expiration):\n got  %s\n want %s", r.Body, want)
		}

		// Setting again without ttl makes the key permanent again.
		first := n.set("/perm", "t", "ttl", "1")
		oldExpiration, _ := time.Parse(time.RFC3339Nano, first.Expiration)
		again := n.set("/perm", "t2")
		sameEvent(t, "set again without ttl", again, testnode.Event{Action: "SET", Key: "/perm", PrevValue: "t", Value: "t2"})
		if again.Expiration != "" {
			t.Fatalf("set without ttl still has expiration %s", again.Expiration)
		}
		testnode.WaitFor(t, 5*time.Second, "the old expiration of /perm to pass by a second", func() (bool, string) {
			e := n.get("/perm")
			if e.Value != "t2" || e.Expiration != "" {
				t.Fatalf("/perm after being made permanent: %+v", e)
			}
			return time.Now().After(oldExpiration.Add(time.Second)), "/perm still there, as it should be"
		})
	})
}
