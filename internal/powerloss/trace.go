package powerloss

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// StraceArgs are the strace options (everything before the traced command)
// that write a trace Replay understands to traceFile: every thread, every
// string in full and hex-escaped (so written bytes come back exactly and
// nothing in a string can be mistaken for syntax), and every system call that
// changes files, names or descriptors. Of the signals only SIGSTOP is shown,
// for WaitStopped.
func StraceArgs(traceFile string) []string {
	return []string{
		"-f", "--seccomp-bpf", "-xx", "-s", strconv.Itoa(maxTracedString),
		"-e", "signal=SIGSTOP", "-e", "trace=" + strings.Join(tracedCalls, ","),
		"-o", traceFile,
	}
}

// Strace returns the path of the strace binary, or an error that says how to
// install it: the tests that need it fail without it rather than skip, so
// that a machine without strace cannot pass them unnoticed.
func Strace() (string, error) {
	p, err := exec.LookPath("strace")
	if err != nil {
		return "", fmt.Errorf("strace is required to simulate power loss and was not found (on Debian or Ubuntu: apt-get install -y strace): %w", err)
	}
	return p, nil
}

// maxTracedString is strace's -s: longer strings are cut, and Replay refuses
// a write whose bytes were cut.
const maxTracedString = 1 << 20

// tracedCalls are the system calls the model replays or refuses. The "?"
// marks calls some architectures lack (arm64 has only the *at forms), which
// strace then ignores instead of failing. sync_file_range is absent on
// purpose: it guarantees nothing after a power cut, so ignoring it is exact.
var tracedCalls = []string{
	// Descriptors and offsets.
	"?open", "openat", "?creat", "close", "dup", "?dup2", "dup3", "fcntl", "lseek", "read", "readv",
	// Contents.
	"write", "writev", "pwrite64", "ftruncate", "truncate", "fsync", "fdatasync",
	// Names.
	"?mkdir", "mkdirat", "?rename", "renameat", "renameat2", "?unlink", "unlinkat", "?rmdir",
	// Not modeled: Replay fails if one of these touches the data directory
	// (sync: always, as it touches everything).
	"openat2", "pwritev", "pwritev2", "fallocate", "?link", "linkat", "?symlink", "symlinkat",
	"copy_file_range", "sendfile", "splice", "sync", "syncfs",
}

// call is one system call as strace printed it.
type call struct {
	pid  int
	name string
	args []string // top-level arguments, verbatim
	// ret is the result; retKnown is false when strace printed "= ?" (the
	// thread died inside the call) or nothing at all (the trace ended first).
	ret      int64
	retKnown bool
}

// succeeded reports whether the call is known to have returned without error.
func (c *call) succeeded() bool { return c.retKnown && c.ret >= 0 }

// tracer receives a trace's calls in the order strace saw them: enter when a
// call began, exit when its result was printed. A call printed on one line
// (no other thread did anything traced meanwhile) gives enter then exit at
// once; a call printed as "<unfinished ...>" then "<... resumed>" gives enter
// at the first line and exit at the second, with the whole call.
type tracer interface {
	enter(c *call) error
	exit(c *call) error
}

const (
	unfinishedMark = " <unfinished ...>"
	resumedMark    = " resumed>"
)

// parseTrace reads strace output written with StraceArgs (one process, with
// or without pid prefixes) and feeds it to t.
func parseTrace(r io.Reader, t tracer) error {
	br := bufio.NewReader(r)
	unfinished := map[int]string{} // pid → its call's text so far
	for lineNo := 1; ; lineNo++ {
		line, readErr := br.ReadString('\n')
		if readErr != nil && readErr != io.EOF {
			return readErr
		}
		line = strings.TrimRight(line, "\n")
		if line != "" {
			if err := parseLine(line, unfinished, t); err != nil {
				return fmt.Errorf("trace line %d: %w: %.200s", lineNo, err, line)
			}
		}
		if readErr == io.EOF {
			break
		}
	}
	// Calls still unfinished when the trace ends never returned: their
	// threads died in them.
	for pid, text := range unfinished {
		c, err := parseCall(pid, text)
		if err != nil {
			return fmt.Errorf("unfinished call at the end of the trace: %w", err)
		}
		if err := t.exit(c); err != nil {
			return err
		}
	}
	return nil
}

func parseLine(line string, unfinished map[int]string, t tracer) error {
	pid, text, err := cutPID(line)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(text, "+++ "), strings.HasPrefix(text, "--- "):
		// The process exited or got a signal: nothing on disk changes.
		return nil
	case strings.HasPrefix(text, "<... "):
		name, rest, ok := strings.Cut(text[len("<... "):], resumedMark)
		if !ok {
			return errors.New("malformed resumed call")
		}
		start, ok := unfinished[pid]
		if !ok || !strings.HasPrefix(start, name+"(") {
			return fmt.Errorf("%s resumed, but pid %d has no unfinished %s", name, pid, name)
		}
		delete(unfinished, pid)
		// "<... write resumed> <unfinished ...>) = ?": the thread died in it.
		rest = strings.TrimPrefix(rest, unfinishedMark)
		c, err := parseCall(pid, start+rest)
		if err != nil {
			return err
		}
		return t.exit(c)
	}
	if start, rest, ok := strings.Cut(text, unfinishedMark); ok {
		if _, busy := unfinished[pid]; busy {
			return fmt.Errorf("pid %d starts a call while another is unfinished", pid)
		}
		c, err := parseCall(pid, start)
		if err != nil {
			return err
		}
		if err := t.enter(c); err != nil {
			return err
		}
		if rest == "" {
			unfinished[pid] = start
			return nil
		}
		// "<unfinished ...>) = ?": the thread died inside the call.
		if c, err = parseCall(pid, start+rest); err != nil {
			return err
		}
		return t.exit(c)
	}
	c, err := parseCall(pid, text)
	if err != nil {
		return err
	}
	if err := t.enter(c); err != nil {
		return err
	}
	return t.exit(c)
}

// cutPID splits off the thread id strace -f puts first: "1234  " when
// writing to a file, "[pid 1234] " when writing to a terminal. Without -f
// there is none, and the pid is 0.
func cutPID(line string) (int, string, error) {
	if rest, ok := strings.CutPrefix(line, "[pid"); ok {
		num, text, ok := strings.Cut(strings.TrimLeft(rest, " "), "] ")
		pid, err := strconv.Atoi(num)
		if !ok || err != nil {
			return 0, "", errors.New("malformed [pid N] prefix")
		}
		return pid, text, nil
	}
	digits := len(line) - len(strings.TrimLeft(line, "0123456789"))
	if digits == 0 {
		return 0, line, nil
	}
	pid, err := strconv.Atoi(line[:digits])
	if err != nil {
		return 0, "", err
	}
	return pid, strings.TrimLeft(line[digits:], " "), nil
}

// parseCall parses "name(arg, arg...) = result ...". The text may stop
// anywhere after "name(" (a call that has not returned yet): then the
// arguments are those printed so far and the result is unknown.
func parseCall(pid int, text string) (*call, error) {
	name, argText, ok := strings.Cut(text, "(")
	if !ok || name == "" || strings.ContainsAny(name, " \"") {
		return nil, errors.New("not a system call")
	}
	args, rest, closed, err := splitArgs(argText)
	if err != nil {
		return nil, err
	}
	c := &call{pid: pid, name: name, args: args}
	if !closed {
		return c, nil
	}
	result, ok := strings.CutPrefix(strings.TrimLeft(rest, " "), "= ")
	if !ok {
		return nil, errors.New("no result after the arguments")
	}
	value, _, _ := strings.Cut(result, " ")
	if value == "?" {
		return c, nil
	}
	if c.ret, err = strconv.ParseInt(value, 0, 64); err != nil {
		return nil, fmt.Errorf("result %q: %w", value, err)
	}
	c.retKnown = true
	return c, nil
}

// splitArgs splits an argument list at its top-level commas, up to the
// parenthesis that closes it (closed) or the end of the text. Brackets,
// braces and parentheses nest; strings are skipped whole.
func splitArgs(text string) (args []string, rest string, closed bool, err error) {
	depth, start := 0, 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '"':
			end, err := skipString(text, i)
			if err != nil {
				return nil, "", false, err
			}
			i = end - 1
		case '(', '[', '{':
			depth++
		case ']', '}':
			depth--
		case ')':
			if depth == 0 {
				if arg := strings.TrimSpace(text[start:i]); arg != "" || len(args) > 0 {
					args = append(args, arg)
				}
				return args, text[i+1:], true, nil
			}
			depth--
		case ',':
			if depth == 0 {
				args = append(args, strings.TrimSpace(text[start:i]))
				start = i + 1
			}
		}
	}
	if arg := strings.TrimSpace(text[start:]); arg != "" {
		args = append(args, arg)
	}
	return args, "", false, nil
}

// skipString returns the index just past the string that starts at
// text[open], a '"'.
func skipString(text string, open int) (int, error) {
	for i := open + 1; i < len(text); i++ {
		switch text[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// decodeString returns the bytes of a string argument printed with -xx:
// every byte as \xNN. A string strace cut short (it ends in "...") is an
// error: its bytes are not all known.
func decodeString(arg string) ([]byte, error) {
	if !strings.HasPrefix(arg, `"`) {
		return nil, fmt.Errorf("%.40q is not a string", arg)
	}
	end, err := skipString(arg, 0)
	if err != nil {
		return nil, err
	}
	if arg[end:] != "" {
		return nil, fmt.Errorf("string cut short by strace (raise -s): %.40s…", arg)
	}
	hex := arg[1 : end-1]
	out := make([]byte, 0, len(hex)/4)
	for len(hex) > 0 {
		if len(hex) < 4 || hex[0] != '\\' || hex[1] != 'x' {
			return nil, fmt.Errorf("string not printed with -xx: %.40s", arg)
		}
		b, err := strconv.ParseUint(hex[2:4], 16, 8)
		if err != nil {
			return nil, fmt.Errorf("string not printed with -xx: %.40s", arg)
		}
		out = append(out, byte(b))
		hex = hex[4:]
	}
	return out, nil
}

// decodeIovecs returns the bytes of an iovec array as strace prints it:
// [{iov_base="…", iov_len=N}, …].
func decodeIovecs(arg string) ([]byte, error) {
	inner, ok := strings.CutPrefix(arg, "[")
	if inner, ok = strings.CutSuffix(inner, "]"); !ok {
		return nil, fmt.Errorf("%.40q is not an iovec array", arg)
	}
	vecs, _, _, err := splitArgs(inner)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, v := range vecs {
		fields, _, _, err := splitArgs(strings.TrimSuffix(strings.TrimPrefix(v, "{"), "}"))
		if err != nil {
			return nil, err
		}
		base, ok := strings.CutPrefix(fields[0], "iov_base=")
		if !ok {
			return nil, fmt.Errorf("iovec array cut short by strace, or malformed: %.40s", v)
		}
		b, err := decodeString(base)
		if err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, nil
}

// fdArg parses a descriptor argument.
func fdArg(arg string) (int, error) {
	fd, err := strconv.Atoi(arg)
	if err != nil {
		return 0, fmt.Errorf("descriptor %q: %w", arg, err)
	}
	return fd, nil
}

// hasFlag reports whether a flags argument such as O_WRONLY|O_CREAT|O_CLOEXEC
// includes flag.
func hasFlag(arg, flag string) bool {
	for _, f := range strings.Split(arg, "|") {
		if f == flag {
			return true
		}
	}
	return false
}
