package faults

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// These check the harness's own parts on made-up inputs: the shapes of the
// partitions, the term watch, the snapshot count, the store comparison.

func TestPlanCut(t *testing.T) {
	const n = 5
	name := func(i int) string { return fmt.Sprintf("node%d", i+1) }
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 0))
		for _, kind := range partitionCycle {
			leader := rng.IntN(n)
			p := planCut(kind, leader, n, rng, name)
			peers := func(a int) int {
				k := 0
				for b := range n {
					if b != a && p.connected(a, b) {
						k++
					}
				}
				return k
			}
			keeps := p.leaderKeepsMajority(leader, n)
			switch kind {
			case oneWay:
				if len(p.blocked) != 1 || p.blocked[0][0] == p.blocked[0][1] {
					t.Errorf("%s: blocks %v, want one direction between two members", kind, p.blocked)
				}
			case leaderCutOne:
				if peers(leader) != n-2 || !keeps {
					t.Errorf("%s: the leader exchanges messages with %d members, want all but one (%v)", kind, peers(leader), p.blocked)
				}
			case bridge:
				bridges := 0
				for a := range n {
					switch peers(a) {
					case n - 1:
						bridges++
					case 2: // its half and the bridge
					default:
						t.Errorf("%s: %s exchanges messages with %d members (%v)", kind, name(a), peers(a), p.blocked)
					}
				}
				if bridges != 1 || !keeps {
					t.Errorf("%s: %d members join the halves, want 1; the leader keeps a majority: %v (%v)", kind, bridges, keeps, p.blocked)
				}
			case majoritiesRing:
				views := map[string]bool{}
				for a := range n {
					view := []int{a}
					for b := range n {
						if b != a && p.connected(a, b) {
							view = append(view, b)
						}
					}
					if len(view) <= n/2 {
						t.Errorf("%s: %s sees %v, no majority (%v)", kind, name(a), view, p.blocked)
					}
					sort.Ints(view)
					views[fmt.Sprint(view)] = true
				}
				if len(views) != n || !keeps {
					t.Errorf("%s: %d different majorities, want %d (%v)", kind, len(views), n, p.blocked)
				}
			case isolateOne:
				isolated := 0
				for a := range n {
					if peers(a) == 0 {
						isolated++
						if a == leader {
							t.Errorf("%s isolated the leader", kind)
						}
					}
				}
				if isolated != 1 || !keeps {
					t.Errorf("%s: %d members isolated, want 1 (%v)", kind, isolated, p.blocked)
				}
			case isolateTheLead:
				if peers(leader) != 0 || keeps {
					t.Errorf("%s: the leader exchanges messages with %d members (%v)", kind, peers(leader), p.blocked)
				}
			}
		}
	}
}

func TestTermWatchSeesTermsGoDown(t *testing.T) {
	m := &member{name: "node1"}
	tw := &termWatch{tl: &timeline{t: t, start: time.Now()}, members: []*member{m}, by: map[*member]*memberTerms{m: {}}}
	for i, term := range []uint64{3, 5, 4, 4, 6, 6, 2, 7} {
		tw.record(m, raftPosition{Term: term, LastLogTerm: term}, time.Duration(i)*time.Second)
	}
	down, n := tw.down()
	if n != 2 || len(down) != 2 {
		t.Fatalf("want 2 regressions (5 then 4, 6 then 2), got %d: %q", n, down)
	}
	if !strings.Contains(down[1], "term 2") || !strings.Contains(down[1], "after term 6") {
		t.Errorf("the second regression reads %q", down[1])
	}
	if term, last := tw.highest(); term != 7 || last != 7 {
		t.Errorf("highest: %d, %d; want 7, 7", term, last)
	}
}

func TestGrowthTable(t *testing.T) {
	gt := newGrowthTable()
	gt.add("a", termMark{3, 3}, termMark{5, 4})
	gt.add("b", termMark{5, 4}, termMark{5, 4})
	if rise := gt.add("a", termMark{5, 4}, termMark{9, 8}); rise != (termMark{4, 4}) {
		t.Errorf("rise %+v, want {4 4}", rise)
	}
	g := gt.by["a"]
	if g.count != 2 || g.term != 6 || g.maxTerm != 4 || g.lastLogTerm != 5 || g.maxLastLogTerm != 4 {
		t.Errorf("a: %+v", g)
	}
	if lines := gt.lines(); len(lines) != 2 || !strings.HasPrefix(lines[0], "a: 2, term +6") {
		t.Errorf("lines: %q", lines)
	}
}

func TestSnapshotClassify(t *testing.T) {
	dir := t.TempDir()
	m := &member{name: "node1", logPath: filepath.Join(dir, "node1.log")}
	log := strings.Join([]string{
		"2026/12/07 21:00:00.000000 raft: snapshot taken at index 100",
		"2026/12/07 21:00:01.000000 raft: leader is now \"node2\"",
		"2026/12/07 21:00:03.000000 raft: snapshot taken at index 700",
	}, "\n") + "\n"
	if err := os.WriteFile(m.logPath, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	sw := &snapshotWatch{members: []*member{m}, created: map[*member][]snapshotFile{m: {
		{at: 1 * time.Second, term: 1, index: 103}, // its own, taken at 100
		{at: 2 * time.Second, term: 2, index: 600}, // installed
		{at: 3 * time.Second, term: 2, index: 705}, // its own, taken at 700
		{at: 4 * time.Second, term: 3, index: 900}, // installed
	}}}
	events, err := sw.classify()
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, e := range events {
		got = append(got, e.installed)
	}
	if want := []bool{false, true, false, true}; !reflect.DeepEqual(got, want) {
		t.Fatalf("installed: %v, want %v", got, want)
	}
	if c := countSnapshots(events, 2*time.Second, 4*time.Second); c.taken != 1 || c.installed != 1 {
		t.Errorf("from 2s to 4s: %s; want 1 taken, 1 installed", c)
	}
}

func TestStoreComparison(t *testing.T) {
	set := func(index uint64, key, value string) testnode.Event {
		return testnode.Event{Action: "SET", Key: key, Value: value, Index: index}
	}
	history := []testnode.Event{
		set(1, "/a", "1"),
		set(2, "/d/b", "2"),
		set(3, "/a", "3"),
		{Action: "DELETE", Key: "/d", Index: 4},
		set(5, "/c", "5"),
	}
	state, err := replay(history)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]keyState{"/a": {"3", 3}, "/c": {"5", 5}}; !reflect.DeepEqual(state, want) {
		t.Errorf("replay: %v, want %v", state, want)
	}
	if diff := listingDiff(map[string]string{"/a": "3", "/c": "5", "/d": "<dir>"}, state, 10); len(diff) != 0 {
		t.Errorf("a listing that fits its history: %q", diff)
	}
	if diff := listingDiff(map[string]string{"/a": "3"}, state, 10); len(diff) != 1 {
		t.Errorf("a listing missing /c: %q", diff)
	}
	other := append([]testnode.Event(nil), history...)
	other[2].Index = 6
	if historyDiff(history, history) != "" || historyDiff(history, other) == "" || historyDiff(history, history[:4]) == "" {
		t.Error("historyDiff misses a difference of index or length, or finds one in equal histories")
	}
	if _, err := replay([]testnode.Event{{Action: "EXPIRE", Key: "/a", Index: 1}}); err == nil {
		t.Error("replay took a write these runs do not make")
	}
}
