package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"testing"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// TestConcurrentWritesShareEntries has many clients write to a leader at
// once. Their writes must share log entries (one append, replication and
// sync for many), and yet each keep an index of its own, the same on every
// member, also on a member that restarted and on one that joined from a
// snapshot: the index promise of SPEC section 4.
func TestConcurrentWritesShareEntries(t *testing.T) {
	const clients, writesEach = 32, 15
	c := startCluster(t, 3, "-snapshotCount", "50")
	leader := c.waitLeader(readyTimeout)

	type write struct {
		key, value string
		index      uint64
	}
	acked := make([][]write, clients)
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range writesEach {
				w := write{key: fmt.Sprintf("/batch/c%d/w%d", i, j), value: fmt.Sprintf("client %d write %d", i, j)}
				ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				r, err := c.follow(ctx, leader, http.MethodPost, "/v1/keys"+w.key, form("value", w.value))
				cancel()
				if err != nil || r.Status == http.StatusInternalServerError {
					continue // no leader for a moment: the outcome is unknown
				}
				if r.Status != http.StatusOK {
					errs <- fmt.Errorf("set %s: %v", w.key, r)
					return
				}
				var e testnode.Event
				if err := json.Unmarshal(r.Body, &e); err != nil {
					errs <- fmt.Errorf("set %s: %v in %s", w.key, err, r.Body)
					return
				}
				w.index = e.Index
				acked[i] = append(acked[i], w)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Each write has its own index, and a client's writes come in order.
	byIndex := map[uint64]write{}
	for i, writes := range acked {
		for j, w := range writes {
			if other, taken := byIndex[w.index]; taken {
				t.Fatalf("%s and %s were both acknowledged at index %d", other.key, w.key, w.index)
			}
			byIndex[w.index] = w
			if j > 0 && w.index <= writes[j-1].index {
				t.Fatalf("client %d's write %d got index %d after its write %d got %d", i, j, w.index, j-1, writes[j-1].index)
			}
		}
	}
	leader = c.waitLeader(electionTimeout)
	if !writesShareEntries(t, leader) {
		t.Fatalf("%d concurrent writes never shared a log entry", clients*writesEach)
	}

	// One entry per write from here, enough for the leader to compact its
	// log past what a new member needs (it keeps 200 entries), so that the
	// new member is sent a snapshot of a store whose index runs ahead of
	// the log. A follower recovers from its own snapshot on restart.
	batchesEnd := raftCommitIndex(t, leader)
	for i := range 250 {
		c.set("/batch/one", strconv.Itoa(i))
	}
	testnode.WaitFor(t, requestTimeout, "the leader's log to be compacted past the batches", func() (bool, string) {
		leader = c.waitLeader(electionTimeout)
		first := firstLogIndex(t, leader)
		return first > batchesEnd, fmt.Sprintf("first entry %d, batches end at %d", first, batchesEnd)
	})
	restarted := c.others(leader)[0]
	testnode.WaitFor(t, requestTimeout, restarted.name+" to take a snapshot", func() (bool, string) {
		names := snapshotNames(restarted)
		return len(names) > 0, fmt.Sprint(names)
	})
	restarted.crash()
	restarted.start()
	restarted.mustBeReady()
	joined := c.add("node4", "-C", leader.raftAddr())
	if first := firstLogIndex(t, joined); first <= 1 {
		t.Fatalf("node4 was sent the whole log (its first entry is %d), not a snapshot", first)
	}

	indexes := make([]uint64, 0, len(byIndex))
	for index := range byIndex {
		indexes = append(indexes, index)
	}
	sort.Slice(indexes, func(a, b int) bool { return indexes[a] < indexes[b] })
	// The next write's index follows every acknowledged one on every member.
	last := c.set("/batch/after", "last")
	leader = c.waitLeader(electionTimeout)
	if last.Index <= indexes[len(indexes)-1] {
		t.Fatalf("a write after the batches got index %d, not above %d", last.Index, indexes[len(indexes)-1])
	}
	for _, m := range append(c.others(leader), leader) {
		testnode.WaitFor(t, requestTimeout, m.name+" to apply the last write", func() (bool, string) {
			r := m.do(http.MethodGet, "/v1/keys/batch/after", nil)
			return r.Status == http.StatusOK, r.String()
		})
		// A watch from a write's index gives that write, with that index.
		for _, index := range append(indexes, last.Index) {
			w, ok := byIndex[index]
			if !ok {
				w = write{key: "/batch/after", value: "last", index: last.Index}
			}
			r := m.do(http.MethodPost, "/v1/watch"+w.key, form("index", strconv.FormatUint(index, 10)))
			e := expectEvent(t, r)
			if e.Index != index || e.Value != w.value {
				t.Fatalf("%s (%s): the write to %s acknowledged at index %d is at index %d with value %q there",
					m.name, role(m, leader, restarted, joined), w.key, index, e.Index, e.Value)
			}
		}
	}
}

func role(m, leader, restarted, joined *node) string {
	switch m {
	case leader:
		return "the leader"
	case restarted:
		return "restarted"
	case joined:
		return "joined from a snapshot"
	}
	return "a follower"
}

// writesShareEntries reports whether the leader's store index ran ahead of
// its raft commit index, which only entries of several writes make it do.
func writesShareEntries(t *testing.T, leader *node) bool {
	t.Helper()
	index := leader.get("/batch/c0/w0").Index // a read gives the store's index
	return index > raftCommitIndex(t, leader)
}

// raftCommitIndex is the leader's raft commit index.
func raftCommitIndex(t *testing.T, leader *node) uint64 {
	t.Helper()
	commit, err := strconv.ParseUint(leader.peerText("/commitIndex"), 10, 64)
	if err != nil {
		t.Fatalf("commit index of %s: %v", leader.name, err)
	}
	return commit
}
