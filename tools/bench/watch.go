package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"
)

const (
	// probeTimeout is how long a probe waits for its watcher before it is
	// counted as missed.
	probeTimeout = 2 * time.Second
	// probeGap leaves the watcher time to ask again before the next probe,
	// so that a probe is usually delivered to a waiting watcher rather
	// than from the history.
	probeGap = 2 * time.Millisecond
	// fanoutRounds bounds the rounds of the fan-out cell; each arms every
	// watcher anew.
	fanoutRounds       = 20
	fanoutRoundTimeout = 30 * time.Second
	// watchRetryPause keeps a watcher whose node fails it from spinning.
	watchRetryPause = 10 * time.Millisecond
)

// arrival is a watcher's notification: the value it carried and when it
// came.
type arrival struct {
	value string
	at    time.Time
}

// watchLatencyCell measures how long after a writer sends a write the
// watcher of that key hears of it, while other clients keep the node busy
// writing other keys. One probe write at a time, each waiting for its
// notification, so no probe queues behind another.
func watchLatencyCell() cell {
	const key = "bench-watch/probe"
	return cell{
		name:     fmt.Sprintf("watch, %d clients writing", watchWriters),
		measures: []measure{notifyP50, notifyP99},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			probes := newClient(1, requestTimeout)
			defer probes.CloseIdleConnections()
			first, err := env.write(ctx, probes, key, paddedNumber(0))
			if err != nil {
				return cellResult{}, err
			}
			watchCtx, stopWatching := context.WithCancel(ctx)
			defer stopWatching()
			arrivals := make(chan arrival, 16)
			watcherDone := make(chan struct{})
			go func() {
				defer close(watcherDone)
				env.watchKey(watchCtx, key, first.Index+1, arrivals)
			}()

			backgroundDone := make(chan loadStats, 1)
			go func() {
				writers := newClient(watchWriters, requestTimeout)
				defer writers.CloseIdleConnections()
				backgroundDone <- closedLoop(ctx, watchWriters, env.duration, func(ctx context.Context, c, i int) error {
					_, err := env.write(ctx, writers, benchKey(c+i*watchWriters), benchValue)
					return err
				})
			}()

			var latencies []time.Duration
			missed, errs := 0, 0
			var firstErr error
			deadline := time.Now().Add(env.duration)
			for probe := 1; time.Now().Before(deadline) && ctx.Err() == nil; probe++ {
				value := paddedNumber(probe)
				sent := time.Now()
				if _, err := env.write(ctx, probes, key, value); err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				if at, ok := awaitArrival(ctx, arrivals, value); ok {
					latencies = append(latencies, at.Sub(sent))
				} else {
					missed++
				}
				time.Sleep(probeGap)
			}
			background := <-backgroundDone
			stopWatching()
			<-watcherDone

			slices.Sort(latencies)
			result := cellResult{
				Ops:                       len(latencies),
				Errors:                    errs + missed,
				Seconds:                   env.duration.Seconds(),
				P50Ms:                     milliseconds(percentile(latencies, 0.50)),
				P99Ms:                     milliseconds(percentile(latencies, 0.99)),
				MaxMs:                     milliseconds(percentile(latencies, 1)),
				BackgroundWritesPerSecond: background.result().PerSecond,
			}
			switch {
			case firstErr != nil:
				result.FirstError = firstErr.Error()
			case missed > 0:
				result.FirstError = fmt.Sprintf("%d probes not notified within %v", missed, probeTimeout)
			}
			return result, nil
		},
	}
}

// watchKey watches key from sinceIndex on, over and over, handing every
// notification to arrivals until ctx ends. Each watch asks from the index
// after the last event seen, so a write that lands between two watches is
// still delivered, from the history.
func (e *cellEnv) watchKey(ctx context.Context, key string, sinceIndex uint64, arrivals chan<- arrival) {
	client := newClient(1, 0)
	defer client.CloseIdleConnections()
	for ctx.Err() == nil {
		req, err := e.api.watch(ctx, e.target.clientURL(), key, sinceIndex)
		if err != nil {
			return
		}
		body, err := sendOK(client, req)
		at := time.Now()
		if err != nil {
			// Most likely the history moved past sinceIndex under the
			// load: watch from now on; the probe it missed counts as such.
			sinceIndex = 0
			time.Sleep(watchRetryPause)
			continue
		}
		a, err := parseAnswer(body)
		if err != nil {
			sinceIndex = 0
			time.Sleep(watchRetryPause)
			continue
		}
		sinceIndex = a.Index + 1
		select {
		case arrivals <- arrival{value: a.Value, at: at}:
		case <-ctx.Done():
		}
	}
}

// awaitArrival waits for the notification carrying value, skipping late
// ones of probes already counted as missed.
func awaitArrival(ctx context.Context, arrivals <-chan arrival, value string) (time.Time, bool) {
	timeout := time.NewTimer(probeTimeout)
	defer timeout.Stop()
	for {
		select {
		case a := <-arrivals:
			if a.value == value {
				return a.at, true
			}
		case <-timeout.C:
			return time.Time{}, false
		case <-ctx.Done():
			return time.Time{}, false
		}
	}
}

// fanoutCell measures how long one write takes to reach every one of many
// watchers of its prefix: rounds of arming them all, waiting until the
// node has registered them, writing once, and timing the last to hear.
func fanoutCell() cell {
	return cell{
		name:     fmt.Sprintf("%s watchers on one prefix", thousands(fanoutWatchers)),
		measures: []measure{fanoutP50, fanoutMax},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			// One connection per watcher: HTTP/1.1 holds one request at a time.
			client := newClient(fanoutWatchers, 0)
			defer client.CloseIdleConnections()
			var times []time.Duration
			start := time.Now()
			deadline := start.Add(env.duration)
			for len(times) < fanoutRounds && (len(times) == 0 || time.Now().Before(deadline)) {
				took, err := env.fanoutRound(ctx, client)
				if err != nil {
					return cellResult{}, fmt.Errorf("round %d: %w", len(times)+1, err)
				}
				times = append(times, took)
			}
			slices.Sort(times)
			return cellResult{
				Ops:     len(times),
				Seconds: time.Since(start).Seconds(),
				P50Ms:   milliseconds(percentile(times, 0.5)),
				MaxMs:   milliseconds(percentile(times, 1)),
			}, nil
		},
	}
}

func (e *cellEnv) fanoutRound(ctx context.Context, client *http.Client) (time.Duration, error) {
	const prefix = "bench-fan"
	ctx, cancel := context.WithTimeout(ctx, fanoutRoundTimeout)
	// Cancelling ends the watchers of a failed round.
	defer cancel()
	// Watching from the index after this write, a watcher registered only
	// after the timed write still gets it, from the history.
	mark, err := e.write(ctx, control, prefix+"/mark", benchValue)
	if err != nil {
		return 0, err
	}
	arrivals := make(chan time.Time, fanoutWatchers)
	failures := make(chan error, fanoutWatchers)
	for range fanoutWatchers {
		go func() {
			req, err := e.api.watch(ctx, e.target.clientURL(), prefix, mark.Index+1)
			if err == nil {
				_, err = sendOK(client, req)
			}
			if err != nil {
				failures <- err
				return
			}
			arrivals <- time.Now()
		}()
	}
	registered := func(ctx context.Context) bool {
		n, err := watcherCount(ctx, e.system, e.target.clientURL())
		return err == nil && n >= fanoutWatchers
	}
	if err := waitFor(ctx, "the watchers to register", e.cluster.members, registered); err != nil {
		return 0, err
	}
	sent := time.Now()
	if _, err := e.write(ctx, control, prefix+"/event", benchValue); err != nil {
		return 0, err
	}
	var last time.Time
	for notified := 0; notified < fanoutWatchers; notified++ {
		select {
		case at := <-arrivals:
			if at.After(last) {
				last = at
			}
		case err := <-failures:
			return 0, fmt.Errorf("a watcher failed after %d were notified: %w", notified, err)
		case <-ctx.Done():
			return 0, fmt.Errorf("%d of %d watchers notified: %w", notified, fanoutWatchers, ctx.Err())
		}
	}
	return last.Sub(sent), nil
}
