package faults

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rootListing answers GET /v1/keys/ as a member at store index index.
func rootListing(index uint64) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `[{"action":"GET","key":"/_etcd","dir":true,"index":%d}]`, index)
	}
}

// TestCheckCaughtUp: a restarted member must not serve a store behind
// writes acknowledged before it started; and a member that cannot say
// where its store is has not shown that it caught up.
func TestCheckCaughtUp(t *testing.T) {
	const before = 10
	var flaky atomic.Int32
	c := fakeCluster(t,
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"errorCode":300,"message":"Raft Internal Error"}`, http.StatusInternalServerError)
		}),
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `[]`)
		}),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if flaky.Add(1) <= 3 {
				http.Error(w, "not yet", http.StatusInternalServerError)
				return
			}
			rootListing(before)(w, r)
		}),
		rootListing(before+5),
		rootListing(before-1),
	)
	closed, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	down := &member{name: "down", clientAddr: closed}
	const timeout = 300 * time.Millisecond

	for _, tc := range []struct {
		name  string
		m     *member
		fails bool
		stale bool
	}{
		{"answers errors", c.members[0], true, false},
		{"answers an empty root", c.members[1], true, false},
		{"is down", down, true, false},
		{"answers after a few errors", c.members[2], false, false},
		{"is ahead", c.members[3], false, false},
		{"is behind", c.members[4], false, true},
	} {
		staleBefore := len(c.staleList())
		start := time.Now()
		err := c.checkCaughtUp(tc.m, before, timeout)
		took := time.Since(start)
		if (err != nil) != tc.fails {
			t.Errorf("member that %s: error %v; want one: %v", tc.name, err, tc.fails)
		}
		if tc.fails && took < timeout {
			t.Errorf("member that %s: gave up after %v, before the deadline of %v", tc.name, took, timeout)
		}
		if tc.fails && err != nil && !strings.Contains(err.Error(), tc.m.name) {
			t.Errorf("member that %s: the error %q does not name it", tc.name, err)
		}
		if stale := len(c.staleList()) > staleBefore; stale != tc.stale {
			t.Errorf("member that %s: reported stale: %v, want %v", tc.name, stale, tc.stale)
		}
	}
}
