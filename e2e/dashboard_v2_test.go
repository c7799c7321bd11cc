package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

// TestDashboardV2: the page shows the keys as v2 has them and v2's actions
// in its feed, for writes of either API. An empty directory is in the tree
// and says it is empty when opened; a directory's TTL counts down and its
// expiry is an expire; a key's created and modified indexes are in its
// detail; create, compareAndSwap, compareAndDelete and in-order creates are
// named so; a file that v2's set makes a directory becomes one; a refresh
// shows in the tree's TTL and not in the feed. A page opened afterwards
// shows the same feed, from the node's recent events, and the same tree.
func TestDashboardV2(t *testing.T) {
	b := newBrowser(t)
	n := startNode(t, "node1")
	b.open(n.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the page to follow the node", `document.body.dataset.stream === "live" && `+row("/_etcd")+` !== null`)

	// v2 writes a node at a time; each answers the node it left.
	write := func(method, target, body string, want int) (node struct {
		Key           string `json:"key"`
		ModifiedIndex uint64 `json:"modifiedIndex"`
		CreatedIndex  uint64 `json:"createdIndex"`
	}) {
		t.Helper()
		status, _, answer := n.v2Request(method, target, body)
		var event struct {
			Node *struct {
				Key           string `json:"key"`
				ModifiedIndex uint64 `json:"modifiedIndex"`
				CreatedIndex  uint64 `json:"createdIndex"`
			} `json:"node"`
		}
		if err := json.Unmarshal([]byte(answer), &event); status != want || err != nil || event.Node == nil {
			t.Fatalf("%s %s: HTTP %d %s, want %d", method, target, status, answer, want)
		}
		return *event.Node
	}
	write(http.MethodPut, "/v2/keys/empty?dir=true", "", http.StatusCreated)
	write(http.MethodPut, "/v2/keys/session?dir=true&ttl=300", "", http.StatusCreated)
	write(http.MethodPut, "/v2/keys/brief?dir=true&ttl=2", "", http.StatusCreated)
	created := write(http.MethodPut, "/v2/keys/config/a?prevExist=false", "value=1", http.StatusCreated)
	swapped := write(http.MethodPut, "/v2/keys/config/a?prevValue=1", "value=2", http.StatusOK)
	job := write(http.MethodPost, "/v2/keys/queue", "value=job", http.StatusCreated)
	write(http.MethodPut, "/v2/keys/gone", "value=x", http.StatusCreated)
	write(http.MethodDelete, "/v2/keys/gone?prevValue=x", "", http.StatusOK)
	write(http.MethodPut, "/v2/keys/_hidden", "value=out of listings", http.StatusCreated)
	n.set("/v1key", "written with v1")

	b.waitUntil(shownWithin, "the writes in the feed, by their v2 names",
		feedHas("/empty", "set")+` && `+feedHas("/session", "set")+` && `+feedHas("/config/a", "create")+` && `+
			feedHas("/config/a", "compareAndSwap")+` && `+feedHas(job.Key, "create")+` && `+feedHas("/gone", "compareAndDelete")+` && `+
			feedHas("/v1key", "set")+` && `+feedHas("/_hidden", "set"))
	b.waitUntil(shownWithin, "the directories in the tree, the TTL of one counting down, the hidden key left out",
		row("/empty")+`?.classList.contains("dir") && `+row("/queue")+`?.classList.contains("dir") && `+
			`/^ttl [1-5]m \d+s$/.test(`+row("/session")+`?.querySelector(".ttl").textContent) && `+
			row("/gone")+` === null && `+row("/_hidden")+` === null && `+valueIs("/v1key", "written with v1"))

	// v2's set makes a file a directory.
	write(http.MethodPut, "/v2/keys/v1key?dir=true", "", http.StatusOK)
	b.waitUntil(shownWithin, "the file made a directory", row("/v1key")+`?.classList.contains("dir") && `+
		row("/v1key")+`.querySelector(".value").textContent === ""`)

	b.click(row("/empty") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "the empty directory, opened, to say so, and its detail",
		row("/empty")+`.querySelector(".problem").textContent === "empty" && `+detail("kind")+` === "directory"`)
	b.click(row("/config") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "/config listed", valueIs("/config/a", "2"))
	b.click(row("/config/a") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "the key's created and modified indexes", fmt.Sprintf(
		`%s === "%d" && %s === "%d (its last change)"`, detail("created index"), created.CreatedIndex, detail("modified index"), swapped.ModifiedIndex))
	b.click(row("/queue") + `.querySelector(".line")`)
	b.waitUntil(shownWithin, "the in-order key in its directory", valueIs(job.Key, "job"))
	b.waitUntil(5*time.Second, "the directory with a short TTL to expire", row("/brief")+` === null && `+feedHas("/brief", "expire"))

	// A refresh moves a TTL on: the tree shows it; the feed, as client
	// watches, sees no refresh.
	write(http.MethodPut, "/v2/keys/lease?ttl=3", "value=held", http.StatusCreated)
	write(http.MethodPut, "/v2/keys/lease?ttl=600&refresh=true&prevExist=true", "", http.StatusOK)
	b.waitUntil(shownWithin, "the refreshed TTL in the tree, and the refresh not in the feed",
		`/^ttl (9m \d+|10m 0)s$/.test(`+row("/lease")+`?.querySelector(".ttl").textContent) && `+
			`document.querySelectorAll('#feed li[data-key="/lease"]').length === 1`)

	// A page opened now shows the same events, from the node's recent
	// ones, and the same keys.
	feed := `JSON.stringify([...document.querySelectorAll("#feed li[data-index]")].map((li) => li.dataset.index + " " + li.dataset.action + " " + li.dataset.key))`
	live := evaluate[string](b, feed)
	b.open(n.url("/dashboard/"))
	b.waitUntil(readyTimeout, "the page opened after the writes to follow the node",
		`document.body.dataset.stream === "live" && `+row("/empty")+` !== null && `+row("/brief")+` === null && `+
			`/^ttl [1-5]m \d+s$/.test(`+row("/session")+`?.querySelector(".ttl").textContent)`)
	if recent := evaluate[string](b, feed); recent != live {
		t.Errorf("a page opened after the writes shows the events\n%s\nthe page that saw them live showed\n%s", recent, live)
	}
}
