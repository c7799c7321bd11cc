package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"time"
)

// requestTimeout bounds one request of the load; a request still running
// when a cell ends gets this long to finish.
const requestTimeout = 10 * time.Second

// errPastDeadline ends an operation that the end of its cell caught midway
// (a test-and-set about to retry after a conflict): it counts neither as
// done nor as an error.
var errPastDeadline = errors.New("past the end of the cell")

// operation is what closed-loop client number client does the i-th time:
// one request, or for test-and-set one whole increment.
type operation func(ctx context.Context, client, i int) error

// loadStats is what a closed loop did.
type loadStats struct {
	ops       int
	errors    int
	firstErr  error
	elapsed   time.Duration
	latencies []time.Duration // of the operations done, sorted
}

// closedLoop runs clients concurrent clients, each starting its next
// operation as soon as the last one ended, for duration.
func closedLoop(ctx context.Context, clients int, duration time.Duration, op operation) loadStats {
	start := time.Now()
	deadline := start.Add(duration)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(requestTimeout))
	defer cancel()
	var (
		mu    sync.Mutex
		stats loadStats
		wg    sync.WaitGroup
	)
	for c := range clients {
		wg.Go(func() {
			var latencies []time.Duration
			errs := 0
			var firstErr error
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				began := time.Now()
				err := op(ctx, c, i)
				switch {
				case err == nil:
					latencies = append(latencies, time.Since(began))
				case errors.Is(err, errPastDeadline):
				default:
					errs++
					if firstErr == nil {
						firstErr = err
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			stats.latencies = append(stats.latencies, latencies...)
			stats.errors += errs
			if stats.firstErr == nil {
				stats.firstErr = firstErr
			}
		})
	}
	wg.Wait()
	stats.elapsed = time.Since(start)
	stats.ops = len(stats.latencies)
	slices.Sort(stats.latencies)
	return stats
}

// result turns the loop's counts into a cell's figures.
func (s loadStats) result() cellResult {
	r := cellResult{
		Ops:       s.ops,
		Errors:    s.errors,
		Seconds:   s.elapsed.Seconds(),
		PerSecond: float64(s.ops) / s.elapsed.Seconds(),
		P50Ms:     milliseconds(percentile(s.latencies, 0.50)),
		P99Ms:     milliseconds(percentile(s.latencies, 0.99)),
		MaxMs:     milliseconds(percentile(s.latencies, 1)),
	}
	if s.firstErr != nil {
		r.FirstError = s.firstErr.Error()
	}
	return r
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func milliseconds(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// newClient is an HTTP client holding up to conns keep-alive connections,
// one per closed-loop client, so that no request waits for a connection
// and none is dialed anew. A timeout of 0 leaves long polls to their
// context.
func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
		},
		Timeout: timeout,
	}
}
