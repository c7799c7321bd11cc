package testnode

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// pollInterval is how often a state is polled for: often enough not to
// slow tests down, seldom enough not to load the node.
const pollInterval = 20 * time.Millisecond

// ErrPortTaken says a process exited before serving because another program
// took one of its ports meanwhile: whether to try again, and how, is the
// caller's choice.
var ErrPortTaken = errors.New("a port was taken before the node could bind it")

// WaitReady polls GET clientURL/version with client until it answers 200:
// a node answers 500 while it starts and catches up.
func (p *Process) WaitReady(client *http.Client, clientURL string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if !p.Running() {
			if p.PortTaken() {
				return ErrPortTaken
			}
			return fmt.Errorf("the process exited (%v) before serving", p.Err())
		}
		resp, err := client.Get(clientURL + "/version")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /version not 200 within %v (last: %s)", timeout, last)
		}
		time.Sleep(pollInterval)
	}
}
