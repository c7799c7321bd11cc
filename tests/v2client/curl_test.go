package v2client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// curlAnswer is what curl received.
type curlAnswer struct {
	status int
	header http.Header
	body   string
}

// curl runs the curl binary with args (plus -sS and a time limit), as the
// v2 walkthrough's commands do, and returns the answer.
func curl(t *testing.T, args ...string) curlAnswer {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatalf("these tests run the curl binary, which is not installed: %v", err)
	}
	dir := t.TempDir()
	headers, body := filepath.Join(dir, "headers"), filepath.Join(dir, "body")
	cmd := exec.Command("curl", append([]string{"-sS", "--max-time", "10", "-D", headers, "-o", body, "-w", "%{http_code}"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("curl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	status, err := strconv.Atoi(string(out))
	if err != nil {
		t.Fatalf("curl %s: status %q", strings.Join(args, " "), out)
	}
	h, err := os.Open(headers)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	r := textproto.NewReader(bufio.NewReader(h))
	if _, err := r.ReadLine(); err != nil {
		t.Fatalf("curl %s: headers: %v", strings.Join(args, " "), err)
	}
	mime, err := r.ReadMIMEHeader()
	if err != nil && len(mime) == 0 {
		t.Fatalf("curl %s: headers: %v", strings.Join(args, " "), err)
	}
	b, err := os.ReadFile(body)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return curlAnswer{status: status, header: http.Header(mime), body: string(b)}
}

// index is the answer's X-Etcd-Index.
func (a curlAnswer) index(t *testing.T) uint64 {
	t.Helper()
	i, err := strconv.ParseUint(a.header.Get("X-Etcd-Index"), 10, 64)
	if err != nil {
		t.Fatalf("X-Etcd-Index %q: %v", a.header.Get("X-Etcd-Index"), err)
	}
	return i
}

// want checks the status and the exact body; %d in body stands for the
// answer's X-Etcd-Index, the index of a write.
func (a curlAnswer) want(t *testing.T, what string, status int, body string) {
	t.Helper()
	if strings.Contains(body, "%d") {
		body = strings.ReplaceAll(body, "%d", strconv.FormatUint(a.index(t), 10))
	}
	if a.status != status || a.body != body {
		t.Fatalf("%s: got %d %q, want %d %q", what, a.status, a.body, status, body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", what, ct)
	}
	for _, h := range []string{"X-Etcd-Index", "X-Etcd-Cluster-Id"} {
		if a.header.Get(h) == "" {
			t.Fatalf("%s: no %s header in %v", what, h, a.header)
		}
	}
}

// TestCurlWalkthrough runs the v2 walkthrough's steps with curl on one
// member: set, get, replace and delete a key, a TTL, a watch, an in-order
// key, a directory, a failed compare-and-swap, and the cluster routes.
// Bodies are compared byte for byte, the trailing newline included.
func TestCurlWalkthrough(t *testing.T) {
	t.Parallel()
	m := startNode(t)
	keys := m.clientURL() + "/v2/keys"

	set := curl(t, keys+"/message", "-XPUT", "-d", "value=Hello world")
	set.want(t, "PUT a new key", 201, `{"action":"set","node":{"key":"/message","value":"Hello world","modifiedIndex":%d,"createdIndex":%d}}`+"\n")
	for _, h := range []string{"X-Raft-Index", "X-Raft-Term"} {
		if set.header.Get(h) == "" {
			t.Fatalf("PUT: no %s header in %v", h, set.header)
		}
	}
	i1 := set.index(t)

	get := curl(t, keys+"/message")
	get.want(t, "GET", 200, fmt.Sprintf(`{"action":"get","node":{"key":"/message","value":"Hello world","modifiedIndex":%d,"createdIndex":%d}}`+"\n", i1, i1))

	repl := curl(t, keys+"/message", "-XPUT", "-d", "value=Hello etcd")
	i2 := repl.index(t)
	repl.want(t, "PUT again", 200, fmt.Sprintf(`{"action":"set","node":{"key":"/message","value":"Hello etcd","modifiedIndex":%d,"createdIndex":%d},"prevNode":{"key":"/message","value":"Hello world","modifiedIndex":%d,"createdIndex":%d}}`+"\n", i2, i2, i1, i1))

	del := curl(t, keys+"/message", "-XDELETE")
	del.want(t, "DELETE", 200, fmt.Sprintf(`{"action":"delete","node":{"key":"/message","modifiedIndex":%d,"createdIndex":%d},"prevNode":{"key":"/message","value":"Hello etcd","modifiedIndex":%d,"createdIndex":%d}}`+"\n", del.index(t), i2, i2, i2))

	missing := curl(t, keys+"/message")
	missing.want(t, "GET after DELETE", 404, `{"errorCode":100,"message":"Key not found","cause":"/message","index":%d}`+"\n")

	ttl := curl(t, keys+"/ttl", "-XPUT", "-d", "value=bar", "-d", "ttl=5")
	var withTTL struct {
		Action string
		Node   struct {
			Key, Value, Expiration string
			TTL                    int
		}
	}
	if err := json.Unmarshal([]byte(ttl.body), &withTTL); err != nil || ttl.status != 201 || withTTL.Node.TTL < 4 || withTTL.Node.TTL > 5 || withTTL.Node.Expiration == "" {
		t.Fatalf("PUT with ttl=5: %d %s (%v)", ttl.status, ttl.body, err)
	}
	if _, err := time.Parse(time.RFC3339Nano, withTTL.Node.Expiration); err != nil || !strings.HasSuffix(withTTL.Node.Expiration, "Z") {
		t.Fatalf("PUT with ttl=5: expiration %q is not RFC 3339 in UTC: %v", withTTL.Node.Expiration, err)
	}

	// curl waits on a recursive watch until a key under /foo changes,
	// and prints what the write answered.
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	watched := make(chan string, 1)
	go func() {
		out, err := exec.CommandContext(ctx, "curl", "-sS", keys+"/foo?wait=true&recursive=true").CombinedOutput()
		watched <- fmt.Sprintf("%s%v", out, errOrEmpty(err))
	}()
	waitWatchers(t, m, 1)
	bar := curl(t, keys+"/foo/bar", "-XPUT", "-d", "value=barbar")
	iBar := bar.index(t)
	setBar := fmt.Sprintf(`{"action":"set","node":{"key":"/foo/bar","value":"barbar","modifiedIndex":%d,"createdIndex":%d}}`+"\n", iBar, iBar)
	bar.want(t, "PUT /foo/bar", 201, setBar)
	select {
	case got := <-watched:
		if got != setBar {
			t.Fatalf("the watch printed %q, want %q", got, setBar)
		}
	case <-ctx.Done():
		t.Fatalf("the watch printed nothing after the change")
	}

	nope := curl(t, keys+"/foo/bar", "-XPUT", "-d", "prevValue=nope", "-d", "value=new")
	nope.want(t, "PUT with a wrong prevValue", 412, `{"errorCode":101,"message":"Compare failed","cause":"[nope != barbar]","index":%d}`+"\n")
	cas := curl(t, keys+"/foo/bar", "-XPUT", "-d", "prevValue=barbar", "-d", "value=new")
	iCas := cas.index(t)
	cas.want(t, "PUT with the right prevValue", 200, fmt.Sprintf(`{"action":"compareAndSwap","node":{"key":"/foo/bar","value":"new","modifiedIndex":%d,"createdIndex":%d},"prevNode":{"key":"/foo/bar","value":"barbar","modifiedIndex":%d,"createdIndex":%d}}`+"\n", iCas, iBar, iBar, iBar))
	query := curl(t, keys+"/foo/bar?prevValue=wrong", "-XPUT", "-d", "value=newer")
	query.want(t, "PUT with a wrong prevValue in the query", 412, `{"errorCode":101,"message":"Compare failed","cause":"[wrong != new]","index":%d}`+"\n")

	job := curl(t, keys+"/queue", "-XPOST", "-d", "value=job1")
	iJob := job.index(t)
	job.want(t, "POST an in-order key", 201, fmt.Sprintf(`{"action":"create","node":{"key":"/queue/%020d","value":"job1","modifiedIndex":%d,"createdIndex":%d}}`+"\n", iJob, iJob, iJob))
	dir := curl(t, keys+"/dir", "-XPUT", "-d", "dir=true")
	iDir := dir.index(t)
	dir.want(t, "PUT a dir", 201, `{"action":"set","node":{"key":"/dir","dir":true,"modifiedIndex":%d,"createdIndex":%d}}`+"\n")

	must(t, "DELETE /ttl")(keysOf(t, m.clientURL()).Delete(ctxT(t), "/ttl", nil))
	list := curl(t, keys+"/?recursive=true&sorted=true")
	list.want(t, "GET / recursive sorted", 200, fmt.Sprintf(`{"action":"get","node":{"dir":true,"nodes":[`+
		`{"key":"/dir","dir":true,"modifiedIndex":%d,"createdIndex":%d},`+
		`{"key":"/foo","dir":true,"nodes":[{"key":"/foo/bar","value":"new","modifiedIndex":%d,"createdIndex":%d}],"modifiedIndex":%d,"createdIndex":%d},`+
		`{"key":"/queue","dir":true,"nodes":[{"key":"/queue/%020d","value":"job1","modifiedIndex":%d,"createdIndex":%d}],"modifiedIndex":%d,"createdIndex":%d}]}}`+"\n",
		iDir, iDir, iCas, iBar, iBar, iBar, iJob, iJob, iJob, iJob, iJob))
	rm := curl(t, keys+"/foo?recursive=true", "-XDELETE")
	rm.want(t, "DELETE /foo recursive", 200, fmt.Sprintf(`{"action":"delete","node":{"key":"/foo","dir":true,"modifiedIndex":%d,"createdIndex":%d},"prevNode":{"key":"/foo","dir":true,"modifiedIndex":%d,"createdIndex":%d}}`+"\n", rm.index(t), iBar, iBar, iBar))
	bad := curl(t, keys+"/dir?recursive=maybe")
	bad.want(t, "GET with a bad boolean", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}`+"\n")

	machines := curl(t, m.clientURL()+"/v2/machines")
	if machines.status != 200 || machines.body != m.clientURL() {
		t.Fatalf("GET /v2/machines: %d %q, want %q", machines.status, machines.body, m.clientURL())
	}
	members := curl(t, m.clientURL()+"/v2/members")
	if members.status != 200 || !strings.Contains(members.body, `"name":"node1","peerURLs":["`+m.peerURL()+`"],"clientURLs":["`+m.clientURL()+`"]`) {
		t.Fatalf("GET /v2/members: %d %s", members.status, members.body)
	}
	health := curl(t, m.clientURL()+"/health")
	var h struct{ Health string }
	if err := json.Unmarshal([]byte(health.body), &h); err != nil || health.status != 200 || h.Health != "true" {
		t.Fatalf("GET /health: %d %s", health.status, health.body)
	}
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return " (" + err.Error() + ")"
}
