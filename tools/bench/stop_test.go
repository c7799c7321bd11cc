package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStoppedRunReportsTheCellsMeasured: a run stopped early prints the
// table of the cells it measured, says that it stopped, writes them to
// the JSON file, and fails.
func TestStoppedRunReportsTheCellsMeasured(t *testing.T) {
	rep := report{Command: "bench -systems ours", Results: []cellResult{
		{Setup: "single node", Cell: "1 client writing", System: "ours", PerSecond: 3000, P50Ms: 0.3, P99Ms: 1},
	}}
	jsonPath := filepath.Join(t.TempDir(), "bench.json")
	var out bytes.Buffer
	err := finish(&out, rep, jsonPath, errors.New("interrupt signal received"))
	if err == nil || !strings.Contains(err.Error(), "interrupt signal received") {
		t.Fatalf("finish of a stopped run returned %v, want an error that says why it stopped", err)
	}
	for _, want := range []string{
		"Stopped early (interrupt signal received): the table holds only the cells measured before.",
		"| single node | 1 client writing | writes/s | higher | 3,000 | — | — |  |\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output of a stopped run has no %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatalf("a stopped run wrote no JSON: %v", err)
	}
	var written report
	if err := json.Unmarshal(b, &written); err != nil || len(written.Results) != 1 || written.Results[0].Cell != "1 client writing" {
		t.Fatalf("the JSON of a stopped run: %v, %s", err, b)
	}
}

// TestInterruptPrintsTheCellsMeasured runs the tool on this project's
// node, interrupts it during its second cell as Ctrl-C does, and expects
// the first cell's table, a failing exit, and no node left running.
func TestInterruptPrintsTheCellsMeasured(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the node")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the node with")
	}
	dir := t.TempDir()
	etcd, bench := filepath.Join(dir, "etcd"), filepath.Join(dir, "bench")
	for _, b := range [][2]string{{etcd, "../.."}, {bench, "."}} {
		if out, err := exec.Command(goTool, "build", "-o", b[0], b[1]).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b[1], err, out)
		}
	}
	var stdout bytes.Buffer
	cmd := exec.Command(bench, "-etcd", etcd, "-systems", "ours", "-setups", "single",
		"-cells", "1 client writing,16 clients writing", "-duration", "2s", "-json", filepath.Join(dir, "bench.json"))
	cmd.Stdout = &stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var log strings.Builder
	go func() {
		lines := bufio.NewScanner(stderr)
		for lines.Scan() {
			log.WriteString(lines.Text() + "\n")
			if strings.Contains(lines.Text(), "1 client writing: ") {
				cmd.Process.Signal(syscall.SIGINT)
			}
		}
		exited <- cmd.Wait()
	}()
	select {
	case err = <-exited:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("bench did not exit within a minute; stderr:\n%s", log.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("interrupted bench exited %d (%v), want 1; stderr:\n%s", code, err, log.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "| single node | 1 client writing | writes/s |") || !strings.Contains(out, "Stopped early (interrupt") {
		t.Fatalf("interrupted bench printed no table of the cell it measured; stdout:\n%s\nstderr:\n%s", out, log.String())
	}
	if strings.Contains(out, "| 16 clients writing |") {
		t.Fatalf("interrupted bench shows the cell it cut short; stdout:\n%s", out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bench.json"))
	if err != nil || !bytes.Contains(b, []byte(`"1 client writing"`)) {
		t.Fatalf("interrupted bench wrote no JSON of the cell it measured: %v %s", err, b)
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if exe, err := os.Readlink(filepath.Join("/proc", p.Name(), "exe")); err == nil && exe == etcd {
			t.Fatalf("process %s, a node the interrupted bench started, still runs", p.Name())
		}
	}
}
