package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var fuzzMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, "PATCH", "OPTIONS"}

// knownCodes are the error codes the client API may answer with.
var knownCodes = map[int]bool{100: true, 101: true, 102: true, 200: true, 202: true, 203: true,
	209: true, 210: true, 300: true, 400: true, 401: true, 405: true, 413: true}

// FuzzClientAPI sends arbitrary requests to the client API of a real node
// (store and goraft included): none may crash it, and every JSON answer
// must be a response object, a listing, or an error of the catalogue.
func FuzzClientAPI(f *testing.F) {
	seeds := []struct {
		method       byte
		target, body string
	}{
		{0, "/v1/keys/foo", ""},
		{1, "/v1/keys/foo", "value=bar&ttl=5"},
		{2, "/v1/keys/a/b", "value=1&prevValue="},
		{1, "/v1/keys/a/b", "value=2&prevValue=1"},
		{3, "/v1/keys/a/b", ""},
		{3, "/v1/keys/_etcd/machines/x", ""},
		{1, "/v1/watch/foo", "index=abc"},
		{1, "/v1/watch/foo", "index=1"},
		{0, "/v1/keys/?consistent=true", ""},
		{1, "/v1/keys/x", "value=%zz"},
		{1, "/v1/keys/x%00y", "value=1"},
		{0, "/v1/keys//a/../b", ""},
		{0, "/v1/machines", ""},
		{0, "/v1/stats/self", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	n := startTestNode(f, "-maxbody", "4096", "-m", "64")
	handler := n.e.handlers.router()
	f.Fuzz(func(t *testing.T, method byte, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(fuzzMethods[int(method)%len(fuzzMethods)], "http://127.0.0.1"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// Watches wait for a change: give them a moment only.
		ctx, cancel := context.WithTimeout(req.Context(), 20*time.Millisecond)
		defer cancel()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req.WithContext(ctx))
		if rec.Header().Get("Content-Type") != "application/json" {
			return
		}
		var obj map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil {
			var list []map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("%s %q: HTTP %d with a body that is no JSON object or listing: %q", req.Method, target, rec.Code, rec.Body)
			}
			return
		}
		if code, isError := obj["errorCode"].(float64); isError {
			if !knownCodes[int(code)] || rec.Code < 300 {
				t.Fatalf("%s %q: HTTP %d with error %q", req.Method, target, rec.Code, rec.Body)
			}
		} else if _, ok := obj["action"].(string); !ok && !strings.HasPrefix(target, "/v1/stats/") {
			t.Fatalf("%s %q: HTTP %d with %q", req.Method, target, rec.Code, rec.Body)
		}
	})
}

var peerRoutes = []string{votePath, appendEntriesPath, snapshotPath, snapshotRecoveryPath, "/join"}

// FuzzPeerAPI sends arbitrary bodies to the peer routes of a real node: the
// node may refuse them, but must never crash.
func FuzzPeerAPI(f *testing.F) {
	f.Add(byte(0), []byte("garbage"))
	f.Add(byte(1), []byte{0x08, 0x01, 0x10, 0x01})
	f.Add(byte(2), []byte{0x0a, 0x00})
	f.Add(byte(4), []byte(`{"name":"x","raftURL":"http://127.0.0.1:1","etcdURL":"http://127.0.0.1:2","raftVersion":"v0.1.2"}`))
	n := startTestNode(f, "-maxsize", "1")
	handler := n.e.raft.peerServer.Handler
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		path := peerRoutes[int(route)%len(peerRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body)))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusInternalServerError {
			t.Fatalf("POST %s: HTTP %d %q", path, rec.Code, rec.Body)
		}
	})
}
