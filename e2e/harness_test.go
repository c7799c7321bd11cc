// Package e2e runs the etcd binary as a separate process and talks to it over
// HTTP on 127.0.0.1, as clients of 2013 did. Every test starts its own nodes,
// on ports and data directories of its own, so tests run in parallel.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

func TestMain(m *testing.M) { testnode.Main(m) }

// Timeouts. Everything waits with a deadline; none of these is a sleep.
const (
	readyTimeout   = 20 * time.Second // a node starting, or restarting over its log
	exitTimeout    = 10 * time.Second // a node stopping, or a bad command line exiting
	requestTimeout = 10 * time.Second // one ordinary request
	// electionTimeout bounds how long a cluster may go without an agreed
	// leader after a member is killed; the election timeout is well under a
	// second.
	electionTimeout = 5 * time.Second
	pollInterval    = testnode.PollInterval
)

// ---------------------------------------------------------------------------
// Ports

// freePort returns a port that was free a moment ago and that no other test
// of this process was given.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := testnode.FreePort()
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	return port
}

// ---------------------------------------------------------------------------
// Logs

// syncBuffer collects a process's output; it is written by exec's copying
// goroutine and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// ---------------------------------------------------------------------------
// Nodes

// node is one etcd process, and the command line it is (re)started with.
type node struct {
	t          *testing.T
	name       string
	clientPort int
	raftPort   int
	dataDir    string
	workDir    string
	args       []string
	wrapper    []string // if set, the command (strace) the binary runs under: the process is the wrapper's
	log        *syncBuffer
	client     *http.Client
	transport  *http.Transport

	mu   sync.Mutex
	proc *testnode.Process // the current or last run
	runs int
}

// startNode starts a fresh single-node cluster named name with the given
// extra flags and waits until it serves clients.
func startNode(t *testing.T, name string, flags ...string) *node {
	t.Helper()
	return launchNode(t, t.TempDir(), name, flags...)
}

// launchNode starts a node with a new data directory base/NAME.etcd, on
// ports of its own, and waits until it serves clients.
func launchNode(t *testing.T, base, name string, flags ...string) *node {
	t.Helper()
	return launchNodeWith(t, base, name, nil, flags...)
}

// launchNodeWith is launchNode with setup run on each attempt's node
// before it starts (to wrap the binary, for one).
func launchNodeWith(t *testing.T, base, name string, setup func(*node), flags ...string) *node {
	t.Helper()
	// The data directory does not exist yet: the node creates it.
	dataDir := filepath.Join(base, name+".etcd")
	for attempt := 1; ; attempt++ {
		n := newNode(t, name, freePort(t), freePort(t), dataDir, base, flags...)
		if setup != nil {
			setup(n)
		}
		n.start()
		err := n.waitReady(readyTimeout)
		if err == nil {
			return n
		}
		// Another program may have taken a port between freePort and the
		// node's bind: try other ports, a few times.
		if attempt < 3 && errors.Is(err, testnode.ErrPortTaken) {
			t.Logf("node %s: ports %d/%d were taken meanwhile; retrying with others", name, n.clientPort, n.raftPort)
			os.RemoveAll(dataDir)
			continue
		}
		n.fatalf("node %s (%s) did not become ready: %v", name, strings.Join(n.wrapper, " "), err)
	}
}

// newNode prepares a node without starting it.
func newNode(t *testing.T, name string, clientPort, raftPort int, dataDir, workDir string, flags ...string) *node {
	tr := testnode.NewTransport()
	n := &node{
		t:          t,
		name:       name,
		clientPort: clientPort,
		raftPort:   raftPort,
		dataDir:    dataDir,
		workDir:    workDir,
		log:        &syncBuffer{},
		transport:  tr,
		client:     testnode.NewClient(tr, 0),
	}
	n.args = append([]string{
		"-n", name,
		"-c", fmt.Sprintf("127.0.0.1:%d", clientPort),
		"-s", fmt.Sprintf("127.0.0.1:%d", raftPort),
		"-d", dataDir,
	}, flags...)
	t.Cleanup(func() {
		if p := n.process(); p != nil {
			if err := p.Kill(exitTimeout); err != nil {
				t.Errorf("node %s: %v", n.name, err)
			}
		}
		tr.CloseIdleConnections()
		if t.Failed() {
			t.Logf("--- log of node %s (%s) ---\n%s--- end of log of node %s ---", n.name, strings.Join(n.args, " "), n.log.String(), n.name)
		}
	})
	return n
}

// start runs the node's command line (again) without waiting for it.
func (n *node) start(extra ...string) {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.proc != nil && n.proc.Running() {
		n.t.Fatalf("node %s: start while it is still running", n.name)
	}
	n.runs++
	args := append(append([]string{}, n.args...), extra...)
	fmt.Fprintf(n.log, "=== run %d: etcd %s\n", n.runs, strings.Join(args, " "))
	p, err := testnode.Start(testnode.Options{Args: args, Wrapper: n.wrapper, Dir: n.workDir, Log: n.log})
	if err != nil {
		n.t.Fatalf("node %s: start: %v", n.name, err)
	}
	n.proc = p
}

// process is the current or last run, nil before the first.
func (n *node) process() *testnode.Process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

func (n *node) hasExited() bool {
	p := n.process()
	return p != nil && !p.Running()
}

// running reports whether the node was started and has not exited since.
func (n *node) running() bool {
	p := n.process()
	return p != nil && p.Running()
}

// waitExit waits for the node to exit by itself and returns its exit code.
func (n *node) waitExit(timeout time.Duration) int {
	n.t.Helper()
	p := n.process()
	if err := p.Wait(timeout); err != nil {
		n.fatalf("node %s did not exit by itself within %v", n.name, timeout)
	}
	return p.ExitCode()
}

// lastLogLine is the last line the current or last run wrote: the message
// of a node that gave up.
func (n *node) lastLogLine() string {
	out := strings.TrimSpace(n.log.String())
	return out[strings.LastIndex(out, "\n")+1:]
}

func (n *node) exitError() error {
	return n.process().Err()
}

// waitReady polls GET /version until it answers 200.
func (n *node) waitReady(timeout time.Duration) error {
	short := testnode.NewClient(n.transport, 500*time.Millisecond)
	return n.process().WaitReady(short, n.url(""), timeout)
}

// mustBeReady fails the test unless the node serves within readyTimeout.
func (n *node) mustBeReady() {
	n.t.Helper()
	if err := n.waitReady(readyTimeout); err != nil {
		n.fatalf("node %s did not become ready: %v", n.name, err)
	}
}

// restart runs the same command line again (plus extra flags) and waits
// until the node serves.
func (n *node) restart(extra ...string) {
	n.t.Helper()
	n.transport.CloseIdleConnections()
	n.start(extra...)
	n.mustBeReady()
}

// stop sends SIGTERM and expects a clean exit.
func (n *node) stop() {
	n.t.Helper()
	n.signalAndWait(syscall.SIGTERM)
	if err := n.exitError(); err != nil {
		n.fatalf("node %s: exit after SIGTERM: %v (want status 0)", n.name, err)
	}
}

// crash kills the node with SIGKILL: no shutdown code runs.
func (n *node) crash() {
	n.t.Helper()
	n.signalAndWait(syscall.SIGKILL)
}

func (n *node) signalAndWait(sig os.Signal) {
	n.t.Helper()
	p := n.process()
	if p == nil {
		n.t.Fatalf("node %s was never started", n.name)
	}
	if err := p.Signal(sig); err != nil {
		n.t.Fatalf("node %s: %v", n.name, err)
	}
	if p.Wait(exitTimeout) != nil {
		p.Kill(exitTimeout)
		n.fatalf("node %s did not exit within %v of %v", n.name, exitTimeout, sig)
	}
	n.transport.CloseIdleConnections()
}

// fatalf fails the test; the node's log is printed by its cleanup.
func (n *node) fatalf(format string, args ...any) {
	n.t.Helper()
	n.t.Fatalf(format, args...)
}

func (n *node) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.clientPort, path)
}

func (n *node) raftURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", n.raftPort, path)
}

// raftAddr is the node's raft address as -C takes it.
func (n *node) raftAddr() string {
	return fmt.Sprintf("127.0.0.1:%d", n.raftPort)
}

// ---------------------------------------------------------------------------
// Requests

// request sends method to the client port. POST and PUT send form as a
// url-encoded body (as curl -d and go-etcd do); other methods put it in the
// query string.
func (n *node) request(ctx context.Context, method, path string, form url.Values) (*testnode.Response, error) {
	u := n.url(path)
	var body io.Reader
	if len(form) > 0 {
		if method == http.MethodPost || method == http.MethodPut {
			body = strings.NewReader(form.Encode())
		} else {
			u += "?" + form.Encode()
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return n.send(req)
}

func (n *node) send(req *http.Request) (*testnode.Response, error) {
	return testnode.Send(n.client, req)
}

// do is request with the default timeout; it fails the test on a transport
// error.
func (n *node) do(method, path string, form url.Values) *testnode.Response {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	r, err := n.request(ctx, method, path, form)
	if err != nil {
		n.fatalf("%s %s: %v", method, path, err)
	}
	return r
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// set is POST /v1/keys/KEY value=VALUE (plus more form pairs); it expects
// success and returns the event.
func (n *node) set(key, value string, more ...string) testnode.Event {
	n.t.Helper()
	r := n.do(http.MethodPost, "/v1/keys"+key, form(append([]string{"value", value}, more...)...))
	return expectEvent(n.t, r)
}

// get is GET /v1/keys/KEY of a file.
func (n *node) get(key string) testnode.Event {
	n.t.Helper()
	return expectEvent(n.t, n.do(http.MethodGet, "/v1/keys"+key, nil))
}

// text is a GET of a plain-text route.
func (n *node) text(path string) string {
	n.t.Helper()
	r := n.do(http.MethodGet, path, nil)
	if r.Status != http.StatusOK {
		n.fatalf("%v: want 200", r)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		n.fatalf("%v: Content-Type %q, want text/plain", r, ct)
	}
	return string(r.Body)
}

// storeStats returns /v1/stats/store decoded.
func (n *node) storeStats() map[string]any {
	n.t.Helper()
	return expectJSONObject(n.t, n.do(http.MethodGet, "/v1/stats/store", nil))
}

// watchers is the number of registered watchers on the node, as reported by
// /v1/stats/store.
func (n *node) watchers() int {
	n.t.Helper()
	st := n.storeStats()
	v, ok := st["watchers"].(float64)
	if !ok {
		n.fatalf("/v1/stats/store has no numeric \"watchers\": %v", st)
	}
	return int(v)
}

// waitWatchers polls until the node reports want watchers.
func (n *node) waitWatchers(want int, timeout time.Duration) {
	n.t.Helper()
	var got int
	testnode.WaitFor(n.t, timeout, fmt.Sprintf("/v1/stats/store watchers == %d", want), func() (bool, string) {
		got = n.watchers()
		return got == want, fmt.Sprintf("watchers=%d", got)
	})
}

// watchResult is the outcome of a long poll run in the background.
type watchResult struct {
	resp *testnode.Response
	err  error
}

// watch starts a watch request in the background. form nil means GET, else
// POST with the form.
func (n *node) watch(ctx context.Context, key string, f url.Values) <-chan watchResult {
	ch := make(chan watchResult, 1)
	method := http.MethodGet
	if f != nil {
		method = http.MethodPost
	}
	go func() {
		r, err := n.request(ctx, method, "/v1/watch"+key, f)
		ch <- watchResult{r, err}
	}()
	return ch
}

// awaitWatch waits for a background watch's answer.
func awaitWatch(t *testing.T, ch <-chan watchResult, timeout time.Duration, what string) *testnode.Response {
	t.Helper()
	select {
	case res := <-ch:
		if res.err != nil {
			t.Fatalf("%s: %v", what, res.err)
		}
		return res.resp
	case <-time.After(timeout):
		t.Fatalf("%s: no answer within %v", what, timeout)
		return nil
	}
}

// ---------------------------------------------------------------------------
// Wire format

// expectEvent expects a 200 with one event object.
func expectEvent(t *testing.T, r *testnode.Response) testnode.Event {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%v: want 200", r)
	}
	var e testnode.Event
	if err := testnode.DecodeCanonical(r, &e); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	if e.Index == 0 {
		t.Fatalf("%v: index is 0", r)
	}
	if e.Expiration != "" {
		if _, err := time.Parse(time.RFC3339Nano, e.Expiration); err != nil {
			t.Fatalf("%v: expiration is not RFC 3339: %v", r, err)
		}
	}
	return e
}

// expectList expects a 200 with an array of events.
func expectList(t *testing.T, r *testnode.Response) []testnode.Event {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%v: want 200", r)
	}
	var list []testnode.Event
	if err := testnode.DecodeCanonical(r, &list); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	if list == nil {
		t.Fatalf("%v: want an array", r)
	}
	return list
}

// expectError expects the JSON error code with HTTP status, and the code's
// fixed message. It returns the error for more checks of the cause.
func expectError(t *testing.T, r *testnode.Response, status, code int) testnode.Error {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%v: HTTP status %d, want %d (error %d)", r, r.Status, status, code)
	}
	var e testnode.Error
	if err := testnode.DecodeCanonical(r, &e); err != nil {
		t.Fatalf("%v: %v", r, err)
	}
	if e.ErrorCode != code {
		t.Fatalf("%v: errorCode %d, want %d", r, e.ErrorCode, code)
	}
	if want, ok := testnode.ErrorCatalogue[code]; ok && e.Message != want.Message {
		t.Fatalf("%v: message %q, want %q", r, e.Message, want.Message)
	}
	return e
}

// expectJSONObject expects a 200 with a JSON object.
func expectJSONObject(t *testing.T, r *testnode.Response) map[string]any {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%v: want 200", r)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%v: Content-Type %q, want application/json", r, ct)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil || m == nil {
		t.Fatalf("%v: not a JSON object: %v", r, err)
	}
	return m
}

// sameEvent compares everything but the index (and, when want leaves them
// empty, expiration and ttl, which the caller checks by range).
func sameEvent(t *testing.T, what string, got, want testnode.Event) {
	t.Helper()
	g := got
	g.Index = want.Index
	if want.Expiration == "" && want.TTL == 0 {
		g.Expiration, g.TTL = "", 0
	}
	if !reflect.DeepEqual(g, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v (index not compared)", what, got, want)
	}
}

// checkTTL checks an event of a key set with ttl seconds at about setAt:
// its expiration lies ttl seconds after the request (with a little slack),
// and its ttl is the whole seconds left, ttl or ttl-1.
func checkTTL(t *testing.T, what string, e testnode.Event, ttl int, before, after time.Time) time.Time {
	t.Helper()
	exp, err := time.Parse(time.RFC3339Nano, e.Expiration)
	if err != nil {
		t.Fatalf("%s: expiration %q: %v", what, e.Expiration, err)
	}
	d := time.Duration(ttl) * time.Second
	if exp.Before(before.Add(d).Add(-time.Second)) || exp.After(after.Add(d).Add(time.Second)) {
		t.Fatalf("%s: expiration %v is not %v after the request (sent %v, answered %v)", what, exp, d, before, after)
	}
	if e.TTL != int64(ttl) && e.TTL != int64(ttl-1) {
		t.Fatalf("%s: ttl %d, want %d or %d", what, e.TTL, ttl, ttl-1)
	}
	return exp
}

// rawHTTP sends bytes over a fresh TCP connection and returns what comes
// back until the server closes it or the deadline passes.
func rawHTTP(t *testing.T, port int, request string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatalf("dial %d: %v", port, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("write to %d: %v", port, err)
	}
	b, _ := io.ReadAll(conn)
	return string(b)
}

// tree reads the whole key space below dir by listing it recursively:
// files map to their values, directories to "<dir>".
func (n *node) tree(dir string) map[string]string {
	n.t.Helper()
	out := map[string]string{}
	var walk func(d string)
	walk = func(d string) {
		for _, e := range expectList(n.t, n.do(http.MethodGet, "/v1/keys"+d+"/", nil)) {
			if e.Dir {
				out[e.Key] = "<dir>"
				walk(e.Key)
			} else {
				out[e.Key] = e.Value
			}
		}
	}
	walk(strings.TrimSuffix(dir, "/"))
	return out
}

// rawClose writes bytes on a fresh TCP connection and closes it at once,
// without waiting for an answer.
func rawClose(t *testing.T, port int, junk string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		t.Fatalf("dial %d: %v", port, err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, junk)
	conn.Close()
}

// ---------------------------------------------------------------------------
// Clusters

// cluster is a set of nodes that form one etcd cluster: the first founds it,
// the others join it. Every member gets the cluster's flags.
type cluster struct {
	t       *testing.T
	base    string   // holds the members' data directories
	flags   []string // given to every member
	members []*node
}

// newCluster prepares a cluster with no member yet.
func newCluster(t *testing.T, flags ...string) *cluster {
	return &cluster{t: t, base: t.TempDir(), flags: flags}
}

// startCluster starts member node1 alone, then node2… nodeN joining through
// node1 with -C, each waited for until it serves, and returns once every
// member agrees on a leader.
func startCluster(t *testing.T, size int, flags ...string) *cluster {
	t.Helper()
	c := newCluster(t, flags...)
	first := c.add("node1")
	for i := 2; i <= size; i++ {
		c.add(fmt.Sprintf("node%d", i), "-C", first.raftAddr())
	}
	c.waitLeader(readyTimeout)
	return c
}

// add starts a member with the cluster's flags and extra ones (-C or -CF
// to join) and waits until it serves clients, which a joining node does
// only once it has caught up.
func (c *cluster) add(name string, extra ...string) *node {
	c.t.Helper()
	n := launchNode(c.t, c.base, name, append(append([]string{}, c.flags...), extra...)...)
	c.members = append(c.members, n)
	return n
}

// addFailing starts a node that must not become a member: it is expected to
// exit by itself, and its exit code is returned. The node is not added to
// the cluster.
func (c *cluster) addFailing(name string, extra ...string) (*node, int) {
	c.t.Helper()
	n := newNode(c.t, name, freePort(c.t), freePort(c.t), filepath.Join(c.base, name+"-refused.etcd"), c.base,
		append(append([]string{}, c.flags...), extra...)...)
	n.start()
	return n, n.waitExit(exitTimeout)
}

// restartAll restarts every member with its command line. A restarted
// member serves only once there is a leader, so all are started before any
// is waited for.
func (c *cluster) restartAll() {
	c.t.Helper()
	for _, m := range c.members {
		m.transport.CloseIdleConnections()
		m.start()
	}
	for _, m := range c.members {
		m.mustBeReady()
	}
	c.waitLeader(electionTimeout)
}

// running returns the members whose process is up.
func (c *cluster) running() []*node {
	var up []*node
	for _, m := range c.members {
		if m.running() {
			up = append(up, m)
		}
	}
	return up
}

// others returns the running members other than n.
func (c *cluster) others(n *node) []*node {
	var out []*node
	for _, m := range c.running() {
		if m != n {
			out = append(out, m)
		}
	}
	return out
}

// byClientURL returns the member whose client URL starts u, or nil.
func (c *cluster) byClientURL(u string) *node {
	for _, m := range c.members {
		if base := m.url(""); u == base || strings.HasPrefix(u, base+"/") || strings.HasPrefix(u, base+"?") {
			return m
		}
	}
	return nil
}

// byRaftURL returns the member whose raft URL is u, or nil.
func (c *cluster) byRaftURL(u string) *node {
	for _, m := range c.members {
		if m.raftURL("") == u {
			return m
		}
	}
	return nil
}

// peek is a GET that never fails the test: status -1 and the error's text
// when there is no answer. For polling.
func (n *node) peek(path string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := n.request(ctx, http.MethodGet, path, nil)
	if err != nil {
		return -1, err.Error()
	}
	return r.Status, string(r.Body)
}

// peerText is a GET of a text route of the peer API.
func (n *node) peerText(path string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.raftURL(path), nil)
	if err != nil {
		n.fatalf("%v", err)
	}
	r, err := n.send(req)
	if err != nil || r.Status != http.StatusOK {
		n.fatalf("GET %s on the raft port: %v %v", path, r, err)
	}
	return string(r.Body)
}

// waitLeader polls /v1/leader on every running member until all of them
// name the same running member, and returns that member.
func (c *cluster) waitLeader(timeout time.Duration) *node {
	c.t.Helper()
	var leader *node
	testnode.WaitFor(c.t, timeout, "the running members to agree on a running leader", func() (bool, string) {
		leader = nil
		var states []string
		agreed, ok := "", true
		for _, m := range c.running() {
			status, body := m.peek("/v1/leader")
			states = append(states, fmt.Sprintf("%s: %d %s", m.name, status, body))
			if status != http.StatusOK || (agreed != "" && body != agreed) {
				ok = false
			}
			agreed = body
		}
		if ok {
			leader = c.byRaftURL(agreed)
			ok = leader != nil && leader.running()
		}
		return ok, strings.Join(states, "; ")
	})
	return leader
}

// waitMembership polls until every running member reports the same view of
// the whole cluster: /machines and /v1/machines list every member's client
// URL, leader first; /leader and /v1/leader give the leader's raft URL;
// /v1/keys/_etcd/machines has one entry per member with its URLs. It
// returns the leader.
func (c *cluster) waitMembership(timeout time.Duration) *node {
	c.t.Helper()
	leader := c.waitLeader(timeout)
	version := leader.peerText("/version")
	wantEntries := map[string]string{}
	for _, m := range c.members {
		wantEntries["/_etcd/machines/"+m.name] = "raft=" + m.raftURL("") + "&etcd=" + m.url("") + "&raftVersion=" + version
	}
	testnode.WaitFor(c.t, timeout, "every member to report the same members and leader", func() (bool, string) {
		// The leader may change meanwhile: whoever leads now must come first.
		status, leaderURL := leader.peek("/v1/leader")
		if status != http.StatusOK {
			return false, fmt.Sprintf("%s: /v1/leader %d %s", leader.name, status, leaderURL)
		}
		if now := c.byRaftURL(leaderURL); now != nil && now != leader {
			leader = now
		}
		want := []string{leader.url("")}
		for _, m := range c.members {
			if m != leader {
				want = append(want, m.url(""))
			}
		}
		for _, m := range c.running() {
			for _, path := range []string{"/machines", "/v1/machines"} {
				status, body := m.peek(path)
				got := strings.Split(body, ", ")
				if status != http.StatusOK || len(got) != len(want) || got[0] != want[0] || !sameSet(got, want) {
					return false, fmt.Sprintf("%s: GET %s = %d %q, want %q first, then the others", m.name, path, status, body, want[0])
				}
			}
			for _, path := range []string{"/leader", "/v1/leader"} {
				if status, body := m.peek(path); status != http.StatusOK || body != leader.raftURL("") {
					return false, fmt.Sprintf("%s: GET %s = %d %q, want %q", m.name, path, status, body, leader.raftURL(""))
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			r, err := m.request(ctx, http.MethodGet, "/v1/keys/_etcd/machines", nil)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("%s: GET /v1/keys/_etcd/machines: %v", m.name, err)
			}
			var list []testnode.Event
			if r.Status != http.StatusOK || testnode.DecodeCanonical(r, &list) != nil {
				return false, fmt.Sprintf("%s: %v", m.name, r)
			}
			got := map[string]string{}
			for _, e := range list {
				got[e.Key] = e.Value
			}
			if !reflect.DeepEqual(got, wantEntries) {
				return false, fmt.Sprintf("%s: /v1/keys/_etcd/machines = %v, want %v", m.name, got, wantEntries)
			}
		}
		return true, ""
	})
	return leader
}

func sameSet(a, b []string) bool {
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// follow sends a request to n and, as curl -L and go-etcd do, sends it
// again (form and all) wherever a 307 points, a few times at most. Every
// Location must be a member's client URL.
func (c *cluster) follow(ctx context.Context, n *node, method, path string, f url.Values) (*testnode.Response, error) {
	for range 4 {
		r, err := n.request(ctx, method, path, f)
		if err != nil || r.Status != http.StatusTemporaryRedirect {
			return r, err
		}
		loc := r.Header.Get("Location")
		next := c.byClientURL(loc)
		u, err := url.Parse(loc)
		if next == nil || err != nil {
			return nil, fmt.Errorf("%v: Location %q is no member's client URL", r, loc)
		}
		n, path = next, u.RequestURI()
	}
	return nil, fmt.Errorf("%s %s: too many redirects", method, path)
}

// write sends a write to the cluster as a client would, following
// redirects and trying the next member after an error, until it succeeds or
// timeout passes. It expects success and returns the event.
func (c *cluster) write(method, key string, f url.Values, timeout time.Duration) testnode.Event {
	c.t.Helper()
	var r *testnode.Response
	var last string
	deadline := time.Now().Add(timeout)
	for i := 0; ; i++ {
		up := c.running()
		if len(up) == 0 {
			c.t.Fatalf("%s %s: no member is running", method, key)
		}
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		var err error
		r, err = c.follow(ctx, up[i%len(up)], method, "/v1/keys"+key, f)
		cancel()
		if err == nil && r.Status != http.StatusInternalServerError {
			break
		}
		last = fmt.Sprint(r, err)
		if time.Now().After(deadline) {
			c.t.Fatalf("%s %s did not succeed within %v; last answer: %s", method, key, timeout, last)
		}
		time.Sleep(pollInterval)
	}
	return expectEvent(c.t, r)
}

// set is POST /v1/keys/KEY value=VALUE (plus more form pairs) through
// whichever member, following redirects and retrying for a while.
func (c *cluster) set(key, value string, more ...string) testnode.Event {
	c.t.Helper()
	return c.write(http.MethodPost, key, form(append([]string{"value", value}, more...)...), readyTimeout)
}

// writeKeys has workers concurrent clients write new keys prefix/kNNNNN to
// the cluster, as 2013 clients did: each follows redirects to the leader
// and, after an error or a 500, tries the next member. Every attempt writes
// a key of its own, so a write whose outcome is unknown is never sent again
// and every acknowledged write is the SET of a new key. Writing stops once
// total writes are acknowledged (total > 0) or when stop is closed; the
// acknowledged writes are returned sorted by key. progress, if not nil, is
// called with the number of acknowledgements so far after each one.
func (c *cluster) writeKeys(prefix string, workers, total int, stop <-chan struct{}, progress func(acked int)) []ack {
	c.t.Helper()
	log := &ackLog{progress: progress}
	var (
		attempts atomic.Int64
		wg       sync.WaitGroup
	)
	deadline := time.Now().Add(2 * time.Minute)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := w
			for {
				select {
				case <-stop:
					return
				default:
				}
				i := attempts.Add(1) - 1
				if total > 0 && log.count() >= total {
					return
				}
				if time.Now().After(deadline) {
					c.t.Errorf("writing %s: still not done after 2 minutes", prefix)
					return
				}
				up := c.running()
				if len(up) == 0 {
					time.Sleep(pollInterval)
					continue
				}
				key := fmt.Sprintf("%s/k%05d", prefix, i)
				value := fmt.Sprintf("value-%05d", i)
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				r, err := c.follow(ctx, up[target%len(up)], http.MethodPost, "/v1/keys"+key, form("value", value))
				cancel()
				if err != nil || r.Status == http.StatusInternalServerError {
					// The member is gone, or there is no leader (yet), or the
					// write timed out: its outcome is unknown. Try another member.
					target++
					continue
				}
				a, ok := ackOf(c.t, r, key, value)
				if !ok {
					return
				}
				log.add(a)
			}
		}()
	}
	wg.Wait()
	return log.sorted()
}

// waitApplied polls until every running member has applied the
// acknowledged write with the highest index, and so every write before it.
func (c *cluster) waitApplied(acks []ack, timeout time.Duration) {
	c.t.Helper()
	if len(acks) == 0 {
		return
	}
	last := acks[0]
	for _, a := range acks {
		if a.index > last.index {
			last = a
		}
	}
	for _, m := range c.running() {
		testnode.WaitFor(c.t, timeout, fmt.Sprintf("%s to have %s (index %d)", m.name, last.key, last.index), func() (bool, string) {
			status, body := m.peek("/v1/keys" + last.key)
			return status == http.StatusOK, fmt.Sprintf("%d %s", status, body)
		})
	}
}
