package testnode

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// NewTransport is a transport to nodes on this host: connections fail fast
// when a node is down, and bodies come as the node sent them.
func NewTransport() *http.Transport {
	return &http.Transport{
		MaxIdleConnsPerHost: 64,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}
}

// NewClient is a client on tr that never follows redirects: a node's
// redirects are part of what is tested, and a harness decides itself where
// to send a request again. A timeout of 0 leaves requests to their context.
func NewClient(tr http.RoundTripper, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Response is a whole HTTP answer, read to its end.
type Response struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         []byte
	Elapsed      time.Duration
}

func (r *Response) String() string {
	return fmt.Sprintf("%s %s -> %d %s", r.Method, r.Path, r.Status, r.Body)
}

// Send sends req with client and reads the whole answer.
func Send(client *http.Client, req *http.Request) (*Response, error) {
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Method: req.Method, Path: req.URL.RequestURI(), Status: resp.StatusCode, Header: resp.Header, Body: b, Elapsed: time.Since(start)}, nil
}
