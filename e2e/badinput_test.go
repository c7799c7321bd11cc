package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestBadInput sends requests that must fail, each with its JSON error, and
// checks afterwards that none of them changed the store or hurt the node.
func TestBadInput(t *testing.T) {
	t.Parallel()
	n := startNode(t, "bad", "-maxbody", "1024")

	// Some data to damage.
	n.set("/a", "file")
	n.set("/dir/x", "1")
	n.set("/keep", "safe")
	// A key that merely starts like a reserved one is an ordinary key.
	e := n.set("/_etcdfoo", "allowed")
	sameEvent(t, "set /_etcdfoo", e, testnode.Event{Action: "SET", Key: "/_etcdfoo", Value: "allowed", NewKey: true})
	e = n.set("/ephemeralNodesX/y", "allowed")
	sameEvent(t, "set /ephemeralNodesX/y", e, testnode.Event{Action: "SET", Key: "/ephemeralNodesX/y", Value: "allowed", NewKey: true})
	want := n.tree("/")
	if want["/_etcd/machines/bad"] == "" || want["/keep"] != "safe" || want["/dir"] != "<dir>" {
		t.Fatalf("unexpected initial tree: %v", want)
	}

	big := strings.Repeat("x", 2048)
	cases := []struct {
		name   string
		method string
		path   string
		form   url.Values
		status int
		code   int
		cause  string // checked when not empty
	}{
		{"set without value", "POST", "/v1/keys/new", nil, 400, 200, ""},
		{"set with an empty value", "POST", "/v1/keys/new", form("value", ""), 400, 200, ""},
		{"put without value", "PUT", "/v1/keys/keep", form("ttl", "5"), 400, 200, ""},
		{"ttl=abc", "POST", "/v1/keys/new", form("value", "1", "ttl", "abc"), 400, 202, ""},
		{"ttl=-1", "POST", "/v1/keys/keep", form("value", "1", "ttl", "-1"), 400, 202, ""},
		{"ttl=0", "POST", "/v1/keys/keep", form("value", "1", "ttl", "0"), 400, 202, ""},
		{"ttl=1.5", "POST", "/v1/keys/keep", form("value", "1", "ttl", "1.5"), 400, 202, ""},
		{"test-and-set with ttl=abc", "POST", "/v1/keys/keep", form("value", "1", "prevValue", "safe", "ttl", "abc"), 400, 202, ""},
		{"watch index=abc", "POST", "/v1/watch/keep", form("index", "abc"), 400, 203, ""},
		{"watch without index", "POST", "/v1/watch/keep", nil, 400, 203, ""},
		{"set /_etcd/x", "POST", "/v1/keys/_etcd/x", form("value", "1"), 400, 400, ""},
		{"set /_etcd/machines/bad", "POST", "/v1/keys/_etcd/machines/bad", form("value", "raft=x"), 400, 400, ""},
		{"delete /_etcd/x", "DELETE", "/v1/keys/_etcd/x", nil, 400, 400, ""},
		{"delete /_etcd/machines/bad", "DELETE", "/v1/keys/_etcd/machines/bad", nil, 400, 400, ""},
		{"set /ephemeralNodes/x", "POST", "/v1/keys/ephemeralNodes/x", form("value", "1"), 400, 400, ""},
		{"delete /ephemeralNodes/x", "DELETE", "/v1/keys/ephemeralNodes/x", nil, 400, 400, ""},
		{"set /a/b through the file /a", "POST", "/v1/keys/a/b", form("value", "1"), 400, 102, ""},
		{"set the directory /dir", "POST", "/v1/keys/dir", form("value", "1"), 400, 102, ""},
		{"test-and-set the directory /dir", "POST", "/v1/keys/dir", form("value", "1", "prevValue", ""), 400, 102, ""},
		{"set the root", "POST", "/v1/keys/", form("value", "1"), 400, 102, ""},
		{"delete the directory /dir", "DELETE", "/v1/keys/dir", nil, 400, 102, ""},
		{"delete a missing key", "DELETE", "/v1/keys/missing", nil, 404, 100, ""},
		{"delete below a file", "DELETE", "/v1/keys/a/b", nil, 404, 100, ""},
		{"get a missing key", "GET", "/v1/keys/missing", nil, 404, 100, ""},
		{"test-and-set a missing key", "POST", "/v1/keys/missing", form("value", "1", "prevValue", "x"), 404, 100, ""},
		{"test-and-set a wrong value", "POST", "/v1/keys/keep", form("value", "1", "prevValue", "other"), 400, 101, "TestAndSet: safe!=other"},
		{"PATCH a key", "PATCH", "/v1/keys/keep", form("value", "1"), 405, 405, ""},
		{"PATCH a watch", "PATCH", "/v1/watch/keep", nil, 405, 405, ""},
		{"a NUL in a key", "GET", "/v1/keys/a%00b", nil, 400, 209, ""},
		{"a NUL in a key set", "POST", "/v1/keys/a%00b", form("value", "1"), 400, 209, ""},
		{"a control character in a watch", "GET", "/v1/watch/a%01b", nil, 400, 209, ""},
		{"a body over -maxbody", "POST", "/v1/keys/big", form("value", big), 413, 413, ""},
		{"a test-and-set over -maxbody", "POST", "/v1/keys/keep", form("prevValue", "safe", "value", big), 413, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The path is sent as written: a %00 must reach the server.
			u, err := url.Parse(n.url(c.path))
			if err != nil {
				t.Fatal(err)
			}
			var body *strings.Reader
			if c.form != nil {
				body = strings.NewReader(c.form.Encode())
			} else {
				body = strings.NewReader("")
			}
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, c.method, u.String(), body)
			if err != nil {
				t.Fatal(err)
			}
			if c.form != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			r, err := n.send(req)
			if err != nil {
				t.Fatalf("%s %s: %v", c.method, c.path, err)
			}
			got := expectError(t, r, c.status, c.code)
			if c.cause != "" && got.Cause != c.cause {
				t.Fatalf("%v: cause %q, want %q", r, got.Cause, c.cause)
			}
			if c.code == 405 && r.Header.Get("Allow") == "" {
				t.Fatalf("%v: a 405 without an Allow header", r)
			}
		})
	}

	// Paths that are not clean are redirected to their clean form before
	// anything else happens: 301 for reads, 308 for writes, which clients
	// send again with their method. They are written raw on the
	// connection, so no client library cleans them first.
	redirects := []struct {
		request, location string
		status            int
	}{
		{"GET /v1/keys/a/../b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "/v1/keys/b", 301},
		{"GET /v1/keys//keep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "/v1/keys/keep", 301},
		{"GET /v1/keys/./keep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "/v1/keys/keep", 301},
		{"POST /v1/keys/dir/../keep HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\nvalue=bad", "/v1/keys/keep", 308},
		{"DELETE /v1/keys/x/../keep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "/v1/keys/keep", 308},
	}
	for _, rd := range redirects {
		line := rd.request[:strings.Index(rd.request, "\r\n")]
		resp := rawHTTP(t, n.clientPort, rd.request)
		status, _, _ := strings.Cut(resp, "\r\n")
		if !strings.HasPrefix(status, fmt.Sprintf("HTTP/1.1 %d ", rd.status)) {
			t.Fatalf("%s: status line %q, want %d:\n%s", line, status, rd.status, resp)
		}
		if !strings.Contains(resp, "\r\nLocation: "+rd.location+"\r\n") {
			t.Fatalf("%s: want Location: %s:\n%s", line, rd.location, resp)
		}
	}
	// The same with Go's client, the path kept as is through Opaque.
	req, err := http.NewRequest(http.MethodGet, n.url("/"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = "/v1/keys/a/../b"
	r, err := n.send(req)
	if err != nil {
		t.Fatalf("GET /v1/keys/a/../b: %v", err)
	}
	if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != "/v1/keys/b" {
		t.Fatalf("GET /v1/keys/a/../b: %d Location %q, want 301 to /v1/keys/b", r.Status, r.Header.Get("Location"))
	}

	// Garbage on the peer routes is refused, and the node lives on. It
	// carries the node's cluster identity, or it would be refused unread.
	id := n.clusterID()
	for _, path := range []string{"/log/append", "/vote", "/snapshot", "/snapshotRecovery"} {
		for _, garbage := range [][]byte{[]byte("garbage"), {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, {0x0a, 0x7f, 'x'}} {
			req, err := http.NewRequest(http.MethodPost, n.raftURL(path), bytes.NewReader(garbage))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(clusterIDHeader, id)
			resp, err := n.client.Do(req)
			if err != nil {
				t.Fatalf("POST %s with garbage: %v", path, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("POST %s with garbage %q: status %d, want 400", path, garbage, resp.StatusCode)
			}
		}
	}
	for _, garbage := range []string{"garbage", "{", `{"name":1}`, `{}`, "\x00\xff"} {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, n.raftURL("/join"), strings.NewReader(garbage))
		r, err := n.send(req)
		cancel()
		if err != nil {
			t.Fatalf("POST /join %q: %v", garbage, err)
		}
		expectError(t, r, http.StatusBadRequest, 210)
	}

	// Junk on raw connections to both ports, some of it cut off halfway.
	for _, port := range []int{n.clientPort, n.raftPort} {
		for _, junk := range []string{
			"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
			"NOT-HTTP\r\n\r\n",
			"POST /v1/keys/keep HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nvalue=",
			"GET /v1/watch/keep HTTP/1.1\r\nHost: x\r\n",
			"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", // the start of a TLS handshake
		} {
			rawClose(t, port, junk)
		}
	}

	// Nothing changed, and the node still serves reads and writes.
	if got := n.tree("/"); !reflect.DeepEqual(got, want) {
		t.Fatalf("bad input changed the store:\n got  %v\n want %v", got, want)
	}
	if n.hasExited() {
		t.Fatalf("the node exited: %v", n.exitError())
	}
	n.text("/version")
	e = n.set("/after", "ok")
	sameEvent(t, "set /after", e, testnode.Event{Action: "SET", Key: "/after", Value: "ok", NewKey: true})
	if got := n.get("/keep").Value; got != "safe" {
		t.Fatalf("/keep = %q, want safe", got)
	}
	if got := n.text("/leader"); got != n.raftURL("") {
		t.Fatalf("GET /leader = %q after the garbage, want %q", got, n.raftURL(""))
	}
}
