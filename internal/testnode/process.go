package testnode

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options say how to start the binary.
type Options struct {
	// Binary, if set, is the program to run instead of the one Binary
	// builds: a suite in a module of its own cannot build this module's
	// main package, and may run another server for comparison.
	Binary string
	Args   []string
	// Wrapper, if set, is the command the binary runs under (strace): the
	// process is then the wrapper's.
	Wrapper []string
	Dir     string
	// Log receives the process's stdout and stderr.
	Log io.Writer
}

// Process is one run of the binary, from its start to its exit.
type Process struct {
	cmd    *exec.Cmd
	out    tail
	exited chan struct{} // closed when the process has exited

	mu      sync.Mutex
	waitErr error // the exit status, once exited is closed
	paused  bool  // by Pause, and not resumed since
	killed  bool  // Kill ended it: its exit was expected
}

// Start starts the binary without waiting for it to serve.
func Start(o Options) (*Process, error) {
	bin := o.Binary
	if bin == "" {
		var err error
		if bin, err = Binary(); err != nil {
			return nil, err
		}
	}
	argv := append(append(append([]string{}, o.Wrapper...), bin), o.Args...)
	p := &Process{cmd: exec.Command(argv[0], argv[1:]...), exited: make(chan struct{})}
	p.cmd.Dir = o.Dir
	out := io.Writer(&p.out)
	if o.Log != nil {
		out = io.MultiWriter(o.Log, &p.out)
	}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// Pid is the process's id (the wrapper's, if there is one).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Running reports whether the process has not exited yet (paused or not).
func (p *Process) Running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// Err is the process's exit status: nil while it runs and after a clean
// exit.
func (p *Process) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// ExitCode is the exit code once the process has exited, -1 before or
// after a signal.
func (p *Process) ExitCode() int {
	if p.Running() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Output is the end of what the process wrote.
func (p *Process) Output() string { return p.out.String() }

// PortTaken reports whether the process exited because one of its ports was
// taken between the choice of the port and its bind.
func (p *Process) PortTaken() bool {
	return !p.Running() && strings.Contains(p.out.String(), "address already in use")
}

// Signal sends sig; a process that has already exited is no error.
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v: %w", sig, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit.
func (p *Process) Wait(timeout time.Duration) error {
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("did not exit within %v", timeout)
	}
}

// Kill sends SIGKILL, after SIGCONT in case it is paused, and waits up to
// timeout for the exit.
func (p *Process) Kill(timeout time.Duration) error {
	if !p.Running() {
		return nil
	}
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	p.Signal(syscall.SIGCONT)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	if err := p.Wait(timeout); err != nil {
		return fmt.Errorf("SIGKILL: %w", err)
	}
	return nil
}

// Killed reports whether Kill was called: an exit that was expected.
func (p *Process) Killed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// Pause stops the process with SIGSTOP: it keeps its sockets but answers
// nothing.
func (p *Process) Pause() error { return p.setPaused(syscall.SIGSTOP, true) }

// Resume continues a paused process with SIGCONT.
func (p *Process) Resume() error { return p.setPaused(syscall.SIGCONT, false) }

func (p *Process) setPaused(sig syscall.Signal, paused bool) error {
	if err := p.Signal(sig); err != nil {
		return err
	}
	p.mu.Lock()
	p.paused = paused
	p.mu.Unlock()
	return nil
}

// Paused reports whether the process was paused and has neither been
// resumed nor exited since.
func (p *Process) Paused() bool {
	p.mu.Lock()
	paused := p.paused
	p.mu.Unlock()
	return paused && p.Running()
}
