package metrics

import (
	"net/http"
	"testing"
	"time"
)

// BenchmarkRequestsDone is the cost of counting one client request, from
// every core at once.
func BenchmarkRequestsDone(b *testing.B) {
	r := newRequests()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Done("PUT", http.StatusOK, time.Millisecond)
		}
	})
}
