// Command bench measures an etcd node the way BASELINE.md measured the
// original: closed-loop HTTP clients on keep-alive connections, 64-byte
// values, POST /v1/keys/bench/N for writes and GET for reads, for a fixed
// time. It prints throughput and latency percentiles.
//
//	go run ./tools/bench -url http://127.0.0.1:4001 -clients 64 -duration 10s -op write
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:4001", "client URL of the node")
	clients := flag.Int("clients", 1, "concurrent closed-loop clients")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	op := flag.String("op", "write", "write or read")
	keys := flag.Int("keys", 1000, "distinct keys written or read")
	flag.Parse()
	if *clients < 1 || *keys < 1 || (*op != "write" && *op != "read") {
		fmt.Fprintln(os.Stderr, "bench: -clients and -keys must be positive and -op write or read")
		os.Exit(2)
	}

	transport := &http.Transport{MaxIdleConnsPerHost: *clients, MaxConnsPerHost: *clients}
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
	value := strings.Repeat("v", 64)
	if *op == "read" {
		for k := range *keys {
			if err := request(client, *target, "write", k, value); err != nil {
				fmt.Fprintf(os.Stderr, "bench: preload: %v\n", err)
				os.Exit(1)
			}
		}
	}

	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(*duration)
	for c := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			fails := 0
			for i := c; time.Now().Before(deadline); i += *clients {
				t := time.Now()
				if err := request(client, *target, *op, i%*keys, value); err != nil {
					fails++
					continue
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			failures += fails
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	fmt.Printf("op=%s clients=%d duration=%v ok=%d failed=%d rate=%.0f/s p50=%v p99=%v max=%v\n",
		*op, *clients, elapsed.Round(time.Millisecond), len(latencies), failures,
		float64(len(latencies))/elapsed.Seconds(),
		percentile(latencies, 0.50), percentile(latencies, 0.99), percentile(latencies, 1))
}

func request(client *http.Client, target, op string, key int, value string) error {
	u := fmt.Sprintf("%s/v1/keys/bench/%d", target, key)
	var resp *http.Response
	var err error
	if op == "write" {
		resp, err = client.PostForm(u, url.Values{"value": {value}})
	} else {
		resp, err = client.Get(u)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d", op, u, resp.StatusCode)
	}
	return nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i].Round(time.Microsecond)
}
