package testnode

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ports given to nodes are taken for good by the test process that was
// given them, across processes: `go test ./...` runs the packages' test
// binaries in parallel, and a port that one of them had given to a node it
// then killed, and that another then gave to its own node, let a member of
// one test's cluster reach a node of another test's (seen in CI). Each port
// is held by an exclusive lock on a file named after it in portLockDir,
// taken without waiting and never released: the kernel releases it when
// the process exits, whichever way it does.
var (
	portsMu   sync.Mutex
	portLocks = map[int]*os.File{} // kept open: closing a file releases its lock
)

// portLockDir holds the ports' lock files, shared by every test process of
// the machine.
func portLockDir() string { return filepath.Join(os.TempDir(), "etcd-test-ports") }

// candidatePort is the port Listen tries next: 0 lets the kernel choose.
var candidatePort = func(low int) int {
	if low > 12000 {
		return 10000 + rand.IntN(low-10000)
	}
	return 0
}

// ephemeralLow is the start of the range the kernel picks outgoing ports
// from. Nodes are given ports below it, so that a client connection cannot
// take a killed node's port before the node is restarted on it.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if low, err := strconv.Atoi(f[0]); err == nil {
				return low
			}
		}
	}
	return 32768
}

// Listen opens a listener on a free port of 127.0.0.1 that no test process
// running on this machine was given before.
func Listen() (net.Listener, error) {
	low := ephemeralLow()
	var lockErr error
	for range 200 {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", candidatePort(low)))
		if err != nil {
			continue
		}
		taken, err := takePort(l.Addr().(*net.TCPAddr).Port)
		if err != nil {
			lockErr = err
		}
		if !taken {
			l.Close()
			continue
		}
		return l, nil
	}
	if lockErr != nil {
		return nil, fmt.Errorf("no free port found: %w", lockErr)
	}
	return nil, errors.New("no free port found")
}

// takePort locks port for this process, and reports false when this or
// another process has it.
func takePort(port int) (bool, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	if portLocks[port] != nil {
		return false, nil
	}
	if err := os.MkdirAll(portLockDir(), 0o777); err != nil {
		return false, fmt.Errorf("port locks: %w", err)
	}
	// The directory is shared by every user's tests, whatever their umask.
	os.Chmod(portLockDir(), 0o777|os.ModeSticky)
	f, err := os.OpenFile(filepath.Join(portLockDir(), strconv.Itoa(port)), os.O_RDONLY|os.O_CREATE, 0o666)
	if err != nil {
		return false, fmt.Errorf("port locks: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return false, nil
		}
		return false, fmt.Errorf("port locks: lock %s: %w", f.Name(), err)
	}
	portLocks[port] = f
	return true, nil
}

// FreePort returns a port of 127.0.0.1 that was free a moment ago and that
// no test process running on this machine was given before.
func FreePort() (int, error) {
	l, err := Listen()
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
