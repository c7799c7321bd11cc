package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The large store of issue 9's memory target: a million keys of 100-byte
// values, written once, then the member restarted over them.
const (
	largeStoreKeys    = 1_000_000
	largeStoreClients = 128
	// largeStoreSettle lets a snapshot that the load set off finish before
	// the memory is read.
	largeStoreSettle = 5 * time.Second
	restartTimeout   = 2 * time.Minute
)

var largeValue = strings.Repeat("v", 100)

func largeKey(n int) string { return "large/" + strconv.Itoa(n) }

var (
	largeRSS     = measure{"RSS MB with the million keys", false, func(r cellResult) float64 { return float64(r.Memory["loaded"].RSS) / (1 << 20) }, oneDecimal}
	largePeakRSS = measure{"peak RSS MB while writing them", false, func(r cellResult) float64 { return float64(r.Memory["loaded"].Peak) / (1 << 20) }, oneDecimal}
	restartSecs  = measure{"s from restart to serving them", false, func(r cellResult) float64 { return r.RestartSeconds }, seconds}
	restartRSS   = measure{"RSS MB after the restart", false, func(r cellResult) float64 { return float64(r.Memory["restarted"].RSS) / (1 << 20) }, oneDecimal}
)

func seconds(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// largeStoreCell writes the million keys, reads the member's memory, then
// restarts it (SIGTERM, then the same command) and times how long it takes
// to serve the first and the last key again. A member that serves before
// its store is whole fails the cell.
func largeStoreCell() cell {
	return cell{
		name:     "a million keys of 100 bytes",
		measures: []measure{largeRSS, largePeakRSS, restartSecs, restartRSS},
		instant:  true,
		run: func(ctx context.Context, env *cellEnv) (cellResult, error) {
			r := cellResult{Memory: make(map[string]memory)}
			if err := env.writeEach(ctx, largeStoreClients, largeStoreKeys, largeKey, largeValue); err != nil {
				return r, err
			}
			select {
			case <-time.After(largeStoreSettle):
			case <-ctx.Done():
				return r, ctx.Err()
			}
			m := env.target
			mem, err := m.memory()
			if err != nil {
				return r, err
			}
			r.Memory["loaded"] = mem
			args := m.cmd.Args[1:]
			m.kill()
			started := time.Now()
			if err := m.start(m.cmd.Path, args); err != nil {
				return r, err
			}
			if err := env.awaitWhole(ctx); err != nil {
				return r, err
			}
			r.RestartSeconds = time.Since(started).Seconds()
			if r.Memory["restarted"], err = m.memory(); err != nil {
				return r, err
			}
			return r, nil
		},
	}
}

// awaitWhole waits until the restarted member serves the first and the
// last key. Finding one and answering 404 for the other is a partial
// store; anything else (no answer yet, an error) is a member not serving
// yet.
func (e *cellEnv) awaitWhole(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, restartTimeout)
	defer cancel()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	status := func(key string) int {
		req, err := e.api.read(ctx, e.target.clientURL(), key)
		if err != nil {
			return 0
		}
		code, _, err := send(control, req)
		if err != nil {
			return 0
		}
		return code
	}
	for {
		first, last := status(largeKey(0)), status(largeKey(largeStoreKeys-1))
		switch {
		case first == http.StatusOK && last == http.StatusOK:
			return nil
		case first == http.StatusOK && last == http.StatusNotFound, first == http.StatusNotFound && last == http.StatusOK:
			return fmt.Errorf("the restarted member served a partial store: first key HTTP %d, last key HTTP %d", first, last)
		}
		select {
		case <-poll.C:
		case <-ctx.Done():
			return errors.New("the restarted member did not serve its keys in time")
		}
	}
}
