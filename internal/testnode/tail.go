package testnode

import "sync"

// tailSize bounds what a process keeps of its own output: enough for the
// message of a node that gave up.
const tailSize = 8 << 10

// tail keeps the end of a process's output, whatever the log it also goes
// to, so that the process can tell why it exited.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailSize {
		t.buf = append([]byte(nil), t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
