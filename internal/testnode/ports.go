package testnode

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{}
)

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

// Listen opens a listener on a free port of 127.0.0.1 that nothing else in
// this test process was given.
func Listen() (net.Listener, error) {
	low := ephemeralLow()
	for range 200 {
		port := 0
		if low > 12000 {
			port = 10000 + rand.IntN(low-10000)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		portsMu.Lock()
		used := portsUsed[p]
		portsUsed[p] = true
		portsMu.Unlock()
		if used {
			l.Close()
			continue
		}
		return l, nil
	}
	return nil, errors.New("no free port found")
}

// FreePort returns a port of 127.0.0.1 that was free a moment ago and that
// nothing else in this test process was given.
func FreePort() (int, error) {
	l, err := Listen()
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
