package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestParseCPUTime(t *testing.T) {
	// A command name with a space and a ')' of its own, as a process may
	// name itself; utime 250 and stime 50 ticks make 3 s.
	stat := []byte("4242 (etcd (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200")
	got, err := parseCPUTime(stat)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3*time.Second {
		t.Fatalf("got %v, want 3s", got)
	}
	if _, err := parseCPUTime([]byte("4242 (etcd) S 1")); err == nil {
		t.Fatal("a truncated stat line parsed")
	}
}

func TestParseMemory(t *testing.T) {
	status := []byte("Name:\tetcd\nVmHWM:\t   61440 kB\nVmRSS:\t   51200 kB\nThreads:\t9\n")
	got, err := parseMemory(status)
	if err != nil {
		t.Fatal(err)
	}
	if got.RSS != 50<<20 || got.Peak != 60<<20 {
		t.Fatalf("got %+v, want RSS 50 MiB and peak 60 MiB", got)
	}
	if _, err := parseMemory([]byte("Name:\tetcd\n")); err == nil {
		t.Fatal("a status without memory lines parsed")
	}
}

func TestParseAnswerReadsBothAPIs(t *testing.T) {
	v1 := `{"action":"SET","key":"/a","value":"x","index":7}`
	v2 := `{"action":"set","node":{"key":"/a","value":"x","modifiedIndex":7,"createdIndex":7}}`
	for _, body := range []string{v1, v2} {
		a, err := parseAnswer([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if a.Value != "x" || a.Index != 7 {
			t.Fatalf("%s: got value %q index %d, want x and 7", body, a.Value, a.Index)
		}
	}
	a, err := parseAnswer([]byte(`{"errorCode":101,"message":"Compare failed","cause":"[2 != 1]","index":4}`))
	if err != nil || a.ErrorCode != testFailed {
		t.Fatalf("got %+v, %v; want errorCode %d", a, err, testFailed)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	sorted := make([]time.Duration, 100)
	for i := range sorted {
		sorted[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := percentile(sorted, c.p); got != c.want {
			t.Errorf("p%v: got %v, want %v", c.p*100, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("empty: got %v", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// The table puts ours and v3.5 on one row with their ratio, says which way
// is better, shows errors and failures, and counts leader changes only
// for clusters.
func TestTable(t *testing.T) {
	changes := 2
	none := 0
	rep := report{Results: []cellResult{
		{Setup: "single node", Cell: "1 client writing", System: "ours", PerSecond: 3000, P50Ms: 0.3, P99Ms: 1, Errors: 2},
		{Setup: "single node", Cell: "1 client writing", System: "v3.5", PerSecond: 2000, P50Ms: 0.6, P99Ms: 2},
		{Setup: "3 members", Cell: "idle", System: "ours", CPUPercent: 16, LeaderChanges: &changes},
		{Setup: "3 members", Cell: "idle", System: "v3.5", Failed: "the cluster did not start"},
		{Setup: "3 members", Cell: "1 client writing", System: "ours", PerSecond: 200, LeaderChanges: &none},
		{Setup: "3 members", Cell: "memory after the cells", System: "ours", Memory: map[string]memory{"node1": {RSS: 40 << 20}, "node2": {RSS: 50 << 20}}},
	}}
	var out bytes.Buffer
	rep.writeTable(&out)
	for _, row := range []string{
		"| single node | 1 client writing | writes/s | higher | 3,000 (2 errors) | 2,000 | 1.50 |  |",
		"| single node | 1 client writing | p50 ms | lower | 0.30 | 0.60 | 0.50 |  |",
		"| 3 members | idle | CPU % of one core, all members | lower | 16.0% | failed | — | 2 / — |",
		"| 3 members | 1 client writing | writes/s | higher | 200 | — | — | 0 / — |",
		"| 3 members | memory after the cells | RSS MB of the largest member | lower | 50.0 | — | — |  |",
	} {
		if !strings.Contains(out.String(), row+"\n") {
			t.Errorf("no row\n%s\nin\n%s", row, out.String())
		}
	}
	if strings.Contains(out.String(), "16 clients writing") {
		t.Errorf("a cell measured by neither system is shown:\n%s", out.String())
	}
	if total, counted := rep.leaderChanges("ours"); !counted || total != 2 {
		t.Errorf("leader changes of ours: %d, %v; want 2, true", total, counted)
	}
}
