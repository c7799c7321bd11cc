package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/etcd-recreation/etcd/etcderr"
)

// A node that is still catching up serves the dashboard's page, which says
// so, and answers everything else, the page's event stream included, with
// error 301: nothing was proposed.
func TestStartingNodeServesTheDashboardPage(t *testing.T) {
	gate := &startupGate{}
	for _, tt := range []struct {
		path     string
		status   int
		starting bool
	}{
		{"/dashboard/", http.StatusOK, false},
		{"/dashboard/app.js", http.StatusOK, false},
		{"/dashboard/events?since=1", http.StatusInternalServerError, true},
		{"/v1/keys/", http.StatusInternalServerError, true},
		{"/v1/stats/self", http.StatusInternalServerError, true},
	} {
		w := httptest.NewRecorder()
		gate.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if w.Code != tt.status {
			t.Errorf("GET %s while starting: %d, want %d", tt.path, w.Code, tt.status)
		}
		var e etcderr.Error
		if tt.starting && (json.Unmarshal(w.Body.Bytes(), &e) != nil || e.Code != etcderr.LeaderElect || !strings.HasPrefix(e.Cause, "the node is starting")) {
			t.Errorf("GET %s while starting: %s, want error 301 saying the node is starting", tt.path, w.Body)
		}
	}
}

// With client TLS the dashboard is served over TLS, at /dashboard/ on the
// client port and at the root of -w: the page shows every key, so it must
// not be readable where the API is not. -w passes reads only.
func TestDashboardWithClientTLS(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("server")
	webAddr := "127.0.0.1:" + freePort(t)
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key, "-w", webAddr)
	client := httpsClient(t, ca, "", "")
	clientURL := strings.Replace(n.url, "http://", "https://", 1)
	resp, err := client.PostForm(clientURL+"/v1/keys/message", url.Values{"value": {"hello"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set over HTTPS: %s", resp.Status)
	}
	for _, page := range []string{clientURL + "/dashboard/", "https://" + webAddr + "/"} {
		resp, err := client.Get(page)
		if err != nil {
			t.Fatalf("GET %s: %v", page, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<title>etcd dashboard</title>") {
			t.Fatalf("GET %s: %d %.100s", page, resp.StatusCode, body)
		}
	}
	resp, err = client.Get("https://" + webAddr + "/v1/keys/message")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"value":"hello"`) {
		t.Fatalf("GET /v1/keys/message on -w: %d %s", resp.StatusCode, body)
	}
	resp, err = client.PostForm("https://"+webAddr+"/v1/keys/message", url.Values{"value": {"changed"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST on -w: %d, want 405", resp.StatusCode)
	}
	if resp, err := testClient.Get("http://" + webAddr + "/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("-w served the page over plain HTTP while the client port has TLS")
		}
	}
}

func TestWebFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-w", "8080"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.validate(); err != nil || cfg.WebAddr != "127.0.0.1:8080" {
		t.Fatalf("-w 8080: %q, %v; want 127.0.0.1:8080", cfg.WebAddr, err)
	}
}
