package e2e

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// v2Request sends a /v2/keys request as curl does: body as a form for
// PUT and POST, the rest in target's query.
func (n *node) v2Request(method, target, body string) (status int, header http.Header, answer string) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, n.url(target), strings.NewReader(body))
	if err != nil {
		n.fatalf("%s %s: %v", method, target, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := n.send(req)
	if err != nil {
		n.fatalf("%s %s: %v", method, target, err)
	}
	return r.Status, r.Header, string(r.Body)
}

var v2Expiration = regexp.MustCompile(`"expiration":"([^"]+)"`)

// TestV2Keys: the v2 keys API of the real binary (V2-API.md §5, §8, §11):
// writes and reads as etcd 3.5 answers them, a TTL that expires and the
// expire event a watch gets, and every v2 write back after a restart, read
// from the log (the etcd:v2 entries) and the snapshot alike.
func TestV2Keys(t *testing.T) {
	t.Parallel()
	n := startNode(t, "v2keys", "-snapshotCount", "5")

	status, header, body := n.v2Request(http.MethodPut, "/v2/keys/message", "value=Hello world")
	first, _ := strconv.ParseUint(header.Get("X-Etcd-Index"), 10, 64)
	if want := fmt.Sprintf(`{"action":"set","node":{"key":"/message","value":"Hello world","modifiedIndex":%d,"createdIndex":%d}}`+"\n", first, first); status != 201 || body != want {
		t.Fatalf("PUT /v2/keys/message: HTTP %d %q, want 201 %q", status, body, want)
	}
	if header.Get("X-Etcd-Cluster-Id") == "" || header.Get("X-Raft-Term") == "" || header.Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("PUT /v2/keys/message: headers %v", header)
	}

	// A watch of what comes after the next write: its expiry.
	watch := make(chan string, 1)
	go func() {
		_, _, b := n.v2Request(http.MethodGet, fmt.Sprintf("/v2/keys/exp?wait=true&waitIndex=%d", first+2), "")
		watch <- b
	}()
	status, _, body = n.v2Request(http.MethodPut, "/v2/keys/exp?ttl=1", "value=bye")
	m := v2Expiration.FindStringSubmatch(body)
	if status != 201 || m == nil || !strings.Contains(body, `"ttl":1,`) {
		t.Fatalf("PUT /v2/keys/exp?ttl=1: HTTP %d %q, want 201 with an expiration and ttl 1", status, body)
	}
	select {
	case b := <-watch:
		// Rendered just past the expiration: no ttl, or a negative one.
		head := fmt.Sprintf(`{"action":"expire","node":{"key":"/exp","modifiedIndex":%d,"createdIndex":%d},"prevNode":{"key":"/exp","value":"bye","expiration":"%s",`, first+2, first+1, m[1])
		tail := fmt.Sprintf(`"modifiedIndex":%d,"createdIndex":%d}}`+"\n", first+1, first+1)
		if !regexp.MustCompile("^" + regexp.QuoteMeta(head) + `(?:"ttl":-\d+,)?` + regexp.QuoteMeta(tail) + "$").MatchString(b) {
			t.Fatalf("the watch of /exp got %q, want the expire event %q", b, head+tail)
		}
	case <-time.After(requestTimeout):
		t.Fatal("the watch of /exp got no expire event within 10 s of a 1 s TTL")
	}
	status, _, body = n.v2Request(http.MethodGet, "/v2/keys/exp", "")
	if want := fmt.Sprintf(`{"errorCode":100,"message":"Key not found","cause":"/exp","index":%d}`+"\n", first+2); status != 404 || body != want {
		t.Fatalf("GET /v2/keys/exp after its expiry: HTTP %d %q, want 404 %q", status, body, want)
	}

	for i := range 8 {
		n.v2Request(http.MethodPost, "/v2/keys/queue", "value=job"+strconv.Itoa(i))
	}
	_, _, before := n.v2Request(http.MethodGet, "/v2/keys/?recursive=true&sorted=true", "")
	n.stop()
	n.restart()
	_, _, after := n.v2Request(http.MethodGet, "/v2/keys/?recursive=true&sorted=true", "")
	if after != before || !strings.Contains(after, `"value":"job7"`) {
		t.Fatalf("after a restart the keys are\n%s\nbefore it\n%s", after, before)
	}
}
