package main

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/etcd-recreation/etcd/etcderr"
)

// The client port's root sends a browser to the dashboard, and answers a
// program, which does not ask for HTML, with the API's JSON 404.
func TestClientPortRootSendsBrowsersToTheDashboard(t *testing.T) {
	n := startTestNode(t)
	for _, accept := range []string{"text/html,application/xhtml+xml,*/*;q=0.8", "*/*"} {
		req, _ := http.NewRequest(http.MethodGet, n.url+"/", nil)
		req.Header.Set("Accept", accept)
		resp, err := testClient.Transport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if accept == "*/*" {
			var e etcderr.Error
			if resp.StatusCode != http.StatusNotFound || json.Unmarshal(body, &e) != nil || e.Code != http.StatusNotFound {
				t.Errorf("GET / with Accept %q: %s %s, want the JSON 404", accept, resp.Status, body)
			}
			continue
		}
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/dashboard/" {
			t.Errorf("GET / with Accept %q: %s, Location %q; want 302 to /dashboard/", accept, resp.Status, resp.Header.Get("Location"))
		}
	}
}
