package conformance

import (
	"bytes"
	"strings"
)

// knownDifference is a difference from etcd 3.5 that this node makes on
// purpose. The README's v2 section lists the same, with the same reasons.
type knownDifference struct {
	name   string
	reason string
	// readme is the text of the README's v2 section that lists it.
	readme string
	// matches is nil for a difference the comparison absorbs (the pairing
	// of indexes does): it is listed, never counted.
	matches func(o *op, ref, sub *answer, d difference) bool
}

var knownDifferences = []knownDifference{
	{
		name:   "failed writes take an index",
		readme: "a failed write (412, 403, 404",
		reason: "a write that fails (412, 403, 404…) takes an index here, as each log entry does (v1's answers " +
			"count on it); 3.5's do not. Indexes are paired, not subtracted, so this shows nowhere",
	},
	{
		name:   "X-Etcd-Index of a store error",
		readme: "`X-Etcd-Index` of a store error",
		reason: "the store's index when the error is answered, here; 3.5's index at the error. Both are checked " +
			"to fall between the same two paired events",
	},
	{
		name:   "directory update",
		readme: "`PUT dir=true&ttl=N&prevExist=true` on a directory",
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
		name:   "stream after history",
		readme: "a streaming watch whose first event comes from the history",
		reason: "a streaming watch whose first event comes from the history: 3.5 sends that event and then " +
			"nothing more (its watcher is never registered); this node keeps sending, as a stream is meant to",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return o.kind == "watch-stream-history" && d.what == "stream events" && len(ref.lines) == 1 && len(sub.lines) > 1
		},
	},
	{
		name:   "history length",
		readme: "history for `waitIndex`",
		reason: "the history that waitIndex reaches holds the last -m changes here (1024 by default; one history " +
			"serves v1 and v2), 1000 on 3.5: an index 1000 to 1023 changes old is answered from the history here, " +
			"401 there, and a 401's cause names a different oldest index",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return (o.kind == "watch-cleared" || o.kind == "watch-history-edge") &&
				bytes.Contains(ref.body, []byte(`"errorCode":401`))
		},
	},
	{
		name:   "unclean path",
		readme: "a path that is not clean",
		reason: "a path that is not clean (/v2/keys//a, /v2/keys/./a) is redirected to its clean form with 301 " +
			"for GET and HEAD and 308 for writes, without a body, as v1's are: one rule for the whole port; " +
			"3.5 (Go's ServeMux) answers 307 with a small HTML body",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return o.kind == "path-form" && ref.status == 307
		},
	},
	{
		name:   "reserved keys",
		readme: "keys under `/_etcd` and `/ephemeralNodes`",
		reason: "keys under /_etcd and /ephemeralNodes are refused here (error 106): the cluster keeps its " +
			"members there, as in v1; 3.5 keeps its own keys outside the tree and takes them",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return o.kind == "reserved-key"
		},
	},
	{
		name:   "value bytes",
		readme: "| keys and values |",
		reason: "a value that is not UTF-8 is refused here, as v1 refuses it: JSON cannot carry other bytes " +
			"unchanged and every member must take every entry; 3.5 stores it and sends U+FFFD",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return o.kind == "value-not-utf8"
		},
	},
	{
		name:   "OPTIONS and CORS",
		readme: "`OPTIONS`, CORS",
		reason: "OPTIONS and CORS headers follow -cors as v1's do (none by default); 3.5 defaults to " +
			"--cors='*' and answers OPTIONS 200 on any path",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			return o.method == "OPTIONS"
		},
	},
	{
		name:   "/version",
		readme: "`/version` answers v1's text",
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
		if m := knownDifferences[i].matches; m != nil && m(o, ref, sub, d) {
			return &knownDifferences[i]
		}
	}
	return nil
}
