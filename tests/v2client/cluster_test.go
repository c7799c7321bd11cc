package v2client

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
	"go.etcd.io/etcd/client/v2"
)

// TestCluster drives a three-member cluster with the client: the members
// API and Sync, GetVersion on every member, every kind of write sent to a
// follower, a watcher on a follower, and a watcher that outlives the
// leader it waited on. The
// subtests share the cluster and run in order; the last kills the leader.
func TestCluster(t *testing.T) {
	t.Parallel()
	members := startCluster(t, 3)
	leader := waitLeader(t, members)
	var clientURLs []string
	for _, m := range members {
		clientURLs = append(clientURLs, m.clientURL())
	}
	slices.Sort(clientURLs)

	t.Run("MembersList", func(t *testing.T) {
		c, _ := newClient(t, []string{members[0].clientURL()}, nil)
		mapi := client.NewMembersAPI(c)
		list, err := mapi.List(ctxT(t))
		if err != nil {
			t.Fatalf("members List: %v", err)
		}
		ids := map[string]bool{}
		for _, m := range members {
			i := slices.IndexFunc(list, func(lm client.Member) bool { return lm.Name == m.name })
			if i < 0 {
				t.Fatalf("members List has no %s: %+v", m.name, list)
			}
			got := list[i]
			if got.ID == "" || ids[got.ID] || !slices.Equal(got.PeerURLs, []string{m.peerURL()}) || !slices.Equal(got.ClientURLs, []string{m.clientURL()}) {
				t.Fatalf("members List: %s is %+v, want a new id, peer URL %s, client URL %s", m.name, got, m.peerURL(), m.clientURL())
			}
			ids[got.ID] = true
		}
		if len(list) != len(members) {
			t.Fatalf("members List has %d members, want %d: %+v", len(list), len(members), list)
		}
		l, err := mapi.Leader(ctxT(t))
		if err != nil || l == nil || l.Name != leader.name {
			t.Fatalf("members Leader: %+v %v, want %s", l, err, leader.name)
		}
	})

	t.Run("Sync", func(t *testing.T) {
		follower := followers(members, leader)[0]
		c, _ := newClient(t, []string{follower.clientURL()}, nil)
		if err := c.Sync(ctxT(t)); err != nil {
			t.Fatalf("Sync through %s: %v", follower.name, err)
		}
		if got := sortedCopy(c.Endpoints()); !slices.Equal(got, clientURLs) {
			t.Fatalf("endpoints after Sync: %v, want every member's client URL %v", got, clientURLs)
		}
		kapi := client.NewKeysAPI(c)
		wantNode(t, "Set after Sync", must(t, "Set")(kapi.Set(ctxT(t), "/synced", "yes", nil)), "set", "/synced", "yes")

		lc, _ := newClient(t, []string{follower.clientURL()}, func(cfg *client.Config) {
			cfg.SelectionMode = client.EndpointSelectionPrioritizeLeader
		})
		if err := lc.Sync(ctxT(t)); err != nil {
			t.Fatalf("Sync in leader-first mode: %v", err)
		}
	})

	t.Run("GetVersion", func(t *testing.T) {
		for _, m := range members {
			c, _ := newClient(t, []string{m.clientURL()}, nil)
			v, err := c.GetVersion(ctxT(t))
			if err != nil || v.Server == "" || v.Cluster == "" {
				t.Fatalf("GetVersion on %s: %+v %v, want both versions", m.name, v, err)
			}
		}
	})

	t.Run("FollowerWrites", func(t *testing.T) {
		for _, f := range followers(members, leader) {
			// Redirects are refused: the follower must take the write.
			c, _ := newClient(t, []string{f.clientURL()}, refuseRedirects)
			kapi := client.NewKeysAPI(c)
			key := "/fw/" + f.name
			s := must(t, "Set on "+f.name)(kapi.Set(ctxT(t), key, "one", nil))
			wantNode(t, "Set on "+f.name, s, "set", key, "one")
			r := must(t, "CAS on "+f.name)(kapi.Set(ctxT(t), key, "two", &client.SetOptions{PrevValue: "one", PrevIndex: s.Node.ModifiedIndex}))
			wantNode(t, "CAS on "+f.name, r, "compareAndSwap", key, "two")
			_, err := kapi.Set(ctxT(t), key, "three", &client.SetOptions{PrevValue: "one"})
			wantError(t, "failed CAS on "+f.name, err, client.ErrorCodeTestFailed, "[one != two]")
			_, err = kapi.Create(ctxT(t), key, "x")
			wantError(t, "Create of an existing key on "+f.name, err, client.ErrorCodeNodeExist, key)
			wantNode(t, "Create on "+f.name, must(t, "Create")(kapi.Create(ctxT(t), key+"-new", "c")), "create", key+"-new", "c")
			q := must(t, "CreateInOrder on "+f.name)(kapi.CreateInOrder(ctxT(t), "/fw/queue", f.name, nil))
			wantNode(t, "CreateInOrder on "+f.name, q, "create", fmt.Sprintf("/fw/queue/%020d", q.Node.CreatedIndex), f.name)
			must(t, "Set a dir on "+f.name)(kapi.Set(ctxT(t), key+"-dir", "", &client.SetOptions{Dir: true, TTL: time.Minute}))

			// A quorum read anywhere sees what the follower acknowledged.
			for _, m := range members {
				g := must(t, "quorum Get on "+m.name)(keysOf(t, m.clientURL()).Get(ctxT(t), key, &client.GetOptions{Quorum: true}))
				if g.Node.Value != "two" || g.Node.ModifiedIndex != r.Node.ModifiedIndex {
					t.Fatalf("quorum Get of %s on %s after the follower's CAS: %v, want two at %d", key, m.name, g.Node, r.Node.ModifiedIndex)
				}
			}

			// curl without -L does not follow a redirect either.
			put := curl(t, f.clientURL()+"/v2/keys"+key+"-curl", "-XPUT", "-d", "value=by curl")
			put.want(t, "curl PUT on "+f.name, 201, `{"action":"set","node":{"key":"`+key+`-curl","value":"by curl","modifiedIndex":%d,"createdIndex":%d}}`+"\n")

			d := must(t, "CAD on "+f.name)(kapi.Delete(ctxT(t), key, &client.DeleteOptions{PrevValue: "two"}))
			if d.Action != "compareAndDelete" {
				t.Fatalf("CAD on %s: action %q", f.name, d.Action)
			}
			d = must(t, "Delete on "+f.name)(kapi.Delete(ctxT(t), key+"-dir", &client.DeleteOptions{Dir: true}))
			if d.Action != "delete" || !d.Node.Dir {
				t.Fatalf("Delete of a dir on %s: action %q node %v", f.name, d.Action, d.Node)
			}
		}
	})

	t.Run("WatcherOnFollower", func(t *testing.T) {
		// A follower's watcher reports the leader's writes as the
		// follower applies them, in order, none lost between two calls.
		f := followers(members, leader)[0]
		wkapi := keysOf(t, f.clientURL())
		lkapi := keysOf(t, leader.clientURL())
		start := must(t, "Get on the follower")(wkapi.Get(ctxT(t), "/", nil)).Index
		w := wkapi.Watcher("/onfollower", &client.WatcherOptions{AfterIndex: start, Recursive: true})
		var want []wantEvent
		for i := range 5 {
			key := fmt.Sprintf("/onfollower/k%d", i%2)
			r := must(t, "Set on the leader")(lkapi.Set(ctxT(t), key, fmt.Sprint(i), nil))
			want = append(want, wantEvent{"set", key, fmt.Sprint(i), r.Node.ModifiedIndex})
		}
		d := must(t, "Delete on the leader")(lkapi.Delete(ctxT(t), "/onfollower", &client.DeleteOptions{Recursive: true}))
		nextEvents(t, "watcher on "+f.name, w, want...)
		ev := must(t, "watcher on "+f.name)(w.Next(ctxT(t)))
		if ev.Action != "delete" || ev.Node.Key != "/onfollower" || !ev.Node.Dir || ev.Node.ModifiedIndex != d.Node.ModifiedIndex {
			t.Fatalf("watcher on %s: %q %v, want the delete of /onfollower", f.name, ev.Action, ev.Node)
		}
	})

	t.Run("WatcherOutlivesKilledLeader", func(t *testing.T) {
		// Leader-first mode pins the client on the leader, so that the
		// watcher waits there.
		c, tr := newClient(t, clientURLs, func(cfg *client.Config) {
			cfg.SelectionMode = client.EndpointSelectionPrioritizeLeader
		})
		if err := c.Sync(ctxT(t)); err != nil {
			t.Fatalf("Sync in leader-first mode: %v", err)
		}
		kapi := client.NewKeysAPI(c)
		start := must(t, "Set /killed/0")(kapi.Set(ctxT(t), "/killed/0", "before", nil))

		w := kapi.Watcher("/killed", &client.WatcherOptions{AfterIndex: start.Node.ModifiedIndex, Recursive: true})
		ctx, cancel := context.WithTimeout(context.Background(), 3*electionTimeout)
		defer cancel()
		events, errs := make(chan *client.Response, 16), make(chan error, 1)
		go func() {
			for {
				ev, err := w.Next(ctx)
				if err != nil {
					errs <- err
					return
				}
				events <- ev
			}
		}()
		leaderHost := mustHost(t, leader.clientURL())
		testnode.WaitFor(t, requestTimeout, "the watcher to wait on the leader", func() (bool, string) {
			return tr.lastWatchHost() == leaderHost, "watching on " + tr.lastWatchHost()
		})
		waitWatchers(t, leader, 1)

		leader.kill()
		var survivors []string
		for _, f := range followers(members, leader) {
			survivors = append(survivors, f.clientURL())
		}
		writer := keysOf(t, survivors...)
		var want []string
		for i := 1; i <= 3; i++ {
			key := fmt.Sprintf("/killed/%d", i)
			setRetrying(t, writer, key, "after")
			want = append(want, key)
		}
		var got []string
		var last uint64
		for len(got) < len(want) {
			select {
			case ev := <-events:
				if ev.Node.ModifiedIndex <= last || ev.Node.Value != "after" {
					t.Fatalf("watcher: %q %v after index %d", ev.Action, ev.Node, last)
				}
				last = ev.Node.ModifiedIndex
				// A write retried after a lost answer may show twice.
				if len(got) == 0 || got[len(got)-1] != ev.Node.Key {
					got = append(got, ev.Node.Key)
				}
			case err := <-errs:
				t.Fatalf("watcher after the leader was killed: %v (events so far %v)", err, got)
			case <-ctx.Done():
				t.Fatalf("watcher after the leader was killed: got %v, want %v", got, want)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("watcher after the leader was killed: got %v, want %v", got, want)
		}
		if h := tr.lastWatchHost(); h == leaderHost {
			t.Fatalf("the watcher still waits on the killed leader %s", h)
		}

		newLeader := waitLeader(t, members)
		if newLeader == leader {
			t.Fatalf("the killed member %s is still the leader", leader.name)
		}
		testnode.WaitFor(t, electionTimeout, "Sync in leader-first mode after the election", func() (bool, string) {
			err := c.Sync(ctxT(t))
			return err == nil, fmt.Sprint(err)
		})
		if got := sortedCopy(c.Endpoints()); !slices.Equal(got, clientURLs) {
			t.Fatalf("endpoints after Sync: %v, want %v (the killed member is still a member)", got, clientURLs)
		}
		g := must(t, "quorum Get through the client")(kapi.Get(ctxT(t), "/killed", &client.GetOptions{Recursive: true, Sort: true, Quorum: true}))
		if keys := keysOfNodes(g.Node.Nodes); !slices.Equal(keys, append([]string{"/killed/0"}, want...)) {
			t.Fatalf("Get /killed after the election: %v", keys)
		}
	})
}

// setRetrying sets key through kapi until it succeeds, while the cluster
// has no leader: the client answers a ClusterError until one is elected.
// A v2 error is an answer, and fails the test.
func setRetrying(t *testing.T, kapi client.KeysAPI, key, value string) *client.Response {
	t.Helper()
	var r *client.Response
	testnode.WaitFor(t, electionTimeout, "Set "+key+" to succeed", func() (bool, string) {
		var err error
		r, err = kapi.Set(ctxT(t), key, value, nil)
		var v2err client.Error
		if errors.As(err, &v2err) {
			t.Fatalf("Set %s: %v", key, err)
		}
		return err == nil, fmt.Sprint(err)
	})
	return r
}

func mustHost(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}
