package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// answer is what one side answered to one request.
type answer struct {
	status int
	header http.Header
	body   []byte
	lines  [][]byte // a streaming watch's events, one JSON line each
	err    error
	// sent and received bound when the side computed its answer: the
	// times in it are compared within their spread.
	sent, received time.Time
	// fired tells a watch that answered from one that was still waiting
	// when the test gave up on it.
	fired bool
}

func (a *answer) String() string {
	if a == nil {
		return "(nothing)"
	}
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d", a.status)
	for _, h := range comparedHeaders {
		if v := a.header.Get(h); v != "" {
			fmt.Fprintf(&b, " %s: %s;", h, v)
		}
	}
	for _, h := range presentHeaders {
		if v := a.header.Get(h); v != "" {
			fmt.Fprintf(&b, " %s: %s;", h, v)
		}
	}
	if a.lines != nil {
		for _, l := range a.lines {
			fmt.Fprintf(&b, "\n      %s", bytes.TrimRight(l, "\n"))
		}
		return b.String()
	}
	if !a.fired {
		b.WriteString(" (no event)")
		return b.String()
	}
	fmt.Fprintf(&b, " %q", shorten(a.body, 600))
	return b.String()
}

func shorten(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// Headers compared by value, and headers that must be present on both
// sides or on neither (their values are each cluster's own).
var (
	comparedHeaders = []string{"Content-Type", "Location", "Allow"}
	presentHeaders  = []string{"X-Etcd-Index", "X-Raft-Index", "X-Raft-Term", "X-Etcd-Cluster-Id", "Content-Length"}
)

// chunkedFrom is the size from which Go's server sends an answer whose
// handler set no Content-Length chunked.
const chunkedFrom = 2048

// difference is one way two answers differ. what names the class (where
// they differ, with the paths of JSON members but no array positions);
// detail says how.
type difference struct {
	what   string
	detail string
}

// Tolerances for what each side computes from its own clock, on top of
// the time between the first request's sending and the last answer's
// receipt (a side that answers later counts a TTL down further). A
// watch's event was computed at its write, whose spread is not known
// then: watchSlack stands for it.
const (
	expirationTolerance = time.Second
	ttlTolerance        = 1
	watchSlack          = 2 * time.Second
)

// comparer compares the reference's answers with the subject's, learning
// the pairing of their indexes as it goes.
type comparer struct {
	idx *indexMap
	// lastIndex is each side's last X-Etcd-Index outside watches, which
	// must never go back.
	lastIndex [2]uint64
	// slack is the current comparison's spread of answer times.
	slack time.Duration
}

func newComparer() *comparer { return &comparer{idx: newIndexMap()} }

// compare returns how sub differs from ref for the request o.
func (c *comparer) compare(o *op, ref, sub *answer) []difference {
	var out []difference
	add := func(what, format string, args ...any) {
		out = append(out, difference{what: what, detail: fmt.Sprintf(format, args...)})
	}
	if ref.err != nil || sub.err != nil {
		if (ref.err == nil) != (sub.err == nil) {
			add("transport", "reference: %v; here: %v", ref.err, sub.err)
		}
		return out
	}
	if ref.fired != sub.fired {
		add("watch fired", "reference answered: %v; here: %v", ref.fired, sub.fired)
		return out
	}
	if ref.status != sub.status {
		add("status", "%d, here %d", ref.status, sub.status)
	}
	for _, h := range comparedHeaders {
		if r, s := ref.header.Get(h), sub.header.Get(h); r != s && !(h == "Location" && c.locationsMatch(r, s)) {
			add("header "+h, "%q, here %q", r, s)
		}
	}
	for _, h := range presentHeaders {
		if h == "Content-Length" && (len(ref.body) >= chunkedFrom || len(sub.body) >= chunkedFrom) {
			// Neither sets it: Go's server does for a short answer, and
			// sends a long one chunked; the lengths differ with the indexes.
			continue
		}
		if r, s := ref.header.Get(h) != "", sub.header.Get(h) != ""; r != s {
			add("header "+h+" presence", "present in the reference: %v; here: %v", r, s)
		}
	}
	c.slack = watchSlack
	if !o.watch {
		last, first := ref.received, ref.sent
		if sub.received.After(last) {
			last = sub.received
		}
		if sub.sent.Before(first) {
			first = sub.sent
		}
		c.slack = last.Sub(first)
	}
	c.compareEtcdIndex(o, ref, sub, add)
	if o.stream {
		c.compareLines(o, ref, sub, add)
		return out
	}
	if !ref.fired {
		return out
	}
	if bytes.HasSuffix(ref.body, []byte("\n")) != bytes.HasSuffix(sub.body, []byte("\n")) {
		add("body newline", "the reference's ends in a newline: %v; here: %v", bytes.HasSuffix(ref.body, []byte("\n")), bytes.HasSuffix(sub.body, []byte("\n")))
	}
	c.compareBodies(o, "body", ref.body, sub.body, add)
	return out
}

func (c *comparer) compareEtcdIndex(o *op, ref, sub *answer, add func(string, string, ...any)) {
	rs, ss := ref.header.Get("X-Etcd-Index"), sub.header.Get("X-Etcd-Index")
	if rs == "" || ss == "" {
		return
	}
	r, err1 := strconv.ParseUint(rs, 10, 64)
	s, err2 := strconv.ParseUint(ss, 10, 64)
	if err1 != nil || err2 != nil {
		add("header X-Etcd-Index", "not a number: %q, here %q", rs, ss)
		return
	}
	if err := c.idx.current(r, s); err != nil {
		add("header X-Etcd-Index", "%v", err)
	}
	if o.watch || r == 0 || s == 0 {
		return
	}
	for side, v := range []uint64{r, s} {
		if v < c.lastIndex[side] {
			add("header X-Etcd-Index", "%s went back from %d to %d", sideNames[side], c.lastIndex[side], v)
		}
		c.lastIndex[side] = max(c.lastIndex[side], v)
	}
}

var sideNames = [2]string{"the reference", "this node"}

// locationsMatch compares redirect targets by path and query: the hosts
// differ.
func (c *comparer) locationsMatch(r, s string) bool {
	strip := func(u string) string {
		if i := strings.Index(u, "://"); i >= 0 {
			if j := strings.Index(u[i+3:], "/"); j >= 0 {
				return u[i+3+j:]
			}
		}
		return u
	}
	return strip(r) == strip(s)
}

func (c *comparer) compareLines(o *op, ref, sub *answer, add func(string, string, ...any)) {
	if len(ref.lines) != len(sub.lines) {
		add("stream events", "%d events, here %d", len(ref.lines), len(sub.lines))
	}
	for i := range min(len(ref.lines), len(sub.lines)) {
		c.compareBodies(o, "stream event", ref.lines[i], sub.lines[i], add)
	}
}

func (c *comparer) compareBodies(o *op, what string, rb, sb []byte, add func(string, string, ...any)) {
	rv, rerr := parseOrdered(rb)
	sv, serr := parseOrdered(sb)
	if rerr != nil || serr != nil {
		if !bytes.Equal(rb, sb) {
			add(what+" text", "%q, here %q", shorten(rb, 200), shorten(sb, 200))
		}
		return
	}
	dropSweepTTL(rv)
	dropSweepTTL(sv)
	c.walk(what, "", rv, sv, o.sorted, add)
}

// dropSweepTTL removes the ttl of an expire event's prevNode when it is not
// positive: it says how late the sweep came (3.5 sweeps every 500 ms, later
// on a loaded machine, and gave -2 one run in 5,000 operations against
// itself), not what the node was.
func dropSweepTTL(v any) {
	top, ok := v.(*object)
	if !ok || top.str("action") != "expire" {
		return
	}
	prev := top.obj("prevNode")
	if prev == nil {
		return
	}
	for i, k := range prev.keys {
		if k != "ttl" {
			continue
		}
		if n, ok := prev.vals[i].(json.Number); ok && !strings.HasPrefix(string(n), "-") && string(n) != "0" {
			return
		}
		prev.keys = append(prev.keys[:i:i], prev.keys[i+1:]...)
		prev.vals = append(prev.vals[:i:i], prev.vals[i+1:]...)
		return
	}
}

// walk compares two JSON values; field is the member name they are the
// value of, which says how they are compared.
func (c *comparer) walk(path, field string, r, s any, sorted bool, add func(string, string, ...any)) {
	switch field {
	case "modifiedIndex", "createdIndex", "index":
		rn, ok1 := r.(json.Number)
		sn, ok2 := s.(json.Number)
		ru, err1 := strconv.ParseUint(string(rn), 10, 64)
		su, err2 := strconv.ParseUint(string(sn), 10, 64)
		if !ok1 || !ok2 || err1 != nil || err2 != nil {
			add(path, "%v, here %v", r, s)
			return
		}
		check := c.idx.same
		if field == "index" { // an error's current index
			check = c.idx.current
		}
		if err := check(ru, su); err != nil {
			add(path, "%v", err)
		}
		return
	case "ttl":
		rn, ok1 := r.(json.Number)
		sn, ok2 := s.(json.Number)
		ri, err1 := strconv.ParseInt(string(rn), 10, 64)
		si, err2 := strconv.ParseInt(string(sn), 10, 64)
		tolerance := ttlTolerance + int64(math.Ceil(c.slack.Seconds()))
		if !ok1 || !ok2 || err1 != nil || err2 != nil || ri-si > tolerance || si-ri > tolerance {
			add(path, "%v, here %v", r, s)
		}
		return
	case "expiration":
		rs, ok1 := r.(jstring)
		ss, ok2 := s.(jstring)
		rt, err1 := time.Parse(time.RFC3339Nano, rs.s)
		st, err2 := time.Parse(time.RFC3339Nano, ss.s)
		if !ok1 || !ok2 || err1 != nil || err2 != nil || !strings.HasSuffix(ss.s, "Z") || rt.Sub(st).Abs() > expirationTolerance+c.slack {
			add(path, "%v, here %v", r, s)
		}
		return
	case "key":
		rs, ok1 := r.(jstring)
		ss, ok2 := s.(jstring)
		if !ok1 || !ok2 {
			add(path, "%v, here %v", r, s)
		} else if err := c.keysMatch(rs.s, ss.s); err != nil || rs.s == ss.s && rs.raw != ss.raw {
			add(path, "%s, here %s", rs.raw, ss.raw)
		}
		return
	case "cause":
		rs, ok1 := r.(jstring)
		ss, ok2 := s.(jstring)
		if !ok1 || !ok2 {
			add(path, "%v, here %v", r, s)
		} else if err := c.causesMatch(rs.s, ss.s); err != nil {
			add(path, "%q, here %q (%v)", rs.s, ss.s, err)
		}
		return
	}
	switch rv := r.(type) {
	case *object:
		sv, ok := s.(*object)
		if !ok {
			add(path, "an object, here %s", typeName(s))
			return
		}
		if !slices.Equal(rv.keys, sv.keys) {
			add(path+" members", "%v, here %v", rv.keys, sv.keys)
		}
		for i, k := range rv.keys {
			if v, ok := sv.get(k); ok {
				c.walk(path+"."+k, k, rv.vals[i], v, sorted, add)
			}
		}
	case []any:
		sv, ok := s.([]any)
		if !ok {
			add(path, "an array, here %s", typeName(s))
			return
		}
		if len(rv) != len(sv) {
			add(path+" length", "%d, here %d", len(rv), len(sv))
			return
		}
		if field == "nodes" && !sorted {
			// Go map order: the listing is a set.
			rv, sv = c.byKey(rv, false), c.byKey(sv, true)
		}
		for i := range rv {
			c.walk(path+"[]", "", rv[i], sv[i], sorted, add)
		}
	case jstring:
		if sv, ok := s.(jstring); !ok || sv.raw != rv.raw {
			add(path, "%s, here %s", show(r), show(s))
		}
	default:
		if fmt.Sprint(r) != fmt.Sprint(s) || typeName(r) != typeName(s) {
			add(path, "%s, here %s", show(r), show(s))
		}
	}
}

// show prints a JSON value as it was sent, roughly.
func show(v any) string {
	switch v := v.(type) {
	case jstring:
		return v.raw
	case *object:
		return fmt.Sprintf("an object %v", v.keys)
	case []any:
		return fmt.Sprintf("an array of %d", len(v))
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func typeName(v any) string {
	switch v.(type) {
	case *object:
		return "object"
	case []any:
		return "array"
	case jstring:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// byKey orders listed nodes by key, the subject's in-order names
// translated to the reference's first.
func (c *comparer) byKey(nodes []any, subject bool) []any {
	out := slices.Clone(nodes)
	key := func(v any) string {
		o, ok := v.(*object)
		if !ok {
			return ""
		}
		k := o.str("key")
		if subject {
			k = c.keyToRef(k)
		}
		return k
	}
	sort.SliceStable(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return out
}

func (c *comparer) keyToRef(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		if isIndexName(p) {
			n, _ := strconv.ParseUint(p, 10, 64)
			if r, ok := c.idx.toRef[n]; ok {
				parts[i] = fmt.Sprintf("%020d", r)
			}
		}
	}
	return strings.Join(parts, "/")
}

// keysMatch compares keys component by component, in-order names through
// the index pairing.
func (c *comparer) keysMatch(r, s string) error {
	rp, sp := strings.Split(r, "/"), strings.Split(s, "/")
	if len(rp) != len(sp) {
		return fmt.Errorf("%q, here %q", r, s)
	}
	for i := range rp {
		if isIndexName(rp[i]) && isIndexName(sp[i]) {
			rn, _ := strconv.ParseUint(rp[i], 10, 64)
			sn, _ := strconv.ParseUint(sp[i], 10, 64)
			if err := c.idx.same(rn, sn); err != nil {
				return err
			}
		} else if rp[i] != sp[i] {
			return fmt.Errorf("%q, here %q", r, s)
		}
	}
	return nil
}

var (
	historyCause = regexp.MustCompile(`^the requested history has been cleared \[(\d+)/(\d+)\]$`)
	compareCause = regexp.MustCompile(`\[(\d+) != (\d+)\]$`)
)

// causesMatch compares error causes, the indexes and keys in them through
// the pairing.
func (c *comparer) causesMatch(r, s string) error {
	if rm, sm := historyCause.FindStringSubmatch(r), historyCause.FindStringSubmatch(s); rm != nil && sm != nil {
		// [oldest held/requested]: the requested index is one the test
		// paired; the oldest held is checked, not learnt.
		rn, _ := strconv.ParseUint(rm[1], 10, 64)
		sn, _ := strconv.ParseUint(sm[1], 10, 64)
		if err := c.idx.check(rn, sn); err != nil {
			return fmt.Errorf("oldest held: %w", err)
		}
		return c.sameNumbers(rm[2:], sm[2:])
	}
	rm, sm := compareCause.FindStringSubmatchIndex(r), compareCause.FindStringSubmatchIndex(s)
	if rm != nil && sm != nil {
		if r[:rm[0]] != s[:sm[0]] {
			return fmt.Errorf("values differ")
		}
		return c.sameNumbers([]string{r[rm[2]:rm[3]], r[rm[4]:rm[5]]}, []string{s[sm[2]:sm[3]], s[sm[4]:sm[5]]})
	}
	if strings.HasPrefix(r, "/") && strings.HasPrefix(s, "/") {
		return c.keysMatch(r, s)
	}
	if r != s {
		return fmt.Errorf("differ")
	}
	return nil
}

func (c *comparer) sameNumbers(r, s []string) error {
	for i := range r {
		rn, _ := strconv.ParseUint(r[i], 10, 64)
		sn, _ := strconv.ParseUint(s[i], 10, 64)
		if err := c.idx.same(rn, sn); err != nil {
			return err
		}
	}
	return nil
}
