package e2e

import (
	"net/http"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestReadmeV2Walkthrough pastes the README's v2 section on make run's
// node, as a reader who starts there would; answers must be the README's
// up to the values it says may differ.
func TestReadmeV2Walkthrough(t *testing.T) {
	t.Parallel()
	r := &readmeRun{t: t, work: t.TempDir(), ports: map[string]int{}, client: &http.Client{Transport: testnode.NewTransport(), Timeout: 2 * requestTimeout}}
	r.section("Getting started", nil)
	r.section("The v2 API", nil)
}
