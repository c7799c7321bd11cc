package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The /v2/keys handlers, in-process with the real store and goraft, over
// HTTP. Each case cites the section of /work/shared/reference/V2-API.md
// (in the repo: the README's v2 section) that fixes the expected bytes.

// v2Answer is one answer as a client sees it.
type v2Answer struct {
	status int
	header http.Header
	body   string
}

// v2Do sends method target with body as a form, and reads the answer.
func v2Do(t *testing.T, n *testNode, method, target, body string) v2Answer {
	t.Helper()
	req, err := http.NewRequest(method, n.url+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := noRedirectClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return v2Answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

var noRedirectClient = &http.Client{
	Transport:     testClient.Transport,
	Timeout:       testClient.Timeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

var clusterIDPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// TestV2ParseErrors: every parameter error is answered 400 with the code,
// message and cause etcd 3.5 sends, index 0 in the body and in
// X-Etcd-Index, the cluster ID, and no raft headers (§3, §6, §14). Where
// several parameters are wrong, the first in etcd's order is answered.
func TestV2ParseErrors(t *testing.T) {
	n := startTestNode(t)
	big := strings.Repeat("x", 1<<20)
	cases := []struct {
		section, method, target, body string
		status                        int
		want                          string
	}{
		{"§3 ParseForm, query", "GET", "/v2/keys/k?%zz", "", 400, `{"errorCode":210,"message":"Invalid POST form","cause":"invalid URL escape \"%zz\"","index":0}`},
		{"§3 ParseForm, body", "PUT", "/v2/keys/k", "value=%zz", 400, `{"errorCode":210,"message":"Invalid POST form","cause":"invalid URL escape \"%zz\"","index":0}`},
		{"§3 prevIndex", "PUT", "/v2/keys/k?prevIndex=abc", "", 400, `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}`},
		{"§3 integers: no sign", "PUT", "/v2/keys/k?prevIndex=%2B5", "", 400, `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}`},
		{"§3 waitIndex", "GET", "/v2/keys/k?wait=true&waitIndex=-1", "", 400, `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"waitIndex\"","index":0}`},
		{"§3 order: integers before booleans", "GET", "/v2/keys/k?recursive=bad&waitIndex=1.5", "", 400, `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"waitIndex\"","index":0}`},
		{"§3 recursive", "GET", "/v2/keys/k?recursive=yes", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}`},
		{"§3 sorted", "GET", "/v2/keys/k?sorted=", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"sorted\"","index":0}`},
		{"§3 order: recursive before sorted", "GET", "/v2/keys/k?sorted=x&recursive=x", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}`},
		{"§3 wait", "GET", "/v2/keys/k?wait=on", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"wait\"","index":0}`},
		{"§3 dir", "PUT", "/v2/keys/k?dir=2", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"dir\"","index":0}`},
		{"§3 quorum", "GET", "/v2/keys/k?quorum=y", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"quorum\"","index":0}`},
		{"§3 stream, after wait on a PUT is checked", "PUT", "/v2/keys/k?wait=true&stream=x", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"stream\"","index":0}`},
		{"§3 ParseBool's spellings", "PUT", "/v2/keys/k?recursive=T&sorted=FALSE&dir=1&stream=0&quorum=f&wait=True", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"\"wait\" can only be used with GET requests","index":0}`},
		{"§3 wait on DELETE", "DELETE", "/v2/keys/k?wait=true", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"\"wait\" can only be used with GET requests","index":0}`},
		{"§3 empty prevValue", "PUT", "/v2/keys/k", "value=1&prevValue=", 400, `{"errorCode":201,"message":"PrevValue is Required in POST form","cause":"\"prevValue\" cannot be empty","index":0}`},
		{"§3 order: prevValue before noValueOnSuccess", "PUT", "/v2/keys/k?noValueOnSuccess=x&prevValue=", "", 400, `{"errorCode":201,"message":"PrevValue is Required in POST form","cause":"\"prevValue\" cannot be empty","index":0}`},
		{"§3 noValueOnSuccess", "PUT", "/v2/keys/k?noValueOnSuccess=x&ttl=x", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"noValueOnSuccess\"","index":0}`},
		{"§3 ttl", "PUT", "/v2/keys/k", "ttl=abc", 400, `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"§3 ttl negative", "PUT", "/v2/keys/k", "ttl=-1", 400, `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"§8 ttl 2^64", "PUT", "/v2/keys/k", "ttl=18446744073709551616", 400, `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"§3 order: ttl before prevExist", "PUT", "/v2/keys/k?prevExist=x", "ttl=%201", 400, `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"§3 prevExist, unquoted", "PUT", "/v2/keys/k?prevExist=nope", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for prevExist","index":0}`},
		{"§3 refresh, unquoted", "PUT", "/v2/keys/k?refresh=nope", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for refresh","index":0}`},
		{"§8 refresh with a value", "PUT", "/v2/keys/k?refresh=true", "ttl=5&value=x", 400, `{"errorCode":211,"message":"Value provided on refresh","cause":"A value was provided on a refresh","index":0}`},
		{"§8 refresh without ttl", "PUT", "/v2/keys/k?refresh=true", "value=", 400, `{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}`},
		{"§8 refresh with an empty ttl", "PUT", "/v2/keys/k?refresh=true&ttl=", "", 400, `{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}`},
		{"§3 the body wins over the query", "PUT", "/v2/keys/k?prevIndex=1", "prevIndex=x", 400, `{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \"prevIndex\"","index":0}`},
		{"§3 the body wins, the query's bad value unseen", "PUT", "/v2/keys/k?prevIndex=x", "prevIndex=1&ttl=x", 400, `{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \"ttl\"","index":0}`},
		{"§3 the first of a repeated name", "GET", "/v2/keys/k?recursive=true&recursive=bad&sorted=bad", "", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"sorted\"","index":0}`},
		{"§3 a DELETE's body is ignored", "DELETE", "/v2/keys/k?recursive=bad", "prevIndex=x", 400, `{"errorCode":209,"message":"Invalid field","cause":"invalid value for \"recursive\"","index":0}`},
		{"-maxkey, as v1", "GET", "/v2/keys/" + strings.Repeat("k", 5000), "", 400, `{"errorCode":209,"message":"Invalid field","cause":"key: longer than 4096 bytes","index":0}`},
		{"control characters in keys, as v1", "PUT", "/v2/keys/a%01b", "value=1", 400, `{"errorCode":209,"message":"Invalid field","cause":"key: contains the control character U+0001","index":0}`},
		{"values are UTF-8, as v1", "PUT", "/v2/keys/k", "value=%FF", 400, `{"errorCode":209,"message":"Invalid field","cause":"value: not valid UTF-8","index":0}`},
		{"-maxbody, as v1", "PUT", "/v2/keys/k", "value=" + big, 413, `{"errorCode":413,"message":"Request Entity Too Large","cause":"the body is larger than 1048576 bytes","index":0}`},
		{"keys etcd keeps, as v1", "PUT", "/v2/keys/_etcd/machines/x", "value=1", 400, `{"errorCode":106,"message":"The prefix of given key is a keyword in etcd","cause":"/_etcd/machines/x","index":0}`},
		{"keys etcd keeps: DELETE", "DELETE", "/v2/keys/_etcd?recursive=true", "", 400, `{"errorCode":106,"message":"The prefix of given key is a keyword in etcd","cause":"/_etcd","index":0}`},
	}
	for _, c := range cases {
		a := v2Do(t, n, c.method, c.target, c.body)
		what := c.section + ": " + c.method + " " + c.target[:min(len(c.target), 80)]
		if a.status != c.status || a.body != c.want+"\n" {
			t.Errorf("%s: HTTP %d %q, want %d %q", what, a.status, a.body, c.status, c.want+"\n")
			continue
		}
		checkV2ErrorHeaders(t, what, a, "0")
	}
}

// checkV2ErrorHeaders checks the headers of a v2 error (§6): JSON, the
// index, the cluster ID, no raft headers, a Content-Length.
func checkV2ErrorHeaders(t *testing.T, what string, a v2Answer, index string) {
	t.Helper()
	h := a.header
	switch {
	case h.Get("Content-Type") != "application/json":
		t.Errorf("%s: Content-Type %q", what, h.Get("Content-Type"))
	case h.Get("X-Etcd-Index") != index:
		t.Errorf("%s: X-Etcd-Index %q, want %q", what, h.Get("X-Etcd-Index"), index)
	case !clusterIDPattern.MatchString(h.Get("X-Etcd-Cluster-Id")):
		t.Errorf("%s: X-Etcd-Cluster-Id %q", what, h.Get("X-Etcd-Cluster-Id"))
	case h.Get("X-Raft-Index") != "" || h.Get("X-Raft-Term") != "":
		t.Errorf("%s: raft headers on an error: %q %q", what, h.Get("X-Raft-Index"), h.Get("X-Raft-Term"))
	}
}

// TestV2MethodNotAllowed: other methods get etcd's text 405 with the
// methods it takes, before any other header (§2).
func TestV2MethodNotAllowed(t *testing.T) {
	n := startTestNode(t)
	for _, target := range []string{"/v2/keys", "/v2/keys/", "/v2/keys/a/b"} {
		for _, method := range []string{"PATCH", "OPTIONS", "TRACE"} {
			a := v2Do(t, n, method, target, "")
			if a.status != 405 || a.body != "Method Not Allowed\n" || a.header.Get("Allow") != "HEAD,GET,PUT,POST,DELETE" ||
				a.header.Get("Content-Type") != "text/plain; charset=utf-8" || a.header.Get("X-Etcd-Cluster-Id") != "" {
				t.Errorf("%s %s: HTTP %d %q, headers %v; want etcd's 405", method, target, a.status, a.body, a.header)
			}
		}
	}
}
