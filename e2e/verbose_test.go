package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestVerboseLogsRequests: -v logs each client request with its status and
// duration, and not raft's debug lines; -vv adds them; without either the
// requests are not logged.
func TestVerboseLogsRequests(t *testing.T) {
	t.Parallel()
	requestLine := regexp.MustCompile(`GET /v1/keys/probe\?consistent=true 404 \d+(\.\d+)?(µs|ms|s)\b`)
	for _, c := range []struct {
		flags    []string
		requests bool
		raft     bool
	}{
		{nil, false, false},
		{[]string{"-v"}, true, false},
		{[]string{"-vv"}, true, true},
	} {
		n := startNode(t, "verbose", c.flags...)
		n.do(http.MethodGet, "/v1/keys/probe?consistent=true", nil)
		if c.requests {
			testnode.WaitFor(t, requestTimeout, "the request in the log", func() (bool, string) {
				return requestLine.MatchString(n.log.String()), n.log.String()
			})
		}
		n.stop()
		out := n.log.String()
		if got := requestLine.MatchString(out); got != c.requests {
			t.Errorf("etcd %v: request logged %v, want %v:\n%s", c.flags, got, c.requests, out)
		}
		if got := strings.Contains(out, "[raft]"); got != c.raft {
			t.Errorf("etcd %v: raft debug lines %v, want %v:\n%s", c.flags, got, c.raft, out)
		}
	}
}
