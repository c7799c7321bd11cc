package powerloss

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperDirEnv, when set, makes the test binary write files in that
// directory instead of running tests: the process strace watches below.
const helperDirEnv = "POWERLOSS_HELPER_DIR"

const (
	helperWriters   = 4
	helperLinesEach = 50
	helperReady     = "ready"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperDirEnv); dir != "" {
		fmt.Fprintln(os.Stderr, writeHelperFiles(dir))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// writeHelperFiles does what a storage engine does, from several threads at
// once, so that strace interleaves their calls; it returns only on error:
//   - log and scratch are created and their entries made durable;
//   - helperWriters writers append helperLinesEach lines each to log through
//     one O_APPEND descriptor, each fsyncing through a descriptor of its own
//     after every line;
//   - orphan is written and fsynced, but its directory never is;
//   - then, until the process is killed, one thread appends to log and
//     fsyncs it, and another writes scratch without ever fsyncing it. It
//     prints helperReady once both have started.
func writeHelperFiles(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	log, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	scratch, err := os.Create(filepath.Join(dir, "scratch"))
	if err != nil {
		return err
	}
	if err := syncPath(dir); err != nil {
		return err
	}
	appendSynced := func(line string) error {
		syncer, err := os.Open(log.Name())
		if err != nil {
			return err
		}
		defer syncer.Close()
		if _, err := log.WriteString(line); err != nil {
			return err
		}
		return syncer.Sync()
	}
	var wg sync.WaitGroup
	errs := make(chan error, helperWriters)
	for w := range helperWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range helperLinesEach {
				if err := appendSynced(fmt.Sprintf("writer %d line %d\n", w, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	orphan, err := os.Create(filepath.Join(dir, "orphan"))
	if err != nil {
		return err
	}
	if _, err := orphan.WriteString("lost with its entry"); err != nil {
		return err
	}
	if err := orphan.Sync(); err != nil {
		return err
	}

	started := make(chan error, 2)
	go func() {
		for i := 0; ; i++ {
			err := appendSynced(fmt.Sprintf("churn %d\n", i))
			if i == 0 || err != nil {
				started <- err
			}
			if err != nil {
				return
			}
		}
	}()
	go func() {
		for i := 0; ; i++ {
			_, err := scratch.WriteString("never fsynced\n")
			if i == 0 || err != nil {
				started <- err
			}
			if err != nil {
				return
			}
		}
	}()
	for range 2 {
		if err := <-started; err != nil {
			return err
		}
	}
	fmt.Println(helperReady)
	select {}
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// TestRealTrace runs a multi-threaded Go program under strace and cuts its
// power while it writes, as the end-to-end tests do with etcd, and checks
// that the model of its directory matches the directory it left, and that
// the power-cut image keeps what was fsynced and only that.
func TestRealTrace(t *testing.T) {
	straceBin, err := Strace()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "data")
	traceFile := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command(straceBin, append(StraceArgs(traceFile), os.Args[0])...)
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	// Killing strace alone would leave the helper running, detached.
	helperPID := 0
	t.Cleanup(func() {
		if helperPID != 0 {
			syscall.Kill(helperPID, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		<-exited
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
		cmd.Wait()
		close(exited)
	}()
	select {
	case line := <-ready:
		if line != helperReady+"\n" {
			t.Fatalf("the helper process said %q, want %q", line, helperReady)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the helper process did not get ready within 30 s")
	}

	pid, err := TracedPID(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	helperPID = pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if err := WaitStopped(pid, traceFile, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	helperPID = 0
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("strace did not exit within 10 s of the kill")
	}

	trace, err := os.Open(traceFile)
	if err != nil {
		t.Fatal(err)
	}
	defer trace.Close()
	m, err := Replay(trace, dir)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if err := m.Verify(dir); err != nil {
		t.Fatal(err)
	}
	image := readImage(t, m)
	written, err := os.ReadFile(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(image) != 2 || image["scratch"] != "" || !strings.HasPrefix(string(written), image["log"]) {
		t.Fatalf("after the power cut: %q\nwant log (a prefix of what was written) and scratch (empty)", image)
	}
	for w := range helperWriters {
		for i := range helperLinesEach {
			if line := fmt.Sprintf("writer %d line %d\n", w, i); !strings.Contains(image["log"], line) {
				t.Fatalf("the fsynced line %q is not in the log after the power cut", line)
			}
		}
	}
	t.Logf("log: %d bytes written, %d durable; losses: %q", len(written), len(image["log"]), m.Losses())
}
