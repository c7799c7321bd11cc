package conformance

import (
	"bytes"
	"path"
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
		readme: "`PUT prevExist=true` on a directory (with `dir=true` or without",
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
		name:   "hidden keys in the history",
		readme: "a watch from the history over a hidden key",
		reason: "a watch answered from the history skips the events of hidden keys (a component starting with _ " +
			"below the watched key) here, as a live watch skips them: one rule, so that a watch sees the same events " +
			"whether they come from the history or live; 3.5's history answers them, only its live watchers skip them",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			r, ok := firstEvent(ref)
			if !o.watch || !ok || !hiddenBelow(o.key, r.key) {
				return false
			}
			s, ok := firstEvent(sub)
			return !ok || s.key != r.key
		},
	},
	{
		name:   "never-existing key under a deleted directory",
		readme: "a watch on a key that never existed, below a directory",
		reason: "a live watch on a key that never existed, below a directory then deleted or expired, is woken by the " +
			"directory's removal here; 3.5 wakes only the watches of keys that were in the tree. The key is gone " +
			"either way, and a watcher could not otherwise tell \"never existed\" from \"removed with its directory\"",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			s, ok := firstEvent(sub)
			return o.watch && !o.fromHistory && !ref.fired && ok && s.removesDir() && strictlyBelow(cleanKey(o.key), s.key)
		},
	},
	{
		name:   "directory removal sent twice",
		readme: "a stream on a directory that is removed",
		reason: "a stream on a directory gets the directory's delete or expire twice from 3.5 (once as the event of its " +
			"key, once as a removed node), a defect; once here",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			if !o.stream {
				return false
			}
			twice := 0
			for i := 1; i < len(ref.lines); i++ {
				if e, ok := eventOfLine(ref.lines[i]); ok && e.removesDir() && e.key == cleanKey(o.key) &&
					bytes.Equal(ref.lines[i], ref.lines[i-1]) {
					twice++
				}
			}
			return twice > 0 && len(ref.lines)-twice == len(sub.lines)
		},
	},
	{
		name:   "history prefix without the slash",
		readme: "the history of `/p/dx` after the directory `/p/d` is removed",
		reason: "3.5 answers a watch on /p/dx from its history with the removal of the directory /p/d: it matches the " +
			"directory as a prefix of the key's text, not of its path, a defect; not here",
		matches: func(o *op, ref, sub *answer, d difference) bool {
			r, ok := firstEvent(ref)
			key := cleanKey(o.key)
			if !o.watch || !ok || !r.removesDir() || r.key == "/" || key == r.key ||
				!strings.HasPrefix(key, r.key) || strings.HasPrefix(key, r.key+"/") {
				return false
			}
			s, ok := firstEvent(sub)
			return !ok || s.key != r.key
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

// event is what the known differences look at in an event.
type event struct {
	action, key string
	dir         bool
}

// removesDir reports whether e deletes or expires a directory.
func (e event) removesDir() bool {
	return e.dir && (e.action == "delete" || e.action == "expire")
}

// firstEvent is the event a watch answered first: a long poll's, or a
// stream's first line; false if none.
func firstEvent(a *answer) (event, bool) {
	if a.err != nil || a.status != 200 || !a.fired {
		return event{}, false
	}
	if a.lines != nil {
		if len(a.lines) == 0 {
			return event{}, false
		}
		return eventOfLine(a.lines[0])
	}
	return eventOfLine(a.body)
}

func eventOfLine(line []byte) (event, bool) {
	v, err := parseOrdered(bytes.TrimSpace(line))
	top, ok := v.(*object)
	if err != nil || !ok || top.obj("node") == nil {
		return event{}, false
	}
	node := top.obj("node")
	dir, _ := node.get("dir")
	return event{action: top.str("action"), key: cleanKey(node.str("key")), dir: dir == true}, true
}

// cleanKey is a key as events name it: "/" for the root, which they leave
// out.
func cleanKey(key string) string {
	if key == "" {
		return "/"
	}
	return path.Clean(key)
}

// strictlyBelow reports whether key is under dir in the tree.
func strictlyBelow(key, dir string) bool {
	dir = cleanKey(dir)
	return key != dir && strings.HasPrefix(key, strings.TrimSuffix(dir, "/")+"/")
}

// hiddenBelow reports whether key is under watched with a hidden component
// (one starting with _) below watched.
func hiddenBelow(watched, key string) bool {
	if !strictlyBelow(key, watched) {
		return false
	}
	rest := strings.TrimPrefix(key, strings.TrimSuffix(cleanKey(watched), "/")+"/")
	for _, part := range strings.Split(rest, "/") {
		if strings.HasPrefix(part, "_") {
			return true
		}
	}
	return false
}
