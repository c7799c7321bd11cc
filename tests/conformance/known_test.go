package conformance

import (
	"bytes"
	"strings"
)

// knownDifference is a difference from etcd 3.5 that this node makes on
// purpose. The README's v2 section lists the same, with the same reasons.
type knownDifference struct {
	name    string
	reason  string
	matches func(o *op, ref, sub *answer, d difference) bool
}

var knownDifferences = []knownDifference{
	{
		name: "directory update",
		reason: "PUT prevExist=true (dir=true or not) or refresh=true, with a ttl, an empty ttl or an empty value, " +
			"on a directory: 3.5 answers 500, error 300, cause \"nodePath … : Not a file ()\", a regression; this " +
			"node updates the directory (its TTL, its modifiedIndex) as 2.3 did, which etcdctl update-dir and " +
			"python-etcd's update() and refresh() of a directory rely on. The directory then differs on later reads",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			switch o.kind {
			case "dir-ttl-update", "dir-update":
				return ref.status == 500 && bytes.Contains(ref.body, []byte(": Not a file ()"))
			case "dir-ttl-get":
				return strings.HasPrefix(d.what, "body.node")
			}
			return false
		},
	},
	{
		name: "stream after history",
		reason: "a streaming watch whose first event comes from the history: 3.5 sends that event and then " +
			"nothing more (its watcher is never registered); this node keeps sending, as a stream is meant to",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return o.kind == "watch-stream-history" && d.what == "stream events" && len(ref.lines) == 1 && len(sub.lines) > 1
		},
	},
	{
		name: "/version",
		reason: "v1's text answer (\"etcd v0.1.x\") stays the answer to a plain GET /version; client/v2's " +
			"query (quorum, recursive, sorted) gets the JSON object, with this node's own version numbers",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			switch o.kind {
			case "version-plain":
				return true
			case "version-client":
				return d.what == "body.etcdserver" || d.what == "body.etcdcluster"
			}
			return false
		},
	},
}

// knownDifferenceOf returns the known difference d is an instance of, or
// nil.
func knownDifferenceOf(o *op, ref, sub *answer, d difference) *knownDifference {
	for i := range knownDifferences {
		if knownDifferences[i].matches(o, ref, sub, d) {
			return &knownDifferences[i]
		}
	}
	return nil
}
