package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// server is one running side: etcd 3.5 or this node, alone in a cluster of
// one, on ports and a data directory of its own.
type server struct {
	name      string
	clientURL string
	cmd       *exec.Cmd
	log       *lockedBuffer
	exited    chan struct{}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const startTimeout = 30 * time.Second

// startServer starts binary as kind ("etcd35" or "etcd") and waits until it
// serves; it is killed when the test ends, whatever way it ends.
func startServer(t *testing.T, kind, binary string) *server {
	t.Helper()
	for attempt := 1; ; attempt++ {
		s, err := tryStart(t, kind, binary)
		if err == nil {
			return s
		}
		if attempt < 3 && strings.Contains(s.log.String(), "address already in use") {
			t.Logf("%s: a port was taken meanwhile; trying others", kind)
			continue
		}
		t.Fatalf("%s (%s) did not start: %v\n--- its log ---\n%s", kind, binary, err, s.log.String())
	}
}

func tryStart(t *testing.T, kind, binary string) (*server, error) {
	clientPort, err := testnode.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	peerPort, err := testnode.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &server{
		name:      kind,
		clientURL: fmt.Sprintf("http://127.0.0.1:%d", clientPort),
		log:       &lockedBuffer{},
		exited:    make(chan struct{}),
	}
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	var args []string
	switch kind {
	case "etcd35":
		args = []string{
			"--name", "conf",
			"--data-dir", filepath.Join(dir, "conf.etcd"),
			"--listen-client-urls", s.clientURL,
			"--advertise-client-urls", s.clientURL,
			"--listen-peer-urls", peerURL,
			"--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "conf=" + peerURL,
			"--initial-cluster-state", "new",
			"--enable-v2",
		}
	default:
		args = []string{
			"-n", "conf",
			"-c", fmt.Sprintf("127.0.0.1:%d", clientPort),
			"-s", fmt.Sprintf("127.0.0.1:%d", peerPort),
			"-d", filepath.Join(dir, "conf.etcd"),
		}
	}
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = dir
	// Killed with the test process too when it dies without its cleanups
	// (a -timeout panic).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		return s, err
	}
	go func() {
		s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(s.stop)
	return s, s.waitReady()
}

// waitReady polls until the server has a leader and takes v2 requests:
// /health for etcd 3.5, /version for this node (which answers 500 until
// it leads).
func (s *server) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second}
	path := "/version"
	if s.name == "etcd35" {
		path = "/health"
	}
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return fmt.Errorf("exited: %v", s.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(s.clientURL + path)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && (s.name != "etcd35" || bytes.Contains(body, []byte(`"health":"true"`))) {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("GET %s not ready within %v (last: %s)", path, startTimeout, last)
}

// stop kills the process and waits for it.
func (s *server) stop() {
	if s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
	}
}

// binaries are the two to compare: the reference (etcd 3.5) and the
// subject, this node or, to check the harness itself, etcd 3.5 again.
type binaries struct {
	etcd35, subject, subjectKind string
}

// findBinaries reads CONFORMANCE_ETCD35 (default bin/etcd35) and
// CONFORMANCE_ETCD (default: this tree, built now); CONFORMANCE_SUBJECT=etcd35
// compares etcd 3.5 with itself. Without the 3.5 build the test skips,
// unless CONFORMANCE_REQUIRE=1 (make conformance) makes that a failure.
func findBinaries(t *testing.T) binaries {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	b := binaries{etcd35: os.Getenv("CONFORMANCE_ETCD35"), subjectKind: "etcd"}
	if b.etcd35 == "" {
		b.etcd35 = filepath.Join(root, "bin", "etcd35")
	}
	if _, err := os.Stat(b.etcd35); err != nil {
		msg := fmt.Sprintf("etcd 3.5 is needed as the reference and %s is missing: `make bench-tools` builds it, `make conformance` builds it and runs this test", b.etcd35)
		if os.Getenv("CONFORMANCE_REQUIRE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if os.Getenv("CONFORMANCE_SUBJECT") == "etcd35" {
		b.subject, b.subjectKind = b.etcd35, "etcd35"
		return b
	}
	b.subject = os.Getenv("CONFORMANCE_ETCD")
	if b.subject == "" {
		if b.subject, err = testnode.Binary(); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// sideClient sends one side's requests; it never follows redirects, which
// are compared.
func sideClient() *http.Client {
	return testnode.NewClient(testnode.NewTransport(), 0)
}

func requestContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
