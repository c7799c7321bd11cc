package conformance

import (
	"testing"
)

// TestKnownDifferencesRecogniseTheirCases: each listed difference of
// watches recognises the answers of the runs that showed it (trimmed), and
// nothing close to them that would be a regression.
func TestKnownDifferencesRecogniseTheirCases(t *testing.T) {
	const (
		hiddenDelete = `{"action":"delete","node":{"key":"/a/_h","dir":true,"modifiedIndex":170,"createdIndex":24},"prevNode":{"key":"/a/_h","dir":true,"modifiedIndex":24,"createdIndex":24}}`
		hiddenExpire = `{"action":"expire","node":{"key":"/t/_k13","modifiedIndex":252,"createdIndex":251},"prevNode":{"key":"/t/_k13","value":"pxw","modifiedIndex":251,"createdIndex":251}}`
		endSet       = `{"action":"set","node":{"key":"/end","value":"end520","modifiedIndex":335,"createdIndex":335}}`
		tEndSet      = `{"action":"set","node":{"key":"/t/end","value":"end791","modifiedIndex":501,"createdIndex":501}}`
		rootDirGone  = `{"action":"delete","node":{"key":"/_h","dir":true,"modifiedIndex":70,"createdIndex":4},"prevNode":{"key":"/_h","dir":true,"modifiedIndex":4,"createdIndex":4}}`
		p2dGone      = `{"action":"delete","node":{"key":"/p2/d","dir":true,"modifiedIndex":28,"createdIndex":26},"prevNode":{"key":"/p2/d","dir":true,"modifiedIndex":26,"createdIndex":26}}`
		aGone        = `{"action":"delete","node":{"key":"/a","dir":true,"modifiedIndex":822,"createdIndex":6},"prevNode":{"key":"/a","dir":true,"modifiedIndex":6,"createdIndex":6}}`
		abGone       = `{"action":"delete","node":{"key":"/ab","dir":true,"modifiedIndex":1246,"createdIndex":214},"prevNode":{"key":"/ab","dir":true,"modifiedIndex":214,"createdIndex":214}}`
		abSet        = `{"action":"set","node":{"key":"/ab","value":"x","modifiedIndex":1248,"createdIndex":1248}}`
		abFileGone   = `{"action":"delete","node":{"key":"/ab","modifiedIndex":1246,"createdIndex":214},"prevNode":{"key":"/ab","value":"x","modifiedIndex":214,"createdIndex":214}}`
	)
	fired := func(body string) *answer { return answerOf(200, "9", body) }
	waiting := func() *answer { a := answerOf(200, "9", ""); a.fired, a.body = false, nil; return a }
	stream := func(lines ...string) *answer {
		a := answerOf(200, "9", "")
		a.body = nil
		a.lines = [][]byte{}
		for _, l := range lines {
			a.lines = append(a.lines, []byte(l+"\n"))
		}
		return a
	}
	history := func(key string) *op {
		return &op{kind: "watch-history", method: "GET", key: key, watch: true, fromHistory: true}
	}
	live := &op{kind: "watch-next-index", method: "GET", key: "/_h/ab/a", watch: true}
	streamOn := func(key string) *op {
		return &op{kind: "watch-stream", method: "GET", key: key, watch: true, stream: true}
	}
	d := difference{what: "body.node.key"}
	cases := []struct {
		what     string
		o        *op
		ref, sub *answer
		want     string // the known difference's name; "" for none
	}{
		{"hidden dir's delete, the next event here", history("/"), fired(hiddenDelete), fired(endSet), "hidden keys in the history"},
		{"hidden key's expiry, nothing yet here", history("/t"), fired(hiddenExpire), waiting(), "hidden keys in the history"},
		{"hidden first in a stream from the history", &op{kind: "watch-stream-history", key: "/", watch: true, stream: true, fromHistory: true},
			stream(hiddenExpire), stream(tEndSet, endSet), "hidden keys in the history"},
		{"a watch of the hidden key itself is no such case", history("/t/_k13"), fired(hiddenExpire), fired(tEndSet), ""},
		{"a visible key's event is no such case", history("/"), fired(endSet), fired(tEndSet), ""},

		{"never-existing key under a removed dir", live, waiting(), fired(rootDirGone), "never-existing key under a deleted directory"},
		{"a file's delete is no such case", live, waiting(), fired(abFileGone), ""},
		{"an answer from the history is no such case", history("/_h/ab/a"), waiting(), fired(rootDirGone), ""},
		{"both woken is no such case", live, fired(rootDirGone), fired(endSet), ""},

		{"a dir's delete twice", streamOn("/ab"), stream(abGone, abGone, abSet), stream(abGone, abSet), "directory removal sent twice"},
		{"twice, and an event missing here", streamOn("/ab"), stream(abGone, abGone, abSet), stream(abGone), ""},
		{"twice on another stream's key", streamOn("/"), stream(abGone, abGone, abSet), stream(abGone, abSet), ""},

		{"/p2/d's delete for /p2/dx", history("/p2/dx"), fired(p2dGone), waiting(), "history prefix without the slash"},
		{"/a's delete for /ab/c/b", history("/ab/c/b"), fired(aGone), fired(abSet), "history prefix without the slash"},
		{"/a's delete for /a/b is the rule", history("/a/b"), fired(aGone), waiting(), ""},
	}
	for _, c := range cases {
		got := ""
		if k := knownDifferenceOf(c.o, c.ref, c.sub, d); k != nil {
			got = k.name
		}
		if got != c.want {
			t.Errorf("%s: known as %q, want %q", c.what, got, c.want)
		}
	}
}
