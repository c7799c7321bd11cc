package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardKeyDetail: the selected key shows its indexes, TTL and size;
// an open directory whose keys all expired says it is empty; the leader's
// time in the header is in whole seconds.
func TestDashboardKeyDetail(t *testing.T) {
	b := newBrowser(t)
	n := startNode(t, "node1")
	written := n.set("/dir/a", "héllo", "ttl", "4")
	n.set("/dir/b", "x", "ttl", "4")
	n.set("/plain", "no ttl")

	b.open(n.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the page to follow the node", `document.body.dataset.stream === "live" && `+row("/dir")+` !== null`)
	b.click(row("/dir") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "/dir listed", row("/dir/a")+` !== null`)
	b.click(row("/dir/a") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "the key's indexes (as listed), TTL and size", fmt.Sprintf(
		`%s === "%d" && %s === "%d (its last change)" && /^[1-4]s$/.test(%s) && %s === "6 bytes"`,
		detail("created index"), written.Index, detail("modified index"), written.Index, detail("ttl"), detail("size")))

	changed := n.set("/dir/a", "changed", "ttl", "4")
	b.waitUntil(shownWithin, "the index of the key's change, seen in the stream", fmt.Sprintf(
		`%s === "%d (its last change)" && %s === "7 bytes"`, detail("modified index"), changed.Index, detail("size")))
	b.click(row("/plain") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "a key without a TTL", detail("ttl")+` === "none: it never expires"`)

	b.waitUntil(10*time.Second, "the open directory, its keys expired, to say it is empty",
		row("/dir/a")+` === null && `+row("/dir/b")+` === null && `+row("/dir")+`.querySelector(".problem").textContent === "empty"`)

	b.waitUntil(shownWithin, "the leader's time in whole seconds",
		`/ for (\d+[dhm] )?\d+s$/.test(document.getElementById("node-status").textContent)`)
	ctx, cancel := context.WithTimeout(b.ctx, requestTimeout)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`import("/dashboard/format.js").then(({ durationText, goDurationSeconds }) =>
		[0.4, 9.99, 59.9, 61, 3600, 90061].map(durationText).join(", ") + " | " +
		["4.123456789s", "1m2.5s", "1h0m0.001s", "12ms"].map(goDurationSeconds).join(", "))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("the page's format.js: %v", err)
	}
	if want := "under 1s, 9s, 59s, 1m 1s, 1h 0m, 1d 1h | 4.123456789, 62.5, 3600.001, 0.012"; got != want {
		t.Errorf("durations as the page writes and reads them: %s, want %s", got, want)
	}
}

// detail is the text of a term of the selected key's detail.
func detail(term string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#detail dt")].find((dt) => dt.textContent === %s)?.nextElementSibling.textContent`, jsString(term))
}
