// Package v2client drives the node, alone and as a three-member cluster,
// with the etcd v2 Go client (go.etcd.io/etcd/client/v2) and with curl, as
// the tools that still speak v2 do. It is a module of its own so that the
// product's go.mod never depends on etcd's client.
//
// The tests run this checkout's etcd, which TestMain builds. With
// V2CLIENT_ETCD35 naming etcd v3.5's binary (`make bench-tools` builds
// bin/etcd35) they run that instead, with --enable-v2: that is how their
// expectations were checked against the reference.
package v2client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
	"go.etcd.io/etcd/client/v2"
)

// Timeouts. Everything waits with a deadline; none of these is a sleep.
const (
	readyTimeout   = 20 * time.Second // a member starting
	exitTimeout    = 10 * time.Second // a member stopping
	requestTimeout = 10 * time.Second // one client call
	// electionTimeout bounds how long a cluster may go without a leader
	// after its leader is killed (etcd 3.5's election takes a second).
	electionTimeout = 10 * time.Second
	pollInterval    = testnode.PollInterval
)

var (
	etcd35Binary = os.Getenv("V2CLIENT_ETCD35") // empty: this checkout's etcd
	etcdBinary   string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if etcd35Binary != "" {
		abs, err := filepath.Abs(etcd35Binary)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		etcd35Binary = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "v2client-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer os.RemoveAll(dir)
	// The product's module is the repository root, two levels up: its
	// replace directives hold only when it is built from there.
	etcdBinary = filepath.Join(dir, "etcd")
	build := exec.Command("go", "build", "-o", etcdBinary, ".")
	build.Dir = filepath.Join("..", "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building etcd: %v\n", err)
		return 2
	}
	return m.Run()
}

// reference reports whether the tests run against etcd v3.5.
func reference() bool { return etcd35Binary != "" }

// ---------------------------------------------------------------------------
// Members

// member is one server process of a test's cluster.
type member struct {
	t          *testing.T
	name       string
	clientPort int
	peerPort   int
	dataDir    string
	proc       *testnode.Process
}

func (m *member) clientURL() string { return fmt.Sprintf("http://127.0.0.1:%d", m.clientPort) }
func (m *member) peerURL() string   { return fmt.Sprintf("http://127.0.0.1:%d", m.peerPort) }

func newMember(t *testing.T, base, name string) *member {
	t.Helper()
	ports := [2]int{}
	for i := range ports {
		p, err := testnode.FreePort()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		ports[i] = p
	}
	return &member{t: t, name: name, clientPort: ports[0], peerPort: ports[1], dataDir: filepath.Join(base, name+".etcd")}
}

// start runs the member's server with args, and kills it when the test
// ends, showing the end of its output if the test failed.
func (m *member) start(args []string) {
	m.t.Helper()
	bin := etcdBinary
	if reference() {
		bin = etcd35Binary
	}
	p, err := testnode.Start(testnode.Options{Binary: bin, Args: args, Dir: filepath.Dir(m.dataDir)})
	if err != nil {
		m.t.Fatalf("member %s: start: %v", m.name, err)
	}
	m.proc = p
	m.t.Cleanup(func() {
		if err := p.Kill(exitTimeout); err != nil {
			m.t.Errorf("member %s: %v", m.name, err)
		}
		if m.t.Failed() {
			m.t.Logf("--- end of the output of member %s (%s) ---\n%s\n--- end of member %s ---", m.name, strings.Join(args, " "), p.Output(), m.name)
		}
	})
}

// waitReady polls the member's /version until it answers 200.
func (m *member) waitReady() error {
	return m.proc.WaitReady(testnode.NewClient(testnode.NewTransport(), 500*time.Millisecond), m.clientURL(), readyTimeout)
}

// kill ends the member with SIGKILL: no shutdown code runs.
func (m *member) kill() {
	m.t.Helper()
	if err := m.proc.Kill(exitTimeout); err != nil {
		m.t.Fatalf("member %s: %v", m.name, err)
	}
}

// ourArgs is this project's command line for m, joining through the peer
// address join if it is not empty.
func ourArgs(m *member, join string) []string {
	args := []string{"-n", m.name, "-c", fmt.Sprintf("127.0.0.1:%d", m.clientPort), "-s", fmt.Sprintf("127.0.0.1:%d", m.peerPort), "-d", m.dataDir}
	if join != "" {
		args = append(args, "-C", join)
	}
	return args
}

// referenceArgs is etcd 3.5's command line for m in a new cluster of all.
func referenceArgs(m *member, all []*member) []string {
	var initial []string
	for _, o := range all {
		initial = append(initial, o.name+"="+o.peerURL())
	}
	return []string{
		"--name", m.name, "--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL(), "--advertise-client-urls", m.clientURL(),
		"--listen-peer-urls", m.peerURL(), "--initial-advertise-peer-urls", m.peerURL(),
		"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
		"--enable-v2", "--log-level", "warn",
	}
}

// startCluster starts a cluster of size members named node1… and returns
// them once every one serves and all agree on a leader. This project's
// node1 founds the cluster and the others join it with -C; etcd 3.5's
// members all start at once from --initial-cluster.
func startCluster(t *testing.T, size int) []*member {
	t.Helper()
	base := t.TempDir()
	var all []*member
	for i := 1; i <= size; i++ {
		all = append(all, newMember(t, base, fmt.Sprintf("node%d", i)))
	}
	if reference() {
		for _, m := range all {
			m.start(referenceArgs(m, all))
		}
		for _, m := range all {
			if err := m.waitReady(); err != nil {
				t.Fatalf("member %s did not become ready: %v", m.name, err)
			}
		}
	} else {
		for i, m := range all {
			join := ""
			if i > 0 {
				join = fmt.Sprintf("127.0.0.1:%d", all[0].peerPort)
			}
			startOurs(t, base, m, join)
		}
	}
	waitLeader(t, all)
	return all
}

// startOurs starts this project's member m and waits until it serves
// (which a joining member does once it has caught up). Another program may
// take a port between its choice and the bind: then it tries other ports.
func startOurs(t *testing.T, base string, m *member, join string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		m.start(ourArgs(m, join))
		err := m.waitReady()
		if err == nil {
			return
		}
		if attempt < 3 && errors.Is(err, testnode.ErrPortTaken) {
			os.RemoveAll(m.dataDir)
			*m = *newMember(t, base, m.name)
			continue
		}
		t.Fatalf("member %s did not become ready: %v", m.name, err)
	}
}

// startNode starts a single-member cluster.
func startNode(t *testing.T) *member {
	t.Helper()
	return startCluster(t, 1)[0]
}

// waitLeader polls every running member until all name the same running
// member as their leader, and returns it. It asks this project's /v1/leader
// (the leader's peer URL) and etcd 3.5's /v2/members/leader, so that the
// harness does not depend on what the tests check.
func waitLeader(t *testing.T, members []*member) *member {
	t.Helper()
	hc := testnode.NewClient(testnode.NewTransport(), time.Second)
	var leader *member
	testnode.WaitFor(t, electionTimeout, "the running members to agree on a leader", func() (bool, string) {
		leader = nil
		var states []string
		agreed := ""
		for _, m := range members {
			if !m.proc.Running() {
				continue
			}
			peer, err := leaderPeerURL(hc, m)
			states = append(states, fmt.Sprintf("%s: %q %v", m.name, peer, err))
			if err != nil || (agreed != "" && peer != agreed) {
				return false, strings.Join(states, "; ")
			}
			agreed = peer
		}
		for _, m := range members {
			if m.peerURL() == agreed && m.proc.Running() {
				leader = m
			}
		}
		return leader != nil, strings.Join(states, "; ")
	})
	return leader
}

func leaderPeerURL(hc *http.Client, m *member) (string, error) {
	path := "/v1/leader"
	if reference() {
		path = "/v2/members/leader"
	}
	r, err := hc.Get(m.clientURL() + path)
	if err != nil {
		return "", err
	}
	defer r.Body.Close()
	if r.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", path, r.Status)
	}
	if !reference() {
		b, err := io.ReadAll(r.Body)
		return string(b), err
	}
	var leader client.Member
	if err := json.NewDecoder(r.Body).Decode(&leader); err != nil || len(leader.PeerURLs) != 1 {
		return "", fmt.Errorf("%s: %v %v", path, leader, err)
	}
	return leader.PeerURLs[0], nil
}

// followers returns the running members other than leader.
func followers(members []*member, leader *member) []*member {
	var out []*member
	for _, m := range members {
		if m != leader && m.proc.Running() {
			out = append(out, m)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// Clients

// recordingTransport remembers which member each watch went to, so that a
// test can kill the member its watcher waits on.
type recordingTransport struct {
	*http.Transport
	mu        sync.Mutex
	watchHost string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Query().Get("wait") == "true" {
		r.mu.Lock()
		r.watchHost = req.URL.Host
		r.mu.Unlock()
	}
	return r.Transport.RoundTrip(req)
}

func (r *recordingTransport) lastWatchHost() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watchHost
}

// newClient is a v2 client of the members at endpoints, configured by
// tune if it is not nil, on a transport of its own.
func newClient(t *testing.T, endpoints []string, tune func(*client.Config)) (client.Client, *recordingTransport) {
	t.Helper()
	tr := &recordingTransport{Transport: testnode.NewTransport()}
	t.Cleanup(tr.CloseIdleConnections)
	cfg := client.Config{Endpoints: endpoints, Transport: tr}
	if tune != nil {
		tune(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatalf("client.New(%v): %v", endpoints, err)
	}
	return c, tr
}

// keysOf is the keys API of a client of the members at endpoints.
func keysOf(t *testing.T, endpoints ...string) client.KeysAPI {
	t.Helper()
	c, _ := newClient(t, endpoints, nil)
	return client.NewKeysAPI(c)
}

// refuseRedirects makes a client fail on a redirect instead of following
// it, so that a write taken by a follower cannot pass for one it
// redirected.
func refuseRedirects(cfg *client.Config) {
	cfg.CheckRedirect = func(int) error { return errors.New("the member answered with a redirect") }
}

// ctxT is a context for one client call, cancelled when the test ends.
func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ---------------------------------------------------------------------------
// Checks

// v2Messages are the messages the v2 API answers with each error code.
var v2Messages = map[int]string{
	client.ErrorCodeKeyNotFound: "Key not found",
	client.ErrorCodeTestFailed:  "Compare failed",
	client.ErrorCodeNotFile:     "Not a file",
	client.ErrorCodeNotDir:      "Not a directory",
	client.ErrorCodeNodeExist:   "Key already exists",
	client.ErrorCodeRootROnly:   "Root is read only",
	client.ErrorCodeDirNotEmpty: "Directory not empty",
	211:                         "Value provided on refresh",
	212:                         "A TTL must be provided on refresh",
}

// wantError expects err to be the v2 error code with cause (any cause if
// cause is "") and the code's message.
func wantError(t *testing.T, what string, err error, code int, cause string) client.Error {
	t.Helper()
	var e client.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: got %v (%T), want v2 error %d", what, err, err, code)
	}
	if e.Code != code || (cause != "" && e.Cause != cause) {
		t.Fatalf("%s: got error %d cause %q (%v), want %d cause %q", what, e.Code, e.Cause, e, code, cause)
	}
	if msg, ok := v2Messages[code]; ok && e.Message != msg {
		t.Fatalf("%s: error %d has message %q, want %q", what, code, e.Message, msg)
	}
	return e
}

// must takes a client call's results, fails the test if the call failed,
// and returns its answer: must(t, "Get")(kapi.Get(…)).
func must(t *testing.T, what string) func(*client.Response, error) *client.Response {
	return func(r *client.Response, err error) *client.Response {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r == nil {
			t.Fatalf("%s: no answer", what)
		}
		return r
	}
}

// wantNode checks an answer's action and its node's key and value.
func wantNode(t *testing.T, what string, r *client.Response, action, key, value string) {
	t.Helper()
	if r.Action != action || r.Node == nil || r.Node.Key != key || r.Node.Value != value {
		t.Fatalf("%s: got action %q node %v, want %q %s=%q", what, r.Action, r.Node, action, key, value)
	}
	if r.Node.ModifiedIndex == 0 || r.Node.CreatedIndex == 0 || r.Node.CreatedIndex > r.Node.ModifiedIndex {
		t.Fatalf("%s: node %v has indexes created %d, modified %d", what, r.Node, r.Node.CreatedIndex, r.Node.ModifiedIndex)
	}
}

// keysOfNodes lists the keys of nodes in their order.
func keysOfNodes(nodes client.Nodes) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Key)
	}
	return out
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
