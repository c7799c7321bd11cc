package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// cellEnv is what a cell runs against: one system's fresh cluster, and the
// member every request goes to (its leader, as the baseline measured).
type cellEnv struct {
	system  system
	cluster *cluster
	target  *process
	// api is the API the running cell speaks.
	api      keysAPI
	duration time.Duration // how long a load cell runs
	idle     time.Duration // how long the idle cell measures
}

// cell is one figure of the table, measured the same way against both
// systems.
type cell struct {
	name     string
	measures []measure // the table's rows for this cell
	// instant is a cell that reads the cluster at one moment: there is no
	// time in which to count leader changes.
	instant bool
	// speaks is the API of the cell's requests; nil is the system's own.
	speaks keysAPI
	run    func(ctx context.Context, env *cellEnv) (cellResult, error)
}

// api is the API cell c speaks to sys.
func (c cell) api(sys system) keysAPI {
	if c.speaks != nil {
		return c.speaks
	}
	return sys
}

// The load's shape, as the baseline measured it.
const (
	keySpace          = 1000 // distinct keys written and read
	readClients       = 64
	mixedClients      = 64
	testAndSetClients = 16 // enough to contend, few enough that some win
	watchWriters      = 64 // the load a watch's latency is measured under
	fanoutWatchers    = 1000
	preloadClients    = 16
)

// benchValue is the 64-byte value of every write.
var benchValue = strings.Repeat("v", 64)

func benchKey(n int) string { return "bench/" + strconv.Itoa(n%keySpace) }

// paddedNumber writes n as a 64-byte value, for the values a cell must
// tell apart (a counter, a probe).
func paddedNumber(n int) string { return fmt.Sprintf("%064d", n) }

// cellsFor lists the cells of a setup of members members, in the order
// they run: idle first, while the cluster is fresh; memory after v1's load;
// then the v2 cells, and a single node's million keys last.
func cellsFor(members int) []cell {
	var cells []cell
	if members > 1 {
		cells = append(cells, idleCell())
	}
	for _, clients := range []int{1, 16, 64, 256} {
		cells = append(cells, writeCell(clients))
	}
	cells = append(cells,
		readCell(),
		mixedCell(),
		testAndSetCell(),
		watchLatencyCell(),
		fanoutCell(),
		memoryCell(),
	)
	cells = append(cells, v2Cells()...)
	if members == 1 {
		// The memory target is a single node's; a cluster writing a million
		// keys measures its disk more than its memory.
		cells = append(cells, largeStoreCell())
	}
	return cells
}

func (e *cellEnv) write(ctx context.Context, client *http.Client, key, value string) (answer, error) {
	req, err := e.api.write(ctx, e.target.clientURL(), key, value)
	if err != nil {
		return answer{}, err
	}
	body, err := sendOK(client, req)
	if err != nil {
		return answer{}, err
	}
	return parseAnswer(body)
}

// read asks for key; a read cell's answers are drained, not parsed, so that
// the client spends no more CPU than a write cell's.
func (e *cellEnv) read(ctx context.Context, client *http.Client, key string) ([]byte, error) {
	req, err := e.api.read(ctx, e.target.clientURL(), key)
	if err != nil {
		return nil, err
	}
	return sendOK(client, req)
}

// preload writes every key of the key space once, so that reads find them.
func (e *cellEnv) preload(ctx context.Context) error {
	if err := e.writeEach(ctx, preloadClients, keySpace, benchKey, benchValue); err != nil {
		return fmt.Errorf("preload: %w", err)
	}
	return nil
}

// writeEach writes key(0) to key(count-1) once each, with value, from
// clients concurrent clients; it stops at the first error.
func (e *cellEnv) writeEach(ctx context.Context, clients, count int, key func(int) string, value string) error {
	client := newClient(clients, requestTimeout)
	defer client.CloseIdleConnections()
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < count; k = int(next.Add(1)) - 1 {
				if _, err := e.write(ctx, client, key(k), value); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("writing key %d of %d: %w", k, count, err) })
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

func clientsName(n int, doing string) string {
	if n == 1 {
		return "1 client " + doing
	}
	return fmt.Sprintf("%d clients %s", n, doing)
}

func writeCell(clients int) cell {
	return cell{
		name:     clientsName(clients, "writing"),
		measures: []measure{perSecond("writes/s"), latencyP50, latencyP99},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			client := newClient(clients, requestTimeout)
			defer client.CloseIdleConnections()
			stats := closedLoop(ctx, clients, env.duration, func(ctx context.Context, c, i int) error {
				_, err := env.write(ctx, client, benchKey(c+i*clients), benchValue)
				return err
			})
			return stats.result(), nil
		},
	}
}

func readCell() cell {
	return cell{
		name:     clientsName(readClients, "reading"),
		measures: []measure{perSecond("reads/s"), latencyP50, latencyP99},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			if err := env.preload(ctx); err != nil {
				return cellResult{}, err
			}
			client := newClient(readClients, requestTimeout)
			defer client.CloseIdleConnections()
			stats := closedLoop(ctx, readClients, env.duration, func(ctx context.Context, c, i int) error {
				_, err := env.read(ctx, client, benchKey(c+i*readClients))
				return err
			})
			return stats.result(), nil
		},
	}
}

func mixedCell() cell {
	return cell{
		name:     clientsName(mixedClients, "90% reads, 10% writes"),
		measures: []measure{perSecond("requests/s"), latencyP50, latencyP99},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			if err := env.preload(ctx); err != nil {
				return cellResult{}, err
			}
			client := newClient(mixedClients, requestTimeout)
			defer client.CloseIdleConnections()
			stats := closedLoop(ctx, mixedClients, env.duration, func(ctx context.Context, c, i int) error {
				key := benchKey(c + i*mixedClients)
				var err error
				if i%10 == 9 {
					_, err = env.write(ctx, client, key, benchValue)
				} else {
					_, err = env.read(ctx, client, key)
				}
				return err
			})
			return stats.result(), nil
		},
	}
}

// testAndSetCell has every client increment one counter the way a client
// of the API would: read it, then test-and-set it from the value read,
// again from the start if another client got there first.
func testAndSetCell() cell {
	const key = "bench-cas/counter"
	return cell{
		name:     clientsName(testAndSetClients, "test-and-set on one key"),
		measures: []measure{perSecond("increments/s"), incrementP50, incrementP99},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			client := newClient(testAndSetClients, requestTimeout)
			defer client.CloseIdleConnections()
			if _, err := env.write(ctx, client, key, paddedNumber(0)); err != nil {
				return cellResult{}, err
			}
			var conflicts atomic.Int64
			deadline := time.Now().Add(env.duration)
			increment := func(ctx context.Context, _, _ int) error {
				for {
					current, err := env.counter(ctx, client, key)
					if err != nil {
						return err
					}
					req, err := env.api.testAndSet(ctx, env.target.clientURL(), key, paddedNumber(current), paddedNumber(current+1))
					if err != nil {
						return err
					}
					status, body, err := send(client, req)
					if err != nil {
						return err
					}
					if status >= 200 && status <= 299 {
						return nil
					}
					if a, err := parseAnswer(body); err != nil || a.ErrorCode != testFailed {
						return fmt.Errorf("test-and-set: HTTP %d: %.200s", status, body)
					}
					conflicts.Add(1)
					if time.Now().After(deadline) {
						return errPastDeadline
					}
				}
			}
			stats := closedLoop(ctx, testAndSetClients, env.duration, increment)
			result := stats.result()
			result.Conflicts = int(conflicts.Load())
			// Each increment that succeeded added exactly one, so the counter
			// must equal their number; a request that failed may or may not
			// have taken effect, so the check needs a run without errors.
			if stats.errors == 0 {
				final, err := env.counter(ctx, client, key)
				if err != nil {
					return result, err
				}
				if final != stats.ops {
					return result, fmt.Errorf("the counter reads %d after %d successful increments", final, stats.ops)
				}
			}
			return result, nil
		},
	}
}

// counter reads a number written by paddedNumber.
func (e *cellEnv) counter(ctx context.Context, client *http.Client, key string) (int, error) {
	body, err := e.read(ctx, client, key)
	if err != nil {
		return 0, err
	}
	a, err := parseAnswer(body)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(a.Value)
}

// idleCell is the CPU time the members of a fresh cluster burn doing
// nothing but keeping the cluster up.
func idleCell() cell {
	return cell{
		name:     "idle",
		measures: []measure{idleCPU},
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			before, err := env.cluster.cpuTime()
			if err != nil {
				return cellResult{}, err
			}
			start := time.Now()
			select {
			case <-time.After(env.idle):
			case <-ctx.Done():
				return cellResult{}, ctx.Err()
			}
			after, err := env.cluster.cpuTime()
			if err != nil {
				return cellResult{}, err
			}
			elapsed := time.Since(start)
			return cellResult{
				Seconds:    elapsed.Seconds(),
				CPUPercent: 100 * (after - before).Seconds() / elapsed.Seconds(),
			}, nil
		},
	}
}

// memoryCell reads every member's resident memory after all the load.
func memoryCell() cell {
	return cell{
		name:     "memory after the cells",
		measures: []measure{largestRSS},
		instant:  true,
		run: func(_ context.Context, env *cellEnv) (cellResult, error) {
			r := cellResult{Memory: make(map[string]memory)}
			for _, m := range env.cluster.members {
				mem, err := m.memory()
				if err != nil {
					return cellResult{}, fmt.Errorf("%s: %w", m.name, err)
				}
				r.Memory[m.name] = mem
			}
			return r, nil
		},
	}
}
