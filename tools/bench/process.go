package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one server the benchmark started: its addresses on loopback,
// its data directory and log, and what /proc says about it.
type process struct {
	name       string
	clientAddr string // host:port clients call
	peerAddr   string // host:port the members call each other on
	dataDir    string
	logPath    string

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been reaped
}

// newProcess picks free loopback ports for a member; the process is not
// started yet.
func newProcess(name, dir string) (*process, error) {
	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	return &process{
		name:       name,
		clientAddr: "127.0.0.1:" + strconv.Itoa(clientPort),
		peerAddr:   "127.0.0.1:" + strconv.Itoa(peerPort),
		dataDir:    dir + "/" + name + ".data",
		logPath:    dir + "/" + name + ".log",
	}, nil
}

// freePort asks the kernel for a port no one listens on. Another program
// could take it before the server binds it; the server then fails to start
// and says so in its log, which the benchmark shows.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (p *process) clientURL() string { return "http://" + p.clientAddr }

func (p *process) peerURL() string { return "http://" + p.peerAddr }

// start runs binary with args, its output going to the process's log.
func (p *process) start(binary string, args []string) error {
	logFile, err := os.Create(p.logPath)
	if err != nil {
		return err
	}
	// The child keeps its own copy of the descriptor.
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A group of its own: Ctrl-C reaches the benchmark only, which then
		// kills every server itself, instead of racing the servers' own
		// shutdown.
		Setpgid: true,
		// Should the benchmark itself be killed, the kernel kills the server.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	return nil
}

// hasExited says whether a started process is gone.
func (p *process) hasExited() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// stopGrace is how long a member has to stop by itself, writing its CPU
// profile if it keeps one, before it is killed.
const stopGrace = 5 * time.Second

// kill stops the process and anything it started, and waits for it: a
// SIGTERM first, then SIGKILL after stopGrace.
func (p *process) kill() {
	if p.cmd == nil || p.hasExited() {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
		return
	case <-time.After(stopGrace):
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// cpuTime is the CPU time, user and system, that the process has used.
func (p *process) cpuTime() (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid()))
	if err != nil {
		return 0, err
	}
	return parseCPUTime(stat)
}

// userHZ is the unit of the times in /proc/PID/stat: Linux reports them in
// USER_HZ, which it fixes at 100 whatever the kernel's own tick.
const userHZ = 100

// parseCPUTime reads utime and stime, fields 14 and 15 of /proc/PID/stat.
// Field 2, the command name, may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseCPUTime(stat []byte) (time.Duration, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("/proc stat: no command name")
	}
	fields := strings.Fields(string(stat[end+1:]))
	// fields[0] is field 3 (the state), so field N is fields[N-3].
	if len(fields) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// memory is a process's resident set now and at its peak, in bytes.
type memory struct {
	RSS  int64 `json:"rssBytes"`
	Peak int64 `json:"peakRSSBytes"`
}

func (p *process) memory() (memory, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
	if err != nil {
		return memory{}, err
	}
	return parseMemory(status)
}

// parseMemory reads VmRSS and VmHWM (the peak RSS) from /proc/PID/status,
// where they are given in kB.
func parseMemory(status []byte) (memory, error) {
	var m memory
	found := 0
	for line := range strings.SplitSeq(string(status), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc status %s: %w", name, err)
		}
		if name == "VmRSS" {
			m.RSS = kb * 1024
		} else {
			m.Peak = kb * 1024
		}
		found++
	}
	if found != 2 {
		return memory{}, errors.New("/proc status: no VmRSS or VmHWM")
	}
	return m, nil
}

// countLogLines counts the lines of the process's log that hold any of
// markers.
func (p *process) countLogLines(markers []string) (int, error) {
	log, err := os.ReadFile(p.logPath)
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range bytes.SplitSeq(log, []byte("\n")) {
		for _, m := range markers {
			if bytes.Contains(line, []byte(m)) {
				n++
				break
			}
		}
	}
	return n, nil
}

// logTail is the end of the process's log, for saying why it failed.
func (p *process) logTail(lines int) string {
	log, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(log), "\n"), "\n")
	return strings.Join(all[max(0, len(all)-lines):], "\n")
}
