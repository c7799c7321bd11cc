package conformance

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

// These tests need no server: they check that the comparison finds what it
// must and forgives what it may, on answers shaped like etcd 3.5's.

func answerOf(status int, index string, body string) *answer {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("X-Etcd-Index", index)
	h.Set("X-Etcd-Cluster-Id", "1")
	h.Set("Content-Length", "1")
	if status < 400 {
		h.Set("X-Raft-Index", "9")
		h.Set("X-Raft-Term", "2")
	}
	return &answer{status: status, header: h, body: []byte(body + "\n"), fired: true}
}

const (
	refSet = `{"action":"set","node":{"key":"/q/00000000000000000006","value":"<&>","expiration":"2026-12-07T23:26:11.419343313Z","ttl":1383,"modifiedIndex":6,"createdIndex":6},"prevNode":{"key":"/q/00000000000000000006","value":"a","modifiedIndex":4,"createdIndex":4}}`
	// The same answer from a side whose indexes run ahead and whose clock
	// read a moment later.
	subSet  = `{"action":"set","node":{"key":"/q/00000000000000000011","value":"\u003c\u0026\u003e","expiration":"2026-12-07T23:26:12.1Z","ttl":1384,"modifiedIndex":11,"createdIndex":11},"prevNode":{"key":"/q/00000000000000000011","value":"a","modifiedIndex":8,"createdIndex":8}}`
	refList = `{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/a","value":"1","modifiedIndex":4,"createdIndex":4},{"key":"/d/b","value":"2","modifiedIndex":6,"createdIndex":6}],"modifiedIndex":3,"createdIndex":3}}`
	subList = `{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/b","value":"2","modifiedIndex":11,"createdIndex":11},{"key":"/d/a","value":"1","modifiedIndex":8,"createdIndex":8}],"modifiedIndex":5,"createdIndex":5}}`
	refErr  = `{"errorCode":101,"message":"Compare failed","cause":"[x != a] [4 != 6]","index":6}`
	subErr  = `{"errorCode":101,"message":"Compare failed","cause":"[x != a] [8 != 11]","index":12}`
)

// refSetEscaped is refSet as Go's encoder writes it.
var refSetEscaped = strings.NewReplacer(`"<&>"`, `"\u003c\u0026\u003e"`).Replace(refSet)

func TestComparerForgivesIndexesClocksAndListingOrder(t *testing.T) {
	c := newComparer()
	steps := []struct {
		o        *op
		ref, sub *answer
	}{
		{&op{kind: "set"}, answerOf(201, "6", refSetEscaped), answerOf(201, "11", subSet)},
		{&op{kind: "get"}, answerOf(200, "6", refList), answerOf(200, "12", subList)},
		{&op{kind: "cas"}, answerOf(412, "6", refErr), answerOf(412, "12", subErr)},
	}
	for _, s := range steps {
		if d := c.compare(s.o, s.ref, s.sub); len(d) != 0 {
			t.Errorf("%s: differences where there are none: %v", s.o.kind, d)
		}
	}
}

func TestComparerFindsEachKindOfDifference(t *testing.T) {
	// Each case alters the subject's answer in one way; the comparison
	// must name it.
	cases := []struct {
		name string
		o    *op
		ref  string
		sub  string
		alt  func(*answer)
		want string
	}{
		{"status", &op{}, refSetEscaped, subSet, func(a *answer) { a.status = 201 }, "status"},
		{"content type", &op{}, refSetEscaped, subSet, func(a *answer) { a.header.Set("Content-Type", "text/plain") }, "header Content-Type"},
		{"missing raft index", &op{}, refSetEscaped, subSet, func(a *answer) { a.header.Del("X-Raft-Index") }, "header X-Raft-Index presence"},
		{"member order", &op{}, refSetEscaped, strings.Replace(subSet, `"modifiedIndex":11,"createdIndex":11},"prevNode"`, `"createdIndex":11,"modifiedIndex":11},"prevNode"`, 1), nil, "body.node members"},
		{"value", &op{}, refSetEscaped, strings.Replace(subSet, `"value":"a"`, `"value":"b"`, 1), nil, "body.prevNode.value"},
		{"escaping", &op{}, refSetEscaped, strings.Replace(subSet, `"\u003c\u0026\u003e"`, `"<&>"`, 1), nil, "body.node.value"},
		{"ttl off by two", &op{}, refSetEscaped, strings.Replace(subSet, `"ttl":1384`, `"ttl":1385`, 1), nil, "body.node.ttl"},
		{"expiration off by five seconds", &op{}, refSetEscaped, strings.Replace(subSet, `23:26:12.1Z`, `23:26:16.5Z`, 1), nil, "body.node.expiration"},
		{"expiration not in UTC", &op{}, refSetEscaped, strings.Replace(subSet, `23:26:12.1Z`, `23:26:12.1+00:00`, 1), nil, "body.node.expiration"},
		{"index order", &op{}, refSetEscaped, strings.Replace(subSet, `"modifiedIndex":8,"createdIndex":8`, `"modifiedIndex":12,"createdIndex":12`, 1), nil, "body.prevNode.modifiedIndex"},
		{"in-order name", &op{}, refSetEscaped, strings.Replace(subSet, `/q/00000000000000000011","value":"\u003c`, `/q/11","value":"\u003c`, 1), nil, "body.node.key"},
		{"no newline", &op{}, refSetEscaped, subSet, func(a *answer) { a.body = a.body[:len(a.body)-1] }, "body newline"},
		{"listing", &op{}, refList, strings.Replace(subList, `"/d/a"`, `"/d/c"`, 1), nil, "body.node.nodes[].key"},
		{"listing order when sorted", &op{sorted: true}, refList, subList, nil, "body.node.nodes[].key"},
		{"compare cause", &op{}, refErr, strings.Replace(subErr, "[x != a]", "[x != b]", 1), nil, "body.cause"},
		{"watch fired on one side", &op{watch: true}, refSetEscaped, subSet, func(a *answer) { a.fired = false }, "watch fired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newComparer()
			// Teach the pairing first, as earlier operations would.
			c.compare(&op{}, answerOf(201, "6", refSetEscaped), answerOf(201, "11", subSet))
			c.compare(&op{}, answerOf(200, "6", refList), answerOf(200, "11", subList))
			ref := answerOf(200, "6", tc.ref)
			sub := answerOf(200, "12", tc.sub)
			if tc.alt != nil {
				tc.alt(sub)
			}
			diffs := c.compare(tc.o, ref, sub)
			for _, d := range diffs {
				if d.what == tc.want {
					return
				}
			}
			t.Errorf("want a difference in %q, got %v", tc.want, diffs)
		})
	}
}

func TestExpireEventsLateSweepIsForgiven(t *testing.T) {
	c := newComparer()
	ref := answerOf(200, "7", `{"action":"expire","node":{"key":"/k","modifiedIndex":7,"createdIndex":6},"prevNode":{"key":"/k","value":"v","expiration":"2026-12-07T23:27:46.48Z","modifiedIndex":6,"createdIndex":6}}`)
	late := answerOf(200, "9", `{"action":"expire","node":{"key":"/k","modifiedIndex":9,"createdIndex":8},"prevNode":{"key":"/k","value":"v","expiration":"2026-12-07T23:27:46.48Z","ttl":-2,"modifiedIndex":8,"createdIndex":8}}`)
	if d := c.compare(&op{watch: true}, ref, late); len(d) != 0 {
		t.Errorf("a late sweep's ttl counted: %v", d)
	}
	alive := answerOf(200, "9", strings.Replace(string(late.body), `"ttl":-2`, `"ttl":5`, 1))
	if d := c.compare(&op{watch: true}, ref, alive); len(d) == 0 {
		t.Errorf("an expired node with 5 s to live passed")
	}
}

func TestIndexMapKeepsOrder(t *testing.T) {
	m := newIndexMap()
	for _, p := range [][2]uint64{{5, 9}, {7, 14}, {6, 10}} {
		if err := m.same(p[0], p[1]); err != nil {
			t.Fatalf("pair %v: %v", p, err)
		}
	}
	for _, bad := range [][2]uint64{{5, 10}, {8, 12}, {4, 11}, {6, 11}} {
		if err := m.same(bad[0], bad[1]); err == nil {
			t.Errorf("pair %v accepted against %v", bad, m.pairs)
		}
	}
	// A current index may run past the last event (failed writes take an
	// index here) but not past the next one.
	if err := m.current(7, 16); err != nil {
		t.Errorf("current 7/16: %v", err)
	}
	if err := m.current(6, 14); err == nil {
		t.Errorf("current 6/14 accepted: 14 is reference 7's pair")
	}
	if err := m.current(0, 3); err == nil {
		t.Errorf("current 0/3 accepted")
	}
}

// TestKnownDifferencesAreInTheREADME: every difference the comparison
// forgives has its reason here and is listed in the README's v2 section.
func TestKnownDifferencesAreInTheREADME(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## The v2 API")
	if start < 0 {
		t.Fatal("README.md has no \"## The v2 API\" section")
	}
	section = section[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	seen := map[string]bool{}
	for _, k := range knownDifferences {
		if k.name == "" || len(k.reason) < 40 || seen[k.name] {
			t.Errorf("known difference %q: each needs a unique name and its reason", k.name)
		}
		seen[k.name] = true
		if k.readme == "" || !strings.Contains(section, k.readme) {
			t.Errorf("known difference %q: the README's v2 section does not list it (looked for %q)", k.name, k.readme)
		}
	}
}
