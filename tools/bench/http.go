package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// control is the client for the benchmark's own questions (health, leader,
// stats), kept apart from the load so that its connections do not count.
var control = &http.Client{Timeout: 2 * time.Second}

// newRequest builds a request, with form as a form-encoded body if given.
func newRequest(ctx context.Context, method, target string, form url.Values) (*http.Request, error) {
	if form == nil {
		return http.NewRequestWithContext(ctx, method, target, nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req, nil
}

// send does one request and reads the whole answer, which hands the
// connection back to the pool for the next request (keep-alive).
func send(client *http.Client, req *http.Request) (status int, body []byte, err error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// sendOK is send where anything but a 2xx answer is an error.
func sendOK(client *http.Client, req *http.Request) ([]byte, error) {
	status, body, err := send(client, req)
	if err != nil {
		return nil, err
	}
	if status < 200 || status > 299 {
		return body, fmt.Errorf("%s %s: HTTP %d: %.200s", req.Method, req.URL.Path, status, body)
	}
	return body, nil
}

// getBody GETs target with the control client.
func getBody(ctx context.Context, target string) ([]byte, error) {
	req, err := newRequest(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	return sendOK(control, req)
}

// answer is what both APIs say about one key: v1 puts value and index at
// the top level, v2 under "node"; errors carry an errorCode in both.
type answer struct {
	Value     string `json:"value"`
	Index     uint64 `json:"index"`
	ErrorCode int    `json:"errorCode"`
	Node      *struct {
		Value         string `json:"value"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
	} `json:"node"`
}

// testFailed is the errorCode of a test-and-set whose prevValue did not
// match, in both APIs.
const testFailed = 101

// parseAnswer reads either API's answer into Value and Index.
func parseAnswer(body []byte) (answer, error) {
	var a answer
	if err := json.Unmarshal(body, &a); err != nil {
		return answer{}, fmt.Errorf("answer %.200q: %w", body, err)
	}
	if a.Node != nil {
		a.Value, a.Index = a.Node.Value, a.Node.ModifiedIndex
	}
	return a, nil
}

// watcherCount is how many watchers the member at base has registered.
func watcherCount(ctx context.Context, sys system, base string) (int, error) {
	body, err := getBody(ctx, sys.storeStatsURL(base))
	if err != nil {
		return 0, err
	}
	var stats struct {
		Watchers int `json:"watchers"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		return 0, err
	}
	return stats.Watchers, nil
}
