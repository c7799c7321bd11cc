package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsObeyClientTLSAndCORS: /metrics is a route of the client port
// like any other: over HTTPS with the client certificate the port
// requires, and with the CORS headers of an allowed origin only.
func TestMetricsObeyClientTLSAndCORS(t *testing.T) {
	ca := newTestCA(t, "ca")
	cert, key := ca.issue("server")
	n := startTestNode(t, "-clientCert", cert, "-clientKey", key, "-clientCAFile", ca.file, "-cors", "http://app.example")
	metricsURL := strings.Replace(n.url, "http://", "https://", 1) + metricsPath
	clientCert, clientKey := ca.issue("client")
	client := httpsClient(t, ca, clientCert, clientKey)

	for origin, allowed := range map[string]string{"http://app.example": "http://app.example", "http://elsewhere.example": ""} {
		req, err := http.NewRequest(http.MethodGet, metricsURL, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /metrics over HTTPS: %v", err)
		}
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || families["etcd_server_is_leader"] == nil {
			t.Fatalf("GET /metrics over HTTPS: %d, %v, %d families", resp.StatusCode, err, len(families))
		}
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Origin %s: Access-Control-Allow-Origin %q, want %q", origin, got, allowed)
		}
	}
	if resp, err := httpsClient(t, ca, "", "").Get(metricsURL); err == nil {
		resp.Body.Close()
		t.Errorf("GET /metrics without a client certificate: %d, want a refused handshake", resp.StatusCode)
	}
	if resp, err := testClient.Get(n.url + metricsPath); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("/metrics was served over plain HTTP on the HTTPS port")
		}
	}
}

// TestRequestLabel: the key space's requests are counted by method, a
// read through the log as QGET, and watches and other routes not at all.
func TestRequestLabel(t *testing.T) {
	tests := []struct {
		method, target string
		label          string // "" for not counted
	}{
		{"GET", "/v1/keys/a", "GET"},
		{"GET", "/v1/keys/a?consistent=true", "QGET"},
		{"GET", "/v1/keys/a?wait=true", "GET"},
		{"HEAD", "/v1/keys/a", "HEAD"},
		{"PUT", "/v1/keys/a?consistent=true", "PUT"},
		{"DELETE", "/v1/keys/", "DELETE"},
		{"POST", "/v1/watch/a", ""},
		{"GET", "/v1/keys", ""},
		{"GET", "/v1/stats/store", ""},
		{"GET", "/metrics", ""},
		{"GET", "/v2/keys/a", "GET"},
		{"GET", "/v2/keys/a?quorum=true", "QGET"},
		{"GET", "/v2/keys/a?wait=true", ""},
		{"PUT", "/v2/keys/a?wait=true", "PUT"},
		{"GET", "/v2/keysX", ""},
	}
	for _, tt := range tests {
		label, counted := requestLabel(httptest.NewRequest(tt.method, tt.target, nil))
		if counted != (tt.label != "") || label != tt.label {
			t.Errorf("%s %s: label %q, counted %v; want %q", tt.method, tt.target, label, counted, tt.label)
		}
	}
}
