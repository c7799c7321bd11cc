package powerloss

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// stoppedMark is how strace reports a thread entering a group stop.
const stoppedMark = "--- stopped by SIGSTOP ---"

// WaitStopped waits until strace, tracing process pid into traceFile with
// StraceArgs, has reported every thread of pid stopped, after the caller
// sent it SIGSTOP. From then on no call of the process is in flight, so a
// SIGKILL ends it at exactly the state the trace ends with: that instant is
// the power cut. Killing a process that is still running instead can leave
// its last calls in the trace with wrong results.
func WaitStopped(pid int, traceFile string, timeout time.Duration) error {
	f, err := os.Open(traceFile)
	if err != nil {
		return err
	}
	defer f.Close()
	stopped := map[string]bool{} // thread ids
	var partial []byte           // a line strace has not finished writing
	deadline := time.Now().Add(timeout)
	for {
		more, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		lines := bytes.Split(append(partial, more...), []byte("\n"))
		partial = lines[len(lines)-1]
		for _, line := range lines[:len(lines)-1] {
			if tid, rest, ok := strings.Cut(string(line), " "); ok && strings.TrimLeft(rest, " ") == stoppedMark {
				stopped[tid] = true
			}
		}
		threads, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return fmt.Errorf("threads of process %d: %w", pid, err)
		}
		var running []string
		for _, t := range threads {
			if !stopped[t.Name()] {
				running = append(running, t.Name())
			}
		}
		if len(running) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d: threads %s not reported stopped in %s within %v", pid, strings.Join(running, ", "), traceFile, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TracedPID returns the pid of the process strace (running as stracePID)
// started: its only child.
func TracedPID(stracePID int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", stracePID, stracePID))
	if err != nil {
		return 0, fmt.Errorf("children of strace (pid %d): %w", stracePID, err)
	}
	fields := strings.Fields(string(b))
	if len(fields) != 1 {
		return 0, fmt.Errorf("strace (pid %d) has children %q, want one", stracePID, fields)
	}
	return strconv.Atoi(fields[0])
}
