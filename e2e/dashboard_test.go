package e2e

// The web dashboard in a real browser: headless Chromium, driven from Go
// over the DevTools protocol by chromedp. CI installs Debian's chromium
// package (.ci/run); without a browser these tests fail rather than skip,
// so that a machine that lost it is noticed. Like the cluster tests they do
// not call t.Parallel: their deadlines are a person's ("within a second"),
// so they run before the parallel tests load the machine.
//
// DASHBOARD_ARTIFACTS names a directory for the screenshot of a failure
// (otherwise a new temporary directory, logged); DASHBOARD_SCREENSHOT a PNG
// file to which TestDashboard saves the page once it shows a few keys, for
// the README.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/etcd-recreation/etcd/internal/testnode"
)

// shownWithin is how soon the page must show a change: a person watching
// it sees the change as it happens.
const shownWithin = time.Second

// TestDashboard follows a single node with -w: the page shows the node, the
// keys written over HTTP within a second, directories that open, TTLs that
// count down and keys that expire, and the events in its feed. It resumes
// after a restart of the node without missing or doubling an event, and the
// client port serves the same page at /dashboard/. When the history no
// longer holds where the page was, it lists the keys again and says so.
func TestDashboard(t *testing.T) {
	const history = 20 // -m: small, for the page to fall out of it
	b := newBrowser(t)
	webAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	n := startNode(t, "node1", "-w", webAddr, "-m", fmt.Sprint(history))
	site := "http://" + webAddr

	b.open(site + "/")
	b.waitUntil(readyTimeout, "the page to show the node and follow its events",
		`document.body.dataset.stream === "live" && `+textIs("#node-name", "node1")+` && `+
			textIs("#node-state", "leader")+` && `+textIs("#leader-name", "node1"))
	b.waitUntil(shownWithin, "the internal directory /_etcd, marked as such",
		row("/_etcd")+`?.classList.contains("internal") && `+row("/_etcd")+`.querySelector(".badge").textContent.includes("internal")`)
	if controls := evaluate[int](b, `document.querySelectorAll("form, input, textarea, select, button, [contenteditable]").length`); controls != 0 {
		t.Errorf("the page has %d form controls; it must offer no way to change a key", controls)
	}

	// Writes show within a second: a new file, and a directory made by a
	// key below it.
	n.set("/message", "Hello world")
	n.set("/config/db/host", "10.0.0.1")
	b.waitUntil(shownWithin, "the new keys",
		valueIs("/message", "Hello world")+` && `+row("/config")+`?.classList.contains("dir")`)
	b.waitUntil(shownWithin, "the writes in the feed", feedHas("/message", "set")+` && `+feedHas("/config/db/host", "set"))
	b.click(row("/config") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "/config listed", row("/config/db")+` !== null`)
	b.click(row("/config/db") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "/config/db listed", valueIs("/config/db/host", "10.0.0.1"))
	n.set("/config/db/host", "10.0.0.2")
	n.set("/config/db/port", "5432")
	b.waitUntil(shownWithin, "changes in an open directory", valueIs("/config/db/host", "10.0.0.2")+` && `+valueIs("/config/db/port", "5432"))
	n.do(http.MethodDelete, "/v1/keys/message", nil)
	b.waitUntil(shownWithin, "a deleted key to go", row("/message")+` === null && `+feedHas("/message", "delete"))

	// A key with a TTL counts down, then expires.
	n.set("/session", "token", "ttl", "3")
	b.waitUntil(shownWithin, "the TTL counting down", `/^ttl [23]s$/.test(`+row("/session")+`?.querySelector(".ttl").textContent)`)
	b.click(row("/session") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "the selected key's value in the detail", `document.querySelector("#detail pre")?.textContent === "token"`)
	if path := os.Getenv("DASHBOARD_SCREENSHOT"); path != "" {
		b.waitUntil(2*time.Second, "the highlights of changed rows to fade", `document.getAnimations().length === 0`)
		b.saveScreenshot(path)
	}
	b.waitUntil(5*time.Second, "the key to expire", row("/session")+` === null && `+feedHas("/session", "expire"))

	// Across a restart the page resumes from the last event it got. Its
	// stream is blocked until a write has been made, so that the write
	// can reach the page only through the history.
	b.blockStream(site)
	n.stop()
	b.waitUntil(5*time.Second, "the page to see the node go", `document.body.dataset.stream !== "live"`)
	n.restart()
	written := n.set("/while-away", "made while the page was cut off")
	if state := evaluate[string](b, `document.body.dataset.stream`); state == "live" {
		t.Fatalf("the page's stream is %q while blocked", state)
	}
	b.unblockStream()
	b.waitUntil(5*time.Second, "the page to reconnect and show the write made meanwhile",
		`document.body.dataset.stream === "live" && `+valueIs("/while-away", "made while the page was cut off"))
	b.waitUntil(shownWithin, "the write in the feed, once", fmt.Sprintf(
		`document.querySelectorAll('#feed li[data-key="/while-away"]').length === 1 && `+
			`document.querySelector('#feed li[data-key="/while-away"]').dataset.index === "%d"`, written.Index))
	if dup := evaluate[string](b, `(() => {
		const seen = new Set();
		for (const li of document.querySelectorAll("#feed li[data-index]")) {
			if (seen.has(li.dataset.index)) return li.dataset.index;
			seen.add(li.dataset.index);
		}
		return "";
	})()`); dup != "" {
		t.Errorf("the feed shows the event of index %s twice", dup)
	}
	if hidden := evaluate[bool](b, `document.getElementById("notice").hidden`); !hidden {
		t.Errorf("the page listed the keys again (%q) where it should have resumed", evaluate[string](b, `document.getElementById("notice").textContent`))
	}

	// The client port serves the same page.
	b.open(n.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the page at /dashboard/ on the client port",
		`document.body.dataset.stream === "live" && `+textIs("#node-name", "node1")+` && `+valueIs("/while-away", "made while the page was cut off"))
	n.set("/message", "on the client port")
	b.waitUntil(shownWithin, "a write, on the page at /dashboard/", valueIs("/message", "on the client port"))

	// More writes than the history holds, while the page is cut off: it
	// cannot resume, so it lists the keys again, and says so.
	b.blockStream(n.url(""))
	n.stop()
	n.restart()
	for i := range history + 5 {
		n.set(fmt.Sprintf("/burst/%02d", i), "v")
	}
	b.unblockStream()
	b.waitUntil(5*time.Second, "the page to list the keys again and say why",
		`document.body.dataset.stream === "live" && `+row("/burst")+` !== null && `+
			`!document.getElementById("notice").hidden && document.getElementById("notice").textContent.includes("error 401") && `+
			`document.querySelector("#feed li.gap") !== null`)
	n.set("/message", "after the reload")
	b.waitUntil(shownWithin, "a write after the reload", valueIs("/message", "after the reload"))
}

// TestDashboardCluster checks the pages of a 3-member cluster. The leader's
// shows the followers' replication latency. A follower's shows the leader,
// and after the leader is killed, the new one. Then the follower restarts
// while no other member runs: its page says that it is catching up, and
// once the cluster is back it shows the write made while it was down.
func TestDashboardCluster(t *testing.T) {
	b := newBrowser(t)
	c := newCluster(t)
	n1 := c.add("node1")
	webAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	watched := c.add("node2", "-C", n1.raftAddr(), "-w", webAddr)
	c.add("node3", "-C", n1.raftAddr())
	leader := c.waitMembership(electionTimeout)

	// The leader's page, at /dashboard/ on its client port, shows how long
	// each follower takes to answer its appends.
	b.open(leader.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the leader's page to show the followers' replication latency",
		textIs("#node-state", "leader")+` && [...document.querySelectorAll("#members tbody tr:not(.leader) td:last-child")]`+
			`.filter((td) => /^\d+\.\d+ ms \(avg \d+\.\d+\)$/.test(td.textContent)).length === 2`)

	if leader == watched {
		// The page must be a follower's: hand the lead to another member.
		watched.crash()
		c.waitLeader(electionTimeout)
		watched.restart()
		c.waitMembership(electionTimeout)
	}
	b.open("http://" + webAddr + "/")
	b.waitUntil(readyTimeout, "the follower's page to show the node and every member",
		textIs("#node-name", "node2")+` && `+textIs("#node-state", "follower")+` && document.querySelectorAll("#members tbody tr").length === 3`)
	leader = waitPageShowsLeader(t, b, c, readyTimeout)
	if leader == watched {
		t.Fatalf("%s took the lead meanwhile: its page is no longer a follower's", watched.name)
	}

	leader.crash()
	next := waitPageShowsLeader(t, b, c, electionTimeout+3*time.Second)
	t.Logf("leader %s killed; the page shows %s", leader.name, next.name)

	// node2 restarts while it is the only member up: it cannot catch up
	// and says so. A write made while it was down reaches its page once it
	// has caught up.
	leader.restart()
	c.waitLeader(electionTimeout)
	watched.stop()
	written := c.set("/while-down", "written while node2 was down")
	others := c.running()
	for _, m := range others {
		m.stop()
	}
	watched.start()
	b.waitUntil(readyTimeout, "the page to say that the node is catching up",
		`document.body.dataset.node === "starting" && document.getElementById("node-status").textContent.includes("catching up")`)
	for _, m := range others {
		m.start()
	}
	watched.mustBeReady()
	b.waitUntil(readyTimeout, "the page to follow the node again and show the write made while it was down",
		`document.body.dataset.node === "ok" && document.body.dataset.stream === "live" && `+
			valueIs("/while-down", "written while node2 was down")+` && `+
			fmt.Sprintf(`document.querySelectorAll('#feed li[data-key="/while-down"][data-index="%d"]').length === 1`, written.Index))
}

// waitPageShowsLeader waits until the page names, in its header and in its
// members, the leader that the running members agree on, and returns it.
// The leader is asked again each time: under load a second election may
// follow the first.
func waitPageShowsLeader(t *testing.T, b *browser, c *cluster, timeout time.Duration) *node {
	t.Helper()
	var leader *node
	testnode.WaitFor(t, timeout, "the page to show the cluster's leader", func() (bool, string) {
		shown := evaluate[string](b, `document.getElementById("leader-name").textContent + ", " + `+
			`(document.querySelector("#members tr.leader")?.dataset.member ?? "none")`)
		if leader = agreedLeader(c); leader == nil {
			return false, fmt.Sprintf("the members do not agree on a leader; the page shows %s", shown)
		}
		return shown == leader.name+", "+leader.name, fmt.Sprintf("the page shows %s; the leader is %s", shown, leader.name)
	})
	return leader
}

// agreedLeader is the running member that every running member names as
// the leader, or nil.
func agreedLeader(c *cluster) *node {
	agreed := ""
	for _, m := range c.running() {
		status, body := m.peek("/v1/leader")
		if status != http.StatusOK || (agreed != "" && body != agreed) {
			return nil
		}
		agreed = body
	}
	if leader := c.byRaftURL(agreed); leader != nil && leader.running() {
		return leader
	}
	return nil
}

// TestDashboardLargeTree keeps the page responsive with 10,000 keys in one
// directory while 100 writes a second change them: the directory lists, only
// the rows in view are drawn, a write shows under that load, and the feed
// stays capped. The page's longest task is logged, not judged: how long a
// task takes depends on how busy the machine is.
func TestDashboardLargeTree(t *testing.T) {
	const (
		keys      = 10000
		perSecond = 100
		loadFor   = 3 * time.Second
	)
	b := newBrowser(t)
	c := newCluster(t)
	n := c.add("node1")
	start := time.Now()
	acks := c.writeKeys("/load", 16, keys, nil, nil)
	t.Logf("%d keys written in %v", len(acks), time.Since(start))

	b.open(n.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the page to follow the node", `document.body.dataset.stream === "live" && `+row("/load")+` !== null`)
	// The browser reports every task of the page that kept it busy for
	// more than 50 ms: the longest is how long the page froze.
	evaluate[chromedp.Void](b, `(() => {
		window.longestTask = 0;
		new PerformanceObserver((list) => {
			for (const task of list.getEntries()) {
				window.longestTask = Math.max(window.longestTask, task.duration);
			}
		}).observe({ type: "longtask" });
	})()`)
	rootRows := evaluate[int](b, `document.querySelectorAll("#tree li").length`)
	start = time.Now()
	b.click(row("/load") + `.querySelector(".line")`)
	b.waitUntil(5*time.Second, "the 10,000 keys listed", fmt.Sprintf(`document.getElementById("tree").dataset.rows === "%d"`, rootRows+len(acks)))
	t.Logf("the directory of %d keys listed and drawn in %v", len(acks), time.Since(start))
	// Only the rows in view are in the page; the last key is drawn once
	// scrolled to.
	if drawn := evaluate[int](b, `document.querySelectorAll("#tree li").length`); drawn > 200 {
		t.Errorf("%d rows in the page for %d keys: the rows out of view should not be drawn", drawn, len(acks))
	}
	lastKey := acks[len(acks)-1].key
	for _, a := range acks {
		lastKey = max(lastKey, a.key)
	}
	evaluate[chromedp.Void](b, `document.getElementById("tree").scrollTop = 1e9`)
	b.waitUntil(shownWithin, "the last key, scrolled to", row(lastKey)+` !== null`)
	// The updates change other keys than the one the test watches.
	const updates = perSecond * int(loadFor/time.Second)
	var updated atomic.Int32
	loadDone := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second / perSecond)
		defer tick.Stop()
		for i := range updates {
			<-tick.C
			key := acks[(i*7919)%len(acks)].key
			if key == lastKey {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			r, err := n.request(ctx, http.MethodPost, "/v1/keys"+key, form("value", fmt.Sprintf("update %d", i)))
			cancel()
			if err != nil || r.Status != http.StatusOK {
				loadDone <- fmt.Errorf("update of %s: %v %v", key, r, err)
				return
			}
			updated.Add(1)
		}
		loadDone <- nil
	}()
	testnode.WaitFor(t, 2*loadFor, "half of the updates", func() (bool, string) {
		return int(updated.Load()) >= updates/2, fmt.Sprintf("%d of %d", updated.Load(), updates)
	})
	n.set(lastKey, "marker")
	b.waitUntil(shownWithin, "a write, under load", valueIs(lastKey, "marker"))
	if err := <-loadDone; err != nil {
		t.Fatal(err)
	}

	longest := time.Duration(evaluate[float64](b, `window.longestTask`) * float64(time.Millisecond))
	if longest == 0 {
		t.Logf("listing %d keys and under %d writes/s, no task of the page took over 50 ms", len(acks), perSecond)
	} else {
		t.Logf("listing %d keys and under %d writes/s, the page's longest task took %v", len(acks), perSecond, longest)
	}
	if shown := evaluate[int](b, `document.querySelectorAll("#feed li").length`); shown > 500 {
		t.Errorf("the feed shows %d events, want at most 500", shown)
	}
}

// ---------------------------------------------------------------------------
// The browser

// browser is a tab of a headless Chromium of its own.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu         sync.Mutex
	exceptions []string // uncaught in the page's scripts
}

// chromiumPath finds the browser: $CHROMIUM, or chromium on the PATH.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("CHROMIUM"); path != "" {
		return path
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("the dashboard tests need headless Chromium, and none was found (%v): "+
			"install it (apt-get install -y chromium, as .ci/run does) or set CHROMIUM to its path", err)
	}
	return path
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath(t)),
		// Containers and CI runners that run as root cannot give Chromium
		// its sandbox; it only visits this test's nodes, on loopback.
		chromedp.NoSandbox,
		chromedp.Flag("no-proxy-server", true),
		chromedp.WindowSize(1280, 800),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{t: t, ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			b.saveFailureScreenshot()
		}
		cancelTab()
		cancelAlloc()
	})
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			text := ev.ExceptionDetails.Text
			if ex := ev.ExceptionDetails.Exception; ex != nil {
				text += " " + ex.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, text)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			t.Errorf("uncaught exception in the page: %s", e)
		}
	})
	return b
}

func (b *browser) open(url string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("opening %s: %v", url, err)
	}
}

// evaluate returns the value of a JavaScript expression in the page.
func evaluate[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, requestTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitUntil polls a JavaScript condition until it holds, and fails the test
// with what the page shows if it does not within timeout.
func (b *browser) waitUntil(timeout time.Duration, what, cond string) {
	b.t.Helper()
	start := time.Now()
	for !evaluate[bool](b, "!!("+cond+")") {
		if time.Since(start) > timeout {
			b.t.Fatalf("the page did not show %s within %v; it shows: %s", what, timeout, b.state())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// state sums up what the page shows, for failure messages.
func (b *browser) state() string {
	return evaluate[string](b, `JSON.stringify({
		node: document.body.dataset.node, stream: document.body.dataset.stream,
		name: document.getElementById("node-name").textContent,
		state: document.getElementById("node-state").textContent,
		leader: document.getElementById("leader-name").textContent,
		status: document.getElementById("node-status").textContent,
		streamStatus: document.getElementById("stream-status").textContent,
		notice: document.getElementById("notice").textContent,
		members: [...document.querySelectorAll("#members tbody tr")].map((tr) => [...tr.cells].map((td) => td.textContent).join(" | ")),
		keys: [...document.querySelectorAll("#tree li")].slice(0, 20).map((li) => li.dataset.key + " " + (li.querySelector(".value")?.textContent ?? "")),
		feed: [...document.querySelectorAll("#feed li")].slice(0, 10).map((li) => li.textContent),
	})`)
}

func (b *browser) click(elementExpr string) {
	b.t.Helper()
	evaluate[chromedp.Void](b, elementExpr+".click()")
}

// blockStream makes the page's requests for its event stream fail, as if
// the node were unreachable, until unblockStream.
func (b *browser) blockStream(site string) {
	b.t.Helper()
	b.setBlocked([]*network.BlockPattern{{URLPattern: site + "/dashboard/events*", Block: true}})
}

func (b *browser) unblockStream() {
	b.t.Helper()
	b.setBlocked(nil)
}

func (b *browser) setBlocked(patterns []*network.BlockPattern) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, network.SetBlockedURLs, network.SetBlockedURLsParams{URLPatterns: patterns}); err != nil {
		b.t.Fatalf("blocking URLs: %v", err)
	}
}

func (b *browser) saveScreenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, requestTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err == nil {
		err = os.WriteFile(path, png, 0o644)
	}
	if err != nil {
		b.t.Errorf("screenshot %s: %v", path, err)
		return
	}
	b.t.Logf("screenshot of the page saved in %s", path)
}

// saveFailureScreenshot keeps what the page showed when the test failed.
func (b *browser) saveFailureScreenshot() {
	dir := os.Getenv("DASHBOARD_ARTIFACTS")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "etcd-dashboard-failure-"); err != nil {
			b.t.Logf("no directory for the failure's screenshot: %v", err)
			return
		}
	}
	b.saveScreenshot(filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_")+".png"))
}

// ---------------------------------------------------------------------------
// What the page shows, as JavaScript expressions

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func textIs(selector, want string) string {
	return fmt.Sprintf(`document.querySelector(%s)?.textContent === %s`, jsString(selector), jsString(want))
}

// row is the tree's row of a key, or null.
func row(key string) string {
	return fmt.Sprintf(`document.querySelector(%s)`, jsString(`#tree li[data-key=`+jsString(key)+`]`))
}

func valueIs(key, want string) string {
	return fmt.Sprintf(`%s?.querySelector(".value")?.textContent === %s`, row(key), jsString(want))
}

// feedHas is whether the feed lists an event of the key with the action.
func feedHas(key, action string) string {
	return fmt.Sprintf(`document.querySelector(%s) !== null`,
		jsString(`#feed li[data-key=`+jsString(key)+`][data-action=`+jsString(action)+`]`))
}

// TestDashboardShowsADeadMember: on the leader's page, a follower killed
// with kill -9 shows as down, with how long it has been silent, while the
// other keeps its latency; once it restarts it shows as up again.
func TestDashboardShowsADeadMember(t *testing.T) {
	b := newBrowser(t)
	c := newCluster(t)
	n1 := c.add("node1")
	c.add("node2", "-C", n1.raftAddr())
	c.add("node3", "-C", n1.raftAddr())
	leader := c.waitMembership(electionTimeout)
	var followers []*node
	for _, m := range c.running() {
		if m != leader {
			followers = append(followers, m)
		}
	}
	victim, other := followers[0], followers[1]
	const latency = `/^\d+\.\d+ ms \(avg \d+\.\d+\)$/`
	b.open(leader.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the leader's page to show both followers answering",
		textIs("#node-state", "leader")+` && `+latency+`.test(`+memberReplication(victim.name)+`) && `+latency+`.test(`+memberReplication(other.name)+`)`)

	victim.crash()
	b.waitUntil(electionTimeout, "the killed follower shown as down, with how long it has been silent",
		`/^down: silent for (under 1s|\d+s)/.test(`+memberReplication(victim.name)+`) && `+latency+`.test(`+memberReplication(other.name)+`)`)
	b.waitUntil(electionTimeout, "the silence to count up", `/^down: silent for [2-9]s/.test(`+memberReplication(victim.name)+`)`)
	if leaderNow := agreedLeader(c); leaderNow != leader {
		t.Fatalf("the leader changed while a follower was down: the page is no longer the leader's")
	}

	victim.restart()
	b.waitUntil(readyTimeout, "the restarted follower shown as up again", latency+`.test(`+memberReplication(victim.name)+`)`)
}

// memberReplication is the text of a member's replication cell.
func memberReplication(name string) string {
	return fmt.Sprintf(`document.querySelector(%s)?.lastElementChild.textContent`, jsString(`#members tr[data-member=`+jsString(name)+`]`))
}

// TestDashboardOpenedLate: a page opened after changes shows the latest of
// them, from the node's history, marked as made before it opened, then the
// new ones as they happen, each once.
func TestDashboardOpenedLate(t *testing.T) {
	b := newBrowser(t)
	n := startNode(t, "node1")
	n.set("/config/db/host", "10.0.0.1")
	n.set("/gone", "soon")
	n.do(http.MethodDelete, "/v1/keys/gone", nil)

	b.open(n.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the changes made before the page opened, in its feed",
		`document.body.dataset.stream === "live" && `+feedHas("/config/db/host", "set")+` && `+feedHas("/gone", "delete")+` && `+
			`document.querySelector('#feed li[data-key="/gone"]').classList.contains("earlier")`)
	written := n.set("/after", "made once the page was open")
	b.waitUntil(shownWithin, "a new change above them", fmt.Sprintf(
		`document.querySelector("#feed li").dataset.index === "%d" && !document.querySelector("#feed li").classList.contains("earlier")`, written.Index))
	if dup := evaluate[string](b, `(() => {
		const seen = new Set();
		for (const li of document.querySelectorAll("#feed li[data-index]")) {
			if (seen.has(li.dataset.index)) return li.dataset.index;
			seen.add(li.dataset.index);
		}
		return "";
	})()`); dup != "" {
		t.Errorf("the feed shows the event of index %s twice", dup)
	}
}
