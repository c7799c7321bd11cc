package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// readmeItem is a fenced block of README.md, or the prose between two.
type readmeItem struct {
	lang  string // "sh", "json", "" for an unlabelled block; "prose" for text
	text  string
	block bool
}

// readmeSection returns the items of the README section under the heading
// "## title", up to the next such heading.
func readmeSection(t *testing.T, title string) []readmeItem {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "\n## "+title+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", title)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	var items []readmeItem
	for {
		start := strings.Index(rest, "```")
		if start < 0 {
			return append(items, readmeItem{lang: "prose", text: rest})
		}
		if strings.TrimSpace(rest[:start]) != "" {
			items = append(items, readmeItem{lang: "prose", text: rest[:start]})
		}
		lang, body, _ := strings.Cut(rest[start+3:], "\n")
		end := strings.Index(body, "```")
		if end < 0 {
			t.Fatalf("README section %q: an unterminated block", title)
		}
		items = append(items, readmeItem{lang: lang, text: body[:end], block: true})
		rest = body[end+3:]
	}
}

// TestReadmeShellIsPOSIX: every block marked sh parses in a POSIX shell
// (dash), so that a reader whose sh is not bash can paste it.
func TestReadmeShellIsPOSIX(t *testing.T) {
	t.Parallel()
	dash, err := exec.LookPath("dash")
	if err != nil {
		t.Skip("dash is not installed")
	}
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no sh block")
	}
	for _, m := range blocks {
		cmd := exec.Command(dash, "-n")
		cmd.Stdin = strings.NewReader(m[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("a README sh block is no POSIX shell (%v: %s):\n%s", err, out, m[1])
		}
	}
}

// readmeRun pastes README commands, in order, as a reader would, against
// the real binary. Addresses of 127.0.0.1 keep their meaning but get ports
// of the test's own, the same README port always the same test port.
type readmeRun struct {
	t      *testing.T
	work   string // the working directory, as the repository's root is
	ports  map[string]int
	client *http.Client
	nodes  []*readmeNode
	// watches are waits started by a command and not answered yet.
	watches []chan string
}

type readmeNode struct {
	args      []string
	clientURL string
	raftURL   string
	proc      *testnode.Process
	log       *syncBuffer
}

var readmeAddr = regexp.MustCompile(`127\.0\.0\.1:(\d{4,5})`)

// local substitutes the test's ports in README text.
func (r *readmeRun) local(s string) string {
	return readmeAddr.ReplaceAllStringFunc(s, func(addr string) string {
		port := strings.TrimPrefix(addr, "127.0.0.1:")
		if r.ports[port] == 0 {
			r.ports[port] = freePort(r.t)
		}
		return fmt.Sprintf("127.0.0.1:%d", r.ports[port])
	})
}

// start runs etcd with args from the README and waits until it serves.
func (r *readmeRun) start(args []string) *readmeNode {
	r.t.Helper()
	n := &readmeNode{args: args, log: &syncBuffer{}, clientURL: "http://127.0.0.1:4001", raftURL: "http://127.0.0.1:7001"}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "-c":
			n.clientURL = "http://" + args[i+1]
		case "-s":
			n.raftURL = "http://" + args[i+1]
		}
	}
	r.nodes = append(r.nodes, n)
	r.run(n)
	return n
}

func (r *readmeRun) run(n *readmeNode) {
	r.t.Helper()
	started := time.Now()
	p, err := testnode.Start(testnode.Options{Args: n.args, Dir: r.work, Log: n.log})
	if err != nil {
		r.t.Fatal(err)
	}
	n.proc = p
	r.t.Cleanup(func() { p.Kill(exitTimeout) })
	short := testnode.NewClient(testnode.NewTransport(), 500*time.Millisecond)
	if err := p.WaitReady(short, n.clientURL, readyTimeout); err != nil {
		r.t.Fatalf("etcd %s (pasted from the README) did not serve: %v; its log:\n%s", strings.Join(n.args, " "), err, n.log.String())
	}
	// An older node on the same port answers as readily: the README's
	// commands must not meet one another's ports.
	var self struct {
		StartTime time.Time `json:"startTime"`
	}
	resp, err := short.Get(n.clientURL + "/v1/stats/self")
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&self)
		resp.Body.Close()
	}
	if err != nil || self.StartTime.Before(started.Add(-time.Second)) {
		r.t.Fatalf("etcd %s (pasted from the README): %s is served by a node started at %v (%v), not by this one, started at %v; its log:\n%s",
			strings.Join(n.args, " "), n.clientURL, self.StartTime, err, started, n.log.String())
	}
}

// node is the running node with the given client or raft URL.
func (r *readmeRun) node(u string) *readmeNode {
	for _, n := range r.nodes {
		if (n.clientURL == u || n.raftURL == u) && n.proc.Running() {
			return n
		}
	}
	return nil
}

// shellWords splits a command line as sh would, for the quoting the README
// uses; a # after a blank starts a comment, which is returned apart.
func shellWords(line string) (words []string, comment string) {
	var word strings.Builder
	inWord := false
	var quote rune
	for i, c := range line {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(c)
		case c == '"' || c == '\'':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, strings.TrimSpace(line[i+1:])
		default:
			word.WriteRune(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, ""
}

// curl is a README curl command: its request, and whether it follows
// redirects (-L).
type curl struct {
	method, url, data string
	follow            bool
}

func parseCurl(t *testing.T, words []string) curl {
	t.Helper()
	c := curl{method: http.MethodGet}
	var data []string
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-L":
			c.follow = true
		case w == "-d" && i+1 < len(words):
			i++
			data = append(data, words[i])
			if c.method == http.MethodGet {
				c.method = http.MethodPost
			}
		case w == "--data-urlencode" && i+1 < len(words):
			// As curl does with "name=content": the content is encoded.
			i++
			name, content, ok := strings.Cut(words[i], "=")
			if !ok {
				t.Fatalf("the README's curl %s: --data-urlencode %q has no name=", strings.Join(words[1:], " "), words[i])
			}
			data = append(data, name+"="+url.QueryEscape(content))
			if c.method == http.MethodGet {
				c.method = http.MethodPost
			}
		case w == "-X" && i+1 < len(words):
			i++
			c.method = words[i]
		case strings.HasPrefix(w, "http://"):
			c.url = w
		default:
			t.Fatalf("the README's curl %s uses %q, which this test does not know", strings.Join(words[1:], " "), w)
		}
	}
	c.data = strings.Join(data, "&")
	return c
}

func (r *readmeRun) do(ctx context.Context, c curl) (string, error) {
	var body io.Reader
	if c.data != "" {
		body = strings.NewReader(c.data)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, c.url, body)
	if err != nil {
		return "", err
	}
	if c.data != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	client := r.client
	if !c.follow {
		client = testnode.NewClient(r.client.Transport, 0)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Values the README says may differ from a reader's: indexes (v2's in
// node fields and in-order key names too) and times. v2's answers end
// with a newline, which the README's blocks leave out.
var (
	readmeIndex      = regexp.MustCompile(`"(index|modifiedIndex|createdIndex)":\d+`)
	readmeInOrderKey = regexp.MustCompile(`/\d{20}"`)
	readmeExpiration = regexp.MustCompile(`"expiration":"[^"]*","ttl":\d+`)
)

func normalize(s string) string {
	s = readmeIndex.ReplaceAllString(strings.TrimSuffix(s, "\n"), `"$1":N`)
	s = readmeInOrderKey.ReplaceAllString(s, `/N"`)
	return readmeExpiration.ReplaceAllString(s, `"expiration":E,"ttl":T`)
}

// matches reports whether got is the answer the README shows to c. Where
// the README shows the leader after an election, any running member may
// have won.
func (r *readmeRun) matches(c curl, got, want string) bool {
	if normalize(got) == normalize(want) {
		return true
	}
	if strings.HasSuffix(c.url, "/leader") {
		g, w := r.node(got), r.node(want)
		return g != nil && g.raftURL == got && w != nil && w.raftURL == want
	}
	return false
}

// block runs one sh block, and checks its answers against the block of
// output that follows it, if any.
func (r *readmeRun) block(sh string, output *string) {
	r.t.Helper()
	var expected []string
	if output != nil {
		expected = strings.Split(strings.TrimSpace(r.local(*output)), "\n")
	}
	var got []string
	for line := range strings.SplitSeq(strings.TrimSpace(sh), "\n") {
		words, comment := shellWords(r.local(line))
		if len(words) == 0 {
			continue
		}
		switch {
		case words[0] == "make" && len(words) == 2 && words[1] == "build":
			// testnode builds the binary.
		case words[0] == "make" && len(words) == 2 && words[1] == "test":
		case words[0] == "sudo" && len(words) > 3 && words[1] == "apt-get":
			// Getting started's install line: TestGettingStartedInstallsWhatTheTestsUse checks it.
		case words[0] == "make" && len(words) == 2 && words[1] == "run":
			r.start(r.makeRunArgs())
		case words[0] == "./bin/etcd":
			r.start(words[1:])
		case words[0] == "curl":
			c := parseCurl(r.t, words)
			if (strings.Contains(c.url, "/v1/watch/") || strings.Contains(c.url, "wait=true") && !strings.Contains(c.url, "waitIndex=")) && c.data == "" {
				r.watch(c)
				continue
			}
			want := ""
			switch {
			case len(got) < len(expected):
				want = expected[len(got)]
			case output == nil && comment != "":
				// "curl ... # ANSWER   (explanation)"
				want, _, _ = strings.Cut(comment, "  ")
			}
			got = append(got, r.curl(c, want))
		default:
			r.t.Fatalf("the README has a command this test does not know: %s", line)
		}
	}
	if output == nil {
		return
	}
	if len(got) != len(expected) {
		r.t.Fatalf("the README shows %d answers after\n%s\nbut its commands gave %d: %q", len(expected), sh, len(got), got)
	}
	for _, w := range r.watches {
		select {
		case answer := <-w:
			if !r.matchesAny(answer, expected) {
				r.t.Fatalf("a watch answered %s; the README shows %q", answer, expected)
			}
		case <-time.After(requestTimeout):
			r.t.Fatalf("a watch from the README got no answer after\n%s", sh)
		}
	}
	r.watches = nil
}

func (r *readmeRun) matchesAny(got string, expected []string) bool {
	for _, e := range expected {
		if normalize(got) == normalize(e) {
			return true
		}
	}
	return false
}

// curl sends c. A read is sent again until it gives the README's answer,
// for a while: the README shows some after a wait (an expiry, an
// election).
func (r *readmeRun) curl(c curl, want string) string {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		got, err := r.do(ctx, c)
		cancel()
		switch {
		case err != nil && c.method != http.MethodGet:
			r.t.Fatalf("curl %s %s: %v (ports: %v)", c.method, c.url, err, r.ports)
		case err == nil && (want == "" || r.matches(c, got, want)):
			return got
		case c.method != http.MethodGet || time.Now().After(deadline):
			r.t.Fatalf("curl %s %s -d %q answered %q (%v); the README shows %q", c.method, c.url, c.data, got, err, want)
		}
		time.Sleep(pollInterval)
	}
}

// watch starts a README watch, and returns once the node holds it, as a
// reader's next command, in another terminal, comes after it.
func (r *readmeRun) watch(c curl) {
	r.t.Helper()
	u, err := url.Parse(c.url)
	if err != nil {
		r.t.Fatal(err)
	}
	base := "http://" + u.Host
	before := r.watchers(base)
	answer := make(chan string, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*requestTimeout)
		defer cancel()
		got, err := r.do(ctx, c)
		if err != nil {
			got = err.Error()
		}
		answer <- got
	}()
	r.watches = append(r.watches, answer)
	testnode.WaitFor(r.t, requestTimeout, "the README's watch to be held", func() (bool, string) {
		n := r.watchers(base)
		return n > before, fmt.Sprintf("%d watchers", n)
	})
}

func (r *readmeRun) watchers(base string) int {
	r.t.Helper()
	var stats struct {
		Watchers int `json:"watchers"`
	}
	resp, err := r.client.Get(base + "/v1/stats/store")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &stats); err != nil {
		r.t.Fatalf("/v1/stats/store: %s: %v", b, err)
	}
	return stats.Watchers
}

// makeRunArgs is what make run starts: the Makefile's RUN_ARGS, on the
// default ports.
func (r *readmeRun) makeRunArgs() []string {
	r.t.Helper()
	b, err := os.ReadFile("../Makefile")
	if err != nil {
		r.t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^RUN_ARGS \?= (.*)$`).FindStringSubmatch(string(b))
	if m == nil {
		r.t.Fatal("the Makefile sets no RUN_ARGS")
	}
	words, _ := shellWords(r.local(m[1] + " -c 127.0.0.1:4001 -s 127.0.0.1:7001"))
	return words
}

// section pastes a README section's commands in order, and does what its
// prose asks in between.
func (r *readmeRun) section(title string, prose func(string)) {
	r.t.Helper()
	items := readmeSection(r.t, title)
	for i := 0; i < len(items); i++ {
		it := items[i]
		switch {
		case !it.block:
			if prose != nil {
				prose(it.text)
			}
		case it.lang == "sh":
			var output *string
			if i+1 < len(items) && items[i+1].block && items[i+1].lang != "sh" {
				output = &items[i+1].text
				i++
			}
			r.block(it.text, output)
		}
	}
}

// TestReadmeWalkthroughs follows the README from the top as a new user
// would: make run, the single-node walkthrough, then the cluster section,
// every command pasted from the README, with make run's node left running
// (a reader may miss that the cluster section asks to stop it). Answers
// must be the README's, up to the values it says may differ.
func TestReadmeWalkthroughs(t *testing.T) {
	t.Parallel()
	r := &readmeRun{t: t, work: t.TempDir(), ports: map[string]int{}, client: &http.Client{Transport: testnode.NewTransport(), Timeout: 2 * requestTimeout}}
	r.section("Getting started", nil)
	if len(r.nodes) != 1 {
		t.Fatalf("Getting started ran %d nodes, want make run's one", len(r.nodes))
	}
	single := r.nodes[0]
	r.section("Walkthrough", nil)

	var killed *readmeNode
	r.section("A cluster", func(prose string) {
		if !strings.Contains(prose, "kill the leader") {
			return
		}
		leader := r.curl(curl{method: http.MethodGet, url: r.nodes[1].clientURL + "/v1/leader", follow: true}, "")
		killed = r.node(leader)
		if killed == nil || killed == single {
			t.Fatalf("the cluster's leader %q is none of its members", leader)
		}
		if err := killed.proc.Kill(exitTimeout); err != nil {
			t.Fatal(err)
		}
	})
	if killed == nil {
		t.Fatal("the cluster section never asks to kill the leader")
	}
	// "Start the old leader again with the same command": it catches up.
	r.run(killed)
	r.curl(curl{method: http.MethodGet, url: killed.clientURL + "/v1/keys/foo", follow: true},
		`{"action":"GET","key":"/foo","value":"new","index":0}`)

	// make run's node was not drawn into the cluster, and kept its data.
	r.curl(curl{method: http.MethodGet, url: single.clientURL + "/v1/machines", follow: true}, single.clientURL)
	r.curl(curl{method: http.MethodGet, url: single.clientURL + "/v1/keys/testAndSet", follow: true},
		`{"action":"GET","key":"/testAndSet","value":"two","index":0}`)
	for _, n := range r.nodes[1:] {
		for i, a := range n.args {
			if a == "-d" && filepath.Clean(n.args[i+1]) == "node1.etcd" {
				t.Fatalf("the cluster section reuses make run's data directory: etcd %s", strings.Join(n.args, " "))
			}
		}
	}
}
