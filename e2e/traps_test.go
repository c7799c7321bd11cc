package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestStrayArgument: a word that belongs to no flag (a value after a
// space) is refused with a message naming it and the usage, as a bad flag
// is, instead of a silent exit.
func TestStrayArgument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, c := range []struct {
		args  []string
		stray string
	}{
		{[]string{"-n", "node", "2"}, `"2"`},
		{[]string{"-n", "node", "-C", "127.0.0.1:7001,", "127.0.0.1:7002"}, `"127.0.0.1:7002"`},
	} {
		_, stderr, code := runToExit(t, dir, c.args...)
		if code != 2 {
			t.Errorf("etcd %s: exit code %d, want 2; stderr: %s", strings.Join(c.args, " "), code, stderr)
		}
		if !strings.Contains(stderr, c.stray) || !strings.Contains(stderr, "Usage") || !strings.Contains(stderr, "-C") {
			t.Errorf("etcd %s: stderr %q does not name the stray argument %s and show the usage", strings.Join(c.args, " "), stderr, c.stray)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused command line left %v behind", entries)
	}
}

// TestIgnoredFlagsAreNamed: on a restart over an existing data directory,
// each flag that differs from the stored identity is named with the value
// used instead, and an error about an address from the data directory
// says where that address came from instead of blaming the ignored flag.
func TestIgnoredFlagsAreNamed(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	n := launchNode(t, base, "keeper")
	n.stop()

	// The stored client port is taken now.
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", n.clientPort))
	if err != nil {
		t.Fatalf("taking the node's stored client port: %v", err)
	}
	defer taken.Close()
	otherClient := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := append(append([]string{}, n.args...), "-c", otherClient, "-n", "renamed")
	_, stderr, code := runToExit(t, base, args...)
	if code != 1 {
		t.Fatalf("etcd %s: exit code %d, want 1; stderr:\n%s", strings.Join(args, " "), code, stderr)
	}
	stored := fmt.Sprintf("127.0.0.1:%d", n.clientPort)
	for _, want := range []string{
		fmt.Sprintf("-c %s ignored: this data directory's member uses %s", otherClient, stored),
		`-n renamed ignored: this data directory's member is "keeper"`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	info := filepath.Join(n.dataDir, "info")
	if !strings.Contains(last, stored) || !strings.Contains(last, info) || strings.HasPrefix(last, "etcd: -c") {
		t.Errorf("last line %q should name %s as the client address stored in %s, not blame -c", last, stored, info)
	}
}

// TestForceSaysWhatItRemoved: -f names what it removes from the data
// directory.
func TestForceSaysWhatItRemoved(t *testing.T) {
	t.Parallel()
	n := startNode(t, "forget")
	n.set("/k", "v")
	n.stop()
	entries, err := os.ReadDir(n.dataDir)
	if err != nil || len(entries) < 3 {
		t.Fatalf("the data directory holds %v (%v); want at least info, log and conf", entries, err)
	}
	n.restart("-f")
	out := n.log.String()
	out = out[strings.LastIndex(out, "=== run 2"):]
	for _, e := range entries {
		re := regexp.MustCompile(`-f: removed .*` + regexp.QuoteMeta(filepath.Join(n.dataDir, e.Name())) + `\b`)
		if !re.MatchString(out) {
			t.Errorf("the log of the restart with -f does not say that it removed %s:\n%s", e.Name(), out)
		}
	}
}
