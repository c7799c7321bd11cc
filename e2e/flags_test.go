package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// runToExit runs etcd with args in dir and expects it to exit by itself.
func runToExit(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	bin, err := testnode.Binary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("start etcd %v: %v", args, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(exitTimeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("etcd %s did not exit within %v; stderr:\n%s", strings.Join(args, " "), exitTimeout, errOut.String())
	}
	return out.String(), errOut.String(), cmd.ProcessState.ExitCode()
}

func TestFlagsAndDataDir(t *testing.T) {
	t.Parallel()

	var version string
	t.Run("version", func(t *testing.T) {
		stdout, stderr, code := runToExit(t, t.TempDir(), "-version")
		if code != 0 {
			t.Fatalf("etcd -version exited %d, want 0; stderr: %s", code, stderr)
		}
		version = regexp.MustCompile(`v\d+\.\d+\.\d+\S*`).FindString(stdout)
		if version == "" {
			t.Fatalf("etcd -version printed %q, want a version like v0.1.2", stdout)
		}
	})

	t.Run("bad flags", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		ok := func() string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }
		for _, c := range []struct {
			args []string
			want []string // every one must be in the message
		}{
			{[]string{"-c", "notaport", "-s", ok()}, []string{"-c"}},
			{[]string{"-c", ok(), "-s", "notaport"}, []string{"-s"}},
			{[]string{"-c", "127.0.0.1:99999", "-s", ok()}, []string{"-c"}},
			{[]string{"-c", "http://127.0.0.1:4001", "-s", ok()}, []string{"-c"}},
			{[]string{"-c", ok(), "-s", ok(), "-m", "-1"}, []string{"-m"}},
			{[]string{"-c", ok(), "-s", ok(), "-maxbody", "0"}, []string{"-maxbody"}},
			{[]string{"-c", ok(), "-s", ok(), "-maxbody", "40000000"}, []string{"-maxbody", "33554432"}},
			{[]string{"-c", ok(), "-s", ok(), "-cors", "http://x.com,bad"}, []string{"-cors", `"bad"`}},
		} {
			args := append([]string{"-n", "badflags", "-d", filepath.Join(dir, "data")}, c.args...)
			_, stderr, code := runToExit(t, dir, args...)
			if code != 1 {
				t.Errorf("etcd %s: exit code %d, want 1; stderr: %s", strings.Join(args, " "), code, stderr)
				continue
			}
			msg := strings.TrimSpace(stderr)
			if strings.Contains(msg, "\n") {
				t.Errorf("etcd %s: want a one-line message, got:\n%s", strings.Join(args, " "), stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("etcd %s: message %q does not say %q", strings.Join(args, " "), msg, w)
				}
			}
		}

		// A join through a member that cannot be reached (nothing listens on
		// port 1) is tried -r times, then given up: exit 1, and a final line
		// naming -C after the log lines of the attempts.
		args := []string{"-n", "badflags", "-d", filepath.Join(dir, "join"), "-c", ok(), "-s", ok(), "-C", "127.0.0.1:1", "-r", "1"}
		_, stderr, code := runToExit(t, dir, args...)
		if code != 1 {
			t.Errorf("etcd %s: exit code %d, want 1; stderr: %s", strings.Join(args, " "), code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "etcd: ") || !strings.Contains(last, "-C") || !strings.Contains(last, "127.0.0.1:1") {
			t.Errorf("etcd %s: last line of stderr %q does not name -C and the member; stderr:\n%s", strings.Join(args, " "), last, stderr)
		}
	})

	t.Run("data dir", func(t *testing.T) {
		t.Parallel()
		base := t.TempDir()
		// A data directory several levels below nothing yet.
		dataDir := filepath.Join(base, "not", "yet", "there")
		n := newNode(t, "flagnode", freePort(t), freePort(t), dataDir, base)
		n.start()
		n.mustBeReady()
		if _, err := os.Stat(filepath.Join(dataDir, "info")); err != nil {
			t.Fatalf("the data directory was not created with its info file: %v", err)
		}
		if version != "" {
			if got := n.text("/version"); got != "etcd "+version {
				t.Fatalf("GET /version = %q but etcd -version printed %q", got, version)
			}
		}

		// A graceful stop and a restart keep the data.
		set := n.set("/persist", "kept")
		n.set("/gone", "soon")
		expectEvent(t, n.do(http.MethodDelete, "/v1/keys/gone", nil))
		n.stop()
		n.restart()
		if e := n.get("/persist"); e.Value != "kept" {
			t.Fatalf("/persist = %q after a restart, want kept", e.Value)
		}
		expectError(t, n.do(http.MethodGet, "/v1/keys/gone", nil), http.StatusNotFound, 100)
		if e := n.set("/persist", "again"); e.Index <= set.Index || e.PrevValue != "kept" {
			t.Fatalf("set after the restart: %+v; want prevValue kept and an index above %d", e, set.Index)
		}

		// A second node cannot take the first one's ports.
		for _, c := range []struct {
			flag       string
			clientPort int
			raftPort   int
		}{
			{"-c", n.clientPort, freePort(t)},
			{"-s", freePort(t), n.raftPort},
		} {
			args := []string{"-n", "intruder", "-d", filepath.Join(base, "intruder"+c.flag),
				"-c", fmt.Sprintf("127.0.0.1:%d", c.clientPort), "-s", fmt.Sprintf("127.0.0.1:%d", c.raftPort)}
			_, stderr, code := runToExit(t, base, args...)
			if code != 1 {
				t.Fatalf("etcd %s on a port in use: exit code %d, want 1; stderr: %s", strings.Join(args, " "), code, stderr)
			}
			if !strings.Contains(stderr, c.flag) {
				t.Fatalf("etcd %s on a port in use: message %q does not name %s", strings.Join(args, " "), stderr, c.flag)
			}
		}
		if e := n.get("/persist"); e.Value != "again" {
			t.Fatalf("/persist = %q after the intruders, want again", e.Value)
		}
		if got := n.text("/leader"); got != n.raftURL("") {
			t.Fatalf("GET /leader = %q, want %q", got, n.raftURL(""))
		}

		// On a restart the stored identity wins over flags that differ.
		otherClient, otherRaft := freePort(t), freePort(t)
		n.stop()
		n.restart("-c", fmt.Sprintf("127.0.0.1:%d", otherClient), "-s", fmt.Sprintf("127.0.0.1:%d", otherRaft), "-n", "renamed")
		if got := n.text("/machines"); got != n.url("") {
			t.Fatalf("GET /machines = %q after a restart with other flags, want the stored %q", got, n.url(""))
		}
		if got := n.text("/leader"); got != n.raftURL("") {
			t.Fatalf("GET /leader = %q after a restart with other flags, want the stored %q", got, n.raftURL(""))
		}
		if st := expectJSONObject(t, n.do(http.MethodGet, "/v1/stats/self", nil)); st["name"] != "flagnode" {
			t.Fatalf("/v1/stats/self name = %v after a restart with -n renamed, want the stored flagnode", st["name"])
		}
		if e := n.get("/persist"); e.Value != "again" {
			t.Fatalf("/persist = %q after a restart with other flags, want again", e.Value)
		}

		// -f forgets everything.
		n.stop()
		n.restart("-f")
		expectError(t, n.do(http.MethodGet, "/v1/keys/persist", nil), http.StatusNotFound, 100)
		members := expectList(t, n.do(http.MethodGet, "/v1/keys/_etcd/machines", nil))
		if len(members) != 1 || members[0].Key != "/_etcd/machines/flagnode" {
			t.Fatalf("members after -f: %+v, want this node alone", members)
		}
		if e := n.set("/fresh", "start"); !e.NewKey {
			t.Fatalf("set after -f: %+v", e)
		}
		// And what is written after -f is kept as usual.
		n.crash()
		n.restart()
		if e := n.get("/fresh"); e.Value != "start" {
			t.Fatalf("/fresh = %q after a restart, want start", e.Value)
		}
		expectError(t, n.do(http.MethodGet, "/v1/keys/persist", nil), http.StatusNotFound, 100)
	})

	// SPEC 6: the stored identity of a node is that of a node with a log. A
	// first start that fails (here: its raft port is taken) has no log, so a
	// corrected command line must be obeyed, not the failed one's.
	t.Run("failed first start leaves no identity", func(t *testing.T) {
		t.Parallel()
		base := t.TempDir()
		busy := startNode(t, "busy")
		dataDir := filepath.Join(base, "retry.etcd")
		args := []string{"-n", "retry", "-d", dataDir, "-c", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-s", fmt.Sprintf("127.0.0.1:%d", busy.raftPort)}
		if _, stderr, code := runToExit(t, base, args...); code != 1 || !strings.Contains(stderr, "-s") {
			t.Fatalf("etcd %s on a taken raft port: exit %d, stderr %q; want 1 naming -s", strings.Join(args, " "), code, stderr)
		}
		n := newNode(t, "retry", freePort(t), freePort(t), dataDir, base)
		n.start()
		if err := n.waitReady(readyTimeout); err != nil {
			n.fatalf("after a failed first start, etcd %s (new ports, same -d) did not serve: %v", strings.Join(n.args, " "), err)
		}
		if got := n.text("/leader"); got != n.raftURL("") {
			t.Fatalf("GET /leader = %q, want the new raft URL %q", got, n.raftURL(""))
		}
	})

	// The peer port trusts every caller unless -serverCAFile is set: a node
	// whose peer port listens beyond loopback without it says so, once, at
	// start-up; one on loopback says nothing.
	t.Run("peer port beyond loopback", func(t *testing.T) {
		t.Parallel()
		const warning = "without -serverCAFile"
		open := startNode(t, "openpeer", "-sl", "0.0.0.0")
		loopback := startNode(t, "loopbackpeer")
		for _, n := range []*node{open, loopback} {
			testnode.WaitFor(t, readyTimeout, n.name+" to log that it serves", func() (bool, string) {
				return strings.Contains(n.log.String(), "serves clients on"), n.log.String()
			})
		}
		if got := strings.Count(open.log.String(), warning); got != 1 {
			t.Fatalf("a peer port on 0.0.0.0 without a CA: %d lines say %q, want 1; log:\n%s", got, warning, open.log.String())
		}
		if strings.Contains(loopback.log.String(), warning) {
			t.Fatalf("a peer port on loopback was warned about; log:\n%s", loopback.log.String())
		}
	})

	t.Run("default data dir", func(t *testing.T) {
		t.Parallel()
		work := t.TempDir()
		n := newNode(t, "nodir", freePort(t), freePort(t), "", work)
		n.args = n.args[:len(n.args)-2] // drop -d
		n.start()
		n.mustBeReady()
		if _, err := os.Stat(filepath.Join(work, "nodir.etcd", "info")); err != nil {
			t.Fatalf("without -d the data should be in NAME.etcd in the working directory: %v", err)
		}
	})
}
