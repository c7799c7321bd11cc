package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// v2ErrorCatalogue is every error /v2/keys may answer with, message and
// status (V2-API.md §14, and this server's limits). The tests keep their
// own copy, as testnode.ErrorCatalogue does for v1.
var v2ErrorCatalogue = map[int]testnode.CataloguedError{
	100: {Message: "Key not found", Status: http.StatusNotFound},
	101: {Message: "Compare failed", Status: http.StatusPreconditionFailed},
	102: {Message: "Not a file", Status: http.StatusForbidden},
	104: {Message: "Not a directory", Status: http.StatusBadRequest},
	105: {Message: "Key already exists", Status: http.StatusPreconditionFailed},
	106: {Message: "The prefix of given key is a keyword in etcd", Status: http.StatusBadRequest},
	107: {Message: "Root is read only", Status: http.StatusBadRequest},
	108: {Message: "Directory not empty", Status: http.StatusForbidden},
	201: {Message: "PrevValue is Required in POST form", Status: http.StatusBadRequest},
	202: {Message: "The given TTL in POST form is not a number", Status: http.StatusBadRequest},
	203: {Message: "The given index in POST form is not a number", Status: http.StatusBadRequest},
	209: {Message: "Invalid field", Status: http.StatusBadRequest},
	210: {Message: "Invalid POST form", Status: http.StatusBadRequest},
	211: {Message: "Value provided on refresh", Status: http.StatusBadRequest},
	212: {Message: "A TTL must be provided on refresh", Status: http.StatusBadRequest},
	300: {Message: "Raft Internal Error", Status: http.StatusInternalServerError},
	401: {Message: "The event in requested index is outdated and cleared", Status: http.StatusBadRequest},
	413: {Message: "Request Entity Too Large", Status: http.StatusRequestEntityTooLarge},
}

// isV2KeysPath reports whether path is served by the /v2/keys handlers.
func isV2KeysPath(path string) bool {
	return path == v2KeysPrefix || strings.HasPrefix(path, v2KeysPrefix+"/")
}

// checkV2Answer says what is wrong with an answer of /v2/keys that is no
// redirect; "" when nothing is.
func checkV2Answer(method string, status int, header http.Header, body []byte) string {
	if status == http.StatusMethodNotAllowed {
		if header.Get("Allow") != v2KeysMethods || string(body) != "Method Not Allowed\n" {
			return "not etcd's 405"
		}
		return ""
	}
	if header.Get("Content-Type") != "application/json" {
		return "not JSON"
	}
	if method == http.MethodHead {
		return ""
	}
	if status >= 400 && header.Get("X-Etcd-Index") == "" {
		// Refused by the listener before any handler (a request net/http
		// cannot parse, headers over the limit), as v1's requests are.
		return checkErrorAnswer(status, body)
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return "no trailing newline"
	}
	if status >= 400 {
		var e struct {
			ErrorCode int     `json:"errorCode"`
			Message   string  `json:"message"`
			Cause     *string `json:"cause"`
			Index     *uint64 `json:"index"`
		}
		if err := testnode.DecodeStrict(body, &e); err != nil {
			return fmt.Sprintf("an error status without a v2 error body (%v)", err)
		}
		want, known := v2ErrorCatalogue[e.ErrorCode]
		switch {
		case !known:
			return fmt.Sprintf("error code %d is not in the v2 catalogue", e.ErrorCode)
		case e.Message != want.Message || status != want.Status:
			return fmt.Sprintf("error %d: %q with HTTP %d, want %q with %d", e.ErrorCode, e.Message, status, want.Message, want.Status)
		case e.Index == nil:
			return "an error without its index"
		case strconv.FormatUint(*e.Index, 10) != header.Get("X-Etcd-Index"):
			return "X-Etcd-Index is not the error's index"
		case e.Cause != nil && *e.Cause == "":
			return "an empty cause, which is left out instead"
		}
		return ""
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return "neither a success, a redirect nor an error"
	}
	var event struct {
		Action   string          `json:"action"`
		Node     json.RawMessage `json:"node"`
		PrevNode json.RawMessage `json:"prevNode"`
	}
	if err := testnode.DecodeStrict(body, &event); err != nil || event.Action == "" {
		return fmt.Sprintf("a success that is no v2 event (%v)", err)
	}
	if header.Get("X-Etcd-Index") == "" || header.Get("X-Raft-Index") == "" || header.Get("X-Raft-Term") == "" {
		return "a success without its index headers"
	}
	return ""
}

// FuzzV2Keys sends arbitrary requests to /v2/keys of a real node (store
// and goraft included): none may crash it, every request but a waiting
// watch is answered, and every answer is etcd's: an event, or a v2 error
// of the catalogue with its status and index, JSON ending in a newline.
func FuzzV2Keys(f *testing.F) {
	seeds := []struct {
		method       byte
		target, body string
	}{
		{0, "/foo", ""},
		{2, "/foo", "value=bar&ttl=5"},
		{2, "/dir?dir=true", ""},
		{1, "/queue", "value=job"},
		{2, "/a/b?prevExist=false", "value=1"},
		{2, "/a/b?prevValue=1", "value=2"},
		{2, "/a/b?prevIndex=1&prevExist=true", "value=2"},
		{2, "/a/b?refresh=true&ttl=5", ""},
		{3, "/a?recursive=true", ""},
		{3, "/a/b?prevValue=2", ""},
		{0, "/?recursive=true&sorted=true", ""},
		{0, "/a?wait=true&waitIndex=1", ""},
		{0, "/a?wait=true&stream=true", ""},
		{0, "/a?quorum=true&wait=true", ""},
		{4, "/a", ""},
		{5, "/a", "value=1"},
		{2, "/x?ttl=18446744073709551615", "value=1"},
		{2, "/x%2Fy", "value=%zz"},
		{2, "/_etcd/machines/x", "value=1"},
		{3, "/", ""},
		{2, "/x?noValueOnSuccess=true", "value=<&>"},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	n := startTestNode(f, "-maxbody", "4096", "-maxkey", "64")
	transport := &http.Transport{}
	f.Cleanup(transport.CloseIdleConnections)
	client := &http.Client{
		Transport:     transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	f.Fuzz(func(t *testing.T, method byte, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, resp, answer, waits, ok := sendFuzzRequest(t, client, n.url+v2KeysPrefix, method, target, body)
		if !ok {
			return
		}
		if waits && resp.StatusCode == http.StatusOK && len(answer) == 0 {
			return // a watch cut short by the test's deadline
		}
		if msg := checkClientAnswer(req.Method, req.URL.Path, resp.StatusCode, resp.Header, answer); msg != "" {
			t.Fatalf("%s %q %q: HTTP %d, Content-Type %q, body %q: %s", req.Method, target, body, resp.StatusCode, resp.Header.Get("Content-Type"), answer, msg)
		}
	})
}

// v2MayWait reports whether req may be a watch of /v2/keys, which is
// answered only when a change comes.
func v2MayWait(req *http.Request) bool {
	if !isV2KeysPath(req.URL.Path) || req.Method != http.MethodGet {
		return false
	}
	return strings.Contains(strings.ToLower(req.URL.RawQuery), "wait")
}
