package main

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// machine is what the figures of a run depend on besides the code: the
// cores, the CPU, how busy the machine was, and how fast its disk syncs.
type machine struct {
	CPUs               int     `json:"cpus"`
	CPUModel           string  `json:"cpuModel"`
	GoVersion          string  `json:"goVersion"`
	LoadAverageAtStart string  `json:"loadAverageAtStart"`
	LoadAverageAtEnd   string  `json:"loadAverageAtEnd"`
	FsyncP50Micros     float64 `json:"fsyncP50Micros"`
	FsyncMeanMicros    float64 `json:"fsyncMeanMicros"`
}

// fsyncProbes is how many small appends, each synced, measure the disk.
const fsyncProbes = 1000

// describeMachine reads the machine and times fsync in dir, where the
// servers' data will be.
func describeMachine(dir string) (machine, error) {
	m := machine{
		CPUs:               runtime.NumCPU(),
		CPUModel:           cpuModel(),
		GoVersion:          runtime.Version(),
		LoadAverageAtStart: loadAverage(),
	}
	p50, mean, err := fsyncLatency(dir)
	if err != nil {
		return m, err
	}
	m.FsyncP50Micros = float64(p50) / float64(time.Microsecond)
	m.FsyncMeanMicros = float64(mean) / float64(time.Microsecond)
	return m, nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		name, value, ok := strings.Cut(lines.Text(), ":")
		if ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// loadAverage is the 1, 5 and 15 minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	fields := strings.Fields(string(data))
	if len(fields) < 3 {
		return "unknown"
	}
	return strings.Join(fields[:3], " ")
}

// fsyncLatency appends 64 bytes and fsyncs, fsyncProbes times, in a new
// file in dir: what a write acknowledged after its log entry is synced
// pays at least once.
func fsyncLatency(dir string) (p50, mean time.Duration, err error) {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	record := []byte(benchValue)
	took := make([]time.Duration, 0, fsyncProbes)
	var total time.Duration
	for range fsyncProbes {
		start := time.Now()
		if _, err := f.Write(record); err != nil {
			return 0, 0, err
		}
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
		d := time.Since(start)
		took = append(took, d)
		total += d
	}
	slices.Sort(took)
	return percentile(took, 0.5), total / fsyncProbes, nil
}
