package conformance

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
)

// generator draws random v2 operations from a seed, steered by what the
// model knows of the reference's keys.
type generator struct {
	rng    *rand.Rand
	r      *runner
	unique int // names keys no other operation uses
}

func newGenerator(seed uint64, r *runner) *generator {
	return &generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), r: r}
}

// step builds an operation when its turn comes (from what the earlier
// steps' answers taught the model); nil skips it.
type step func() *op

// history is the reference's: the test asks for events older than it only
// when they are well out of it.
const history = 1000

// names are the key components; "_h" is hidden from listings, and "ab"
// shares a prefix with "a" (3.5's history matches a removed directory
// /a to a watcher on /ab).
var names = []string{"a", "b", "c", "_h", "ab"}

var values = []string{"x", "yy", "", "hello world", "<&>", "héllo", "a+b=c", "50%", `q"uote`, "tab\tnl\n"}

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

func (g *generator) pick(s []string) string { return s[g.rng.IntN(len(s))] }

func (g *generator) freshKey() string {
	depth := 1 + g.rng.IntN(3)
	var b strings.Builder
	for range depth {
		b.WriteString("/" + g.pick(names))
	}
	return b.String()
}

func (g *generator) value() string {
	if g.chance(0.4) {
		return g.pick(values)
	}
	n := 1 + g.rng.IntN(8)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + g.rng.IntN(26))
	}
	return string(b)
}

func (g *generator) trueWord() string {
	return g.pick([]string{"true", "true", "true", "1", "t", "T", "TRUE", "True"})
}

func (g *generator) falseWord() string {
	return g.pick([]string{"false", "false", "0", "f", "F", "FALSE", "False"})
}

func (g *generator) longTTL() string { return fmt.Sprint(600 + g.rng.IntN(3000)) }

// known picks a key the model holds that passes keep, or "" if none does.
func (g *generator) known(keep func(*modelNode) bool) string {
	keys := g.r.model.keys(keep)
	if len(keys) == 0 {
		return ""
	}
	return g.pick(keys)
}

func anyNode(*modelNode) bool      { return true }
func isFile(n *modelNode) bool     { return !n.dir }
func isDir(n *modelNode) bool      { return n.dir }
func hasTTLFile(n *modelNode) bool { return !n.dir && n.ttl }

func (g *generator) key() string {
	if g.chance(0.55) {
		if k := g.known(anyNode); k != "" {
			return k
		}
	}
	return g.freshKey()
}

func (g *generator) file() string {
	if g.chance(0.8) {
		if k := g.known(isFile); k != "" {
			return k
		}
	}
	return g.freshKey()
}

func (g *generator) dir() string {
	if g.chance(0.8) {
		if k := g.known(isDir); k != "" {
			return k
		}
	}
	return g.freshKey()
}

// place puts a PUT or POST parameter in the form body or the query, as
// clients do both (client/v2 sends value and ttl in the body, the
// conditions in the query).
func (g *generator) place(o *op, p param) {
	if g.chance(0.3) {
		o.query = append(o.query, p)
	} else {
		o.form = append(o.form, p)
	}
}

func (g *generator) otherIndex() uint64 {
	ev := g.r.model.events
	if len(ev) == 0 {
		return 0
	}
	// Recent events: the subject knows their pairing.
	return ev[len(ev)-1-g.rng.IntN(min(len(ev), 200))].index
}

type weighted struct {
	weight float64
	make   func() []step
}

func one(o *op) []step { return []step{func() *op { return o }} }

// next draws one operation, or a short sequence that belongs together.
func (g *generator) next() []step {
	table := []weighted{
		{14, g.set}, {5, g.create}, {6, g.update}, {8, g.cas}, {5, g.cad},
		{7, g.delete}, {3, g.refresh}, {1.2, g.shortTTL}, {5, g.post},
		{10, g.get}, {3, g.head}, {5, g.watchHistory}, {4, g.watchLater},
		{0.8, g.watchCleared}, {0.6, g.watchStream}, {0.2, g.watchStreamHistory},
		{0.5, g.watchQuorum}, {6, g.badParam}, {1, g.rootWrite}, {2, g.pathForm},
		{3, g.noValue}, {0.3, g.method}, {0.3, g.version}, {2, g.throughFile},
		{0.2, g.siblingPrefix},
	}
	total := 0.0
	for _, w := range table {
		total += w.weight
	}
	x := g.rng.Float64() * total
	for _, w := range table {
		if x < w.weight {
			return w.make()
		}
		x -= w.weight
	}
	return nil
}

func (g *generator) set() []step {
	o := &op{kind: "set", method: http.MethodPut, key: g.key()}
	if g.chance(0.12) {
		o.kind = "set-dir"
		g.place(o, param{name: "dir", value: g.trueWord()})
		if g.chance(0.3) {
			g.place(o, param{name: "value", value: g.value()})
		}
	} else {
		g.place(o, param{name: "value", value: g.value()})
	}
	switch {
	case g.chance(0.15):
		g.place(o, param{name: "ttl", value: g.longTTL()})
	case g.chance(0.08):
		o.kind += "-ttl-clear"
		g.place(o, param{name: "ttl", value: ""})
	}
	if g.chance(0.05) {
		// The body wins over the query.
		o.kind = "set-query-and-body"
		o.query = append(o.query, param{name: "value", value: "fromquery"})
		o.form = append(o.form, param{name: "value", value: "frombody"})
	}
	if g.chance(0.04) {
		// For a repeated name, the first value counts.
		o.kind = "set-repeated"
		o.query = append(o.query, param{name: "value", value: "first"}, param{name: "value", value: "second"})
	}
	return one(o)
}

func (g *generator) create() []step {
	o := &op{kind: "create", method: http.MethodPut, key: g.key()}
	o.query = append(o.query, param{name: "prevExist", value: g.falseWord()})
	if g.chance(0.2) {
		o.kind = "create-dir"
		g.place(o, param{name: "dir", value: g.trueWord()})
	} else {
		g.place(o, param{name: "value", value: g.value()})
	}
	if g.chance(0.15) {
		g.place(o, param{name: "ttl", value: g.longTTL()})
	}
	if g.chance(0.1) {
		// prevIndex with prevExist=false is a plain create.
		if i := g.otherIndex(); i != 0 {
			o.query = append(o.query, param{name: "prevIndex", index: i})
		}
	}
	return one(o)
}

func (g *generator) update() []step {
	o := &op{kind: "update", method: http.MethodPut, key: g.file()}
	if g.chance(0.1) {
		o.key = g.key()
	}
	o.query = append(o.query, param{name: "prevExist", value: g.trueWord()})
	g.place(o, param{name: "value", value: g.value()})
	switch {
	case g.chance(0.3):
		g.place(o, param{name: "ttl", value: g.longTTL()})
	case g.chance(0.2):
		o.kind = "update-ttl-clear"
		if k := g.known(hasTTLFile); k != "" {
			o.key = k
		}
		g.place(o, param{name: "ttl", value: ""})
	}
	return one(o)
}

func (g *generator) cas() []step {
	o := &op{kind: "cas", method: http.MethodPut}
	g.compareOn(o)
	g.place(o, param{name: "value", value: g.value()})
	if g.chance(0.3) {
		o.query = append(o.query, param{name: "prevExist", value: g.trueWord()})
	} else if g.chance(0.05) {
		o.kind = "cas-prevexist-false"
		o.query = append(o.query, param{name: "prevExist", value: g.falseWord()})
	}
	if g.chance(0.1) {
		g.place(o, param{name: "ttl", value: g.longTTL()})
	}
	return one(o)
}

// compareOn picks the key and the prevValue/prevIndex conditions of a
// compare-and-swap or compare-and-delete, right or wrong.
func (g *generator) compareOn(o *op) {
	switch x := g.rng.Float64(); {
	case x < 0.75:
		o.key = g.file()
	case x < 0.87:
		o.key = g.dir()
	default:
		o.key = g.freshKey()
	}
	n := g.r.model.nodes[o.key]
	byValue, byIndex := g.chance(0.6), g.chance(0.5)
	if !byValue && !byIndex {
		byValue = true
	}
	if byValue {
		v := "nope"
		if n != nil && !n.dir && g.chance(0.65) && n.value != "" {
			v = n.value
		}
		o.query = append(o.query, param{name: "prevValue", value: v})
	}
	if byIndex {
		i := g.otherIndex()
		if n != nil && n.mod != 0 && g.chance(0.65) {
			i = n.mod
		}
		if i != 0 {
			o.query = append(o.query, param{name: "prevIndex", index: i})
		}
	}
}

func (g *generator) cad() []step {
	o := &op{kind: "cad", method: http.MethodDelete}
	g.compareOn(o)
	return one(o)
}

func (g *generator) delete() []step {
	o := &op{kind: "delete", method: http.MethodDelete}
	switch x := g.rng.Float64(); {
	case x < 0.4:
		o.key = g.file()
		if g.chance(0.15) {
			o.kind = "delete-file-dir-flag"
			o.query = append(o.query, param{name: "dir", value: g.trueWord()})
		}
	case x < 0.85:
		o.key = g.dir()
		switch y := g.rng.Float64(); {
		case y < 0.2:
			o.kind = "delete-dir-no-flag"
		case y < 0.55:
			o.kind = "delete-dir"
			o.query = append(o.query, param{name: "dir", value: g.trueWord()})
		case y < 0.9:
			o.kind = "delete-recursive"
			o.query = append(o.query, param{name: "recursive", value: g.trueWord()})
		default:
			o.kind = "delete-recursive-in-body"
			// DELETE bodies are not read: this is a delete without flags.
			o.form = append(o.form, param{name: "recursive", value: "true"})
		}
	default:
		o.key = g.freshKey() + "/" + g.pick(names)
		o.kind = "delete-missing"
	}
	return one(o)
}

func (g *generator) refresh() []step {
	o := &op{kind: "refresh", method: http.MethodPut, key: g.file()}
	if k := g.known(hasTTLFile); k != "" && g.chance(0.5) {
		o.key = k
	}
	if g.chance(0.1) {
		o.key = g.freshKey() + "/" + g.pick(names)
		o.kind = "refresh-missing"
	}
	g.place(o, param{name: "refresh", value: g.trueWord()})
	g.place(o, param{name: "ttl", value: g.longTTL()})
	switch x := g.rng.Float64(); {
	case x < 0.4:
		o.query = append(o.query, param{name: "prevExist", value: g.trueWord()})
	case x < 0.55:
		if n := g.r.model.nodes[o.key]; n != nil && n.value != "" {
			o.query = append(o.query, param{name: "prevValue", value: n.value})
		}
	}
	if g.chance(0.3) {
		// client/v2 sends an empty value with a refresh.
		o.form = append(o.form, param{name: "value", value: ""})
	}
	return one(o)
}

// shortTTL writes a key (or a directory with a child) that runs out in a
// second or less, waits until it has on both sides, and asks for its
// expire event from history.
func (g *generator) shortTTL() []step {
	g.unique++
	key := fmt.Sprintf("/t/%s%d", g.pick([]string{"k", "_k"}), g.unique)
	ttl := g.pick([]string{"0", "1", "1", "2", "18446744073709551615"})
	watchKey := key
	var steps []step
	if g.chance(0.3) {
		child := key + "/c"
		watchKey = child
		steps = append(steps,
			func() *op {
				return &op{kind: "ttl-short-dir", method: http.MethodPut, key: key, form: []param{{name: "dir", value: "true"}, {name: "ttl", value: g.pick([]string{"1", "2"})}}}
			},
			func() *op {
				return &op{kind: "ttl-short-dir-child", method: http.MethodPut, key: child, form: []param{{name: "value", value: g.value()}}, awaitGone: key}
			})
	} else {
		steps = append(steps, func() *op {
			return &op{kind: "ttl-short", method: http.MethodPut, key: key, form: []param{{name: "value", value: g.value()}, {name: "ttl", value: ttl}}, awaitGone: key}
		})
	}
	var since uint64
	steps = append(steps, func() *op {
		since = g.r.model.lastWrite
		if since == 0 {
			return nil
		}
		return &op{kind: "watch-expired", method: http.MethodGet, key: watchKey, watch: true, fromHistory: true,
			query: []param{{name: "wait", value: "true"}, {name: "waitIndex", index: since, after: true}}}
	})
	return steps
}

// siblingPrefix removes a directory /pN/d and then asks the history of
// /pN/dx, a key beside it whose name starts with the directory's: 3.5's
// history takes the removal for an event of /pN/dx.
func (g *generator) siblingPrefix() []step {
	g.unique++
	dir := fmt.Sprintf("/p%d/d", g.unique)
	sibling := dir + "x"
	var since uint64
	return []step{
		func() *op {
			return &op{kind: "sibling-setup", method: http.MethodPut, key: dir + "/k", form: []param{{name: "value", value: "x"}}}
		},
		func() *op {
			return &op{kind: "sibling-setup", method: http.MethodPut, key: sibling, form: []param{{name: "value", value: "y"}}}
		},
		func() *op {
			since = g.r.model.lastWrite
			return &op{kind: "delete-recursive", method: http.MethodDelete, key: dir, query: []param{{name: "recursive", value: "true"}}}
		},
		func() *op {
			if since == 0 {
				return nil
			}
			return &op{kind: "watch-sibling-prefix", method: http.MethodGet, key: sibling, watch: true, fromHistory: true,
				query: []param{{name: "wait", value: "true"}, {name: "waitIndex", index: since, after: true}}}
		},
	}
}

func (g *generator) post() []step {
	o := &op{kind: "post", method: http.MethodPost}
	switch x := g.rng.Float64(); {
	case x < 0.45:
		o.key = g.pick([]string{"/q", "/a/q", "/_h/q"})
	case x < 0.55:
		o.key = "/"
		o.kind = "post-root"
	case x < 0.8:
		o.key = g.dir()
	default:
		o.key = g.file()
		o.kind = "post-under-file"
	}
	if g.chance(0.1) {
		o.kind = "post-dir"
		g.place(o, param{name: "dir", value: g.trueWord()})
	} else {
		g.place(o, param{name: "value", value: g.value()})
	}
	if g.chance(0.2) {
		g.place(o, param{name: "ttl", value: g.longTTL()})
	}
	if g.chance(0.05) {
		// Conditions mean nothing to a POST.
		o.query = append(o.query, param{name: "prevExist", value: "true"}, param{name: "prevValue", value: "nope"})
	}
	return one(o)
}

func (g *generator) readOp(kind, method string) *op {
	o := &op{kind: kind, method: method, key: g.key()}
	switch x := g.rng.Float64(); {
	case x < 0.1:
		o.key = "/"
	case x < 0.35:
		if k := g.known(isDir); k != "" {
			o.key = k
		}
	case x < 0.42:
		o.key = g.freshKey() + "/" + g.pick(names)
	}
	if g.chance(0.4) {
		o.query = append(o.query, param{name: "recursive", value: g.trueWord()})
	} else if g.chance(0.1) {
		o.query = append(o.query, param{name: "recursive", value: g.falseWord()})
	}
	if g.chance(0.4) {
		o.sorted = true
		o.query = append(o.query, param{name: "sorted", value: g.trueWord()})
	}
	if g.chance(0.2) {
		o.query = append(o.query, param{name: "quorum", value: g.trueWord()})
	}
	return o
}

func (g *generator) get() []step  { return one(g.readOp("get", http.MethodGet)) }
func (g *generator) head() []step { return one(g.readOp("head", http.MethodHead)) }

// watchHistory asks for an event of the reference's recent history, on
// its key, an ancestor (recursive) or another key.
func (g *generator) watchHistory() []step {
	ev := g.r.model.events
	if len(ev) == 0 {
		return g.watchLater()
	}
	e := ev[len(ev)-1-g.rng.IntN(min(len(ev), 300))]
	if g.r.current[0]-e.index > history-100 {
		return g.watchLater()
	}
	o := &op{kind: "watch-history", method: http.MethodGet, key: e.key, watch: true, fromHistory: true}
	switch x := g.rng.Float64(); {
	case x < 0.4:
	case x < 0.7:
		o.key = parentOf(e.key)
		o.query = append(o.query, param{name: "recursive", value: g.trueWord()})
	case x < 0.85:
		o.key = "/"
		o.query = append(o.query, param{name: "recursive", value: g.trueWord()})
	default:
		o.key = g.key()
		if g.chance(0.5) {
			o.query = append(o.query, param{name: "recursive", value: g.trueWord()})
		}
	}
	o.query = append(o.query, param{name: "wait", value: g.trueWord()}, param{name: "waitIndex", index: e.index})
	return one(o)
}

// watchLater waits for an event the following operations may bring.
func (g *generator) watchLater() []step {
	o := &op{kind: "watch-later", method: http.MethodGet, key: g.key(), watch: true}
	if g.chance(0.15) {
		o.key = "/"
	}
	if g.chance(0.5) {
		o.query = append(o.query, param{name: "recursive", value: g.trueWord()})
	}
	o.query = append(o.query, param{name: "wait", value: g.trueWord()})
	switch x := g.rng.Float64(); {
	case x < 0.3:
		// client/v2's first watch sends waitIndex=0: the next index.
		o.query = append(o.query, param{name: "waitIndex", value: "0"})
	case x < 0.55:
		o.kind = "watch-next-index"
		o.query = append(o.query, param{name: "waitIndex", next: true})
	}
	return one(o)
}

// watchCleared asks for an index older than the history (401), or one at
// its edge.
func (g *generator) watchCleared() []step {
	ev := g.r.model.events
	cur := g.r.current[0]
	if len(ev) == 0 || cur-ev[0].index < history+100 {
		return g.watchLater()
	}
	var candidates []uint64
	edge := g.chance(0.4)
	for _, e := range ev {
		age := cur - e.index
		if edge && age >= history-3 && age <= history+3 || !edge && age > history+50 && len(candidates) < 50 {
			candidates = append(candidates, e.index)
		}
	}
	if len(candidates) == 0 {
		return g.watchLater()
	}
	kind := "watch-cleared"
	if edge {
		kind = "watch-history-edge"
	}
	i := candidates[g.rng.IntN(len(candidates))]
	return one(&op{kind: kind, method: http.MethodGet, key: "/", watch: true, fromHistory: true,
		query: []param{{name: "wait", value: "true"}, {name: "recursive", value: "true"}, {name: "waitIndex", index: i}}})
}

func (g *generator) streamDir() string {
	k := g.dir()
	if g.chance(0.3) {
		k = "/"
	}
	return k
}

func sentinelUnder(dir string) string {
	return strings.TrimSuffix(dir, "/") + "/end"
}

func (g *generator) watchStream() []step {
	k := g.streamDir()
	return one(&op{kind: "watch-stream", method: http.MethodGet, key: k, watch: true, stream: true, sentinel: sentinelUnder(k),
		query: []param{{name: "wait", value: "true"}, {name: "stream", value: g.trueWord()}, {name: "recursive", value: "true"}}})
}

// watchStreamHistory starts a stream at an event of the history: 3.5
// sends that one and then nothing more.
func (g *generator) watchStreamHistory() []step {
	ev := g.r.model.events
	if len(ev) == 0 {
		return g.watchStream()
	}
	e := ev[len(ev)-1-g.rng.IntN(min(len(ev), 50))]
	return one(&op{kind: "watch-stream-history", method: http.MethodGet, key: "/", watch: true, stream: true, fromHistory: true, sentinel: "/end",
		query: []param{{name: "wait", value: "true"}, {name: "stream", value: "true"}, {name: "recursive", value: "true"}, {name: "waitIndex", index: e.index}}})
}

// watchQuorum: quorum=true turns a watch into a plain quorum read.
func (g *generator) watchQuorum() []step {
	o := g.readOp("watch-quorum", http.MethodGet)
	o.query = append(o.query, param{name: "wait", value: "true"}, param{name: "quorum", value: "true"})
	return one(o)
}

// badParams are requests every one of which v2 refuses, each for its
// first bad parameter (V2-API §3's order).
var badParams = []struct {
	method string
	query  []param
	form   []param
	raw    string // raw query
	body   string // raw form
}{
	{method: "PUT", query: []param{{name: "prevValue", value: ""}}},
	{method: "DELETE", query: []param{{name: "prevValue", value: ""}}},
	{method: "PUT", form: []param{{name: "ttl", value: "abc"}}},
	{method: "PUT", form: []param{{name: "ttl", value: "-1"}}},
	{method: "PUT", form: []param{{name: "ttl", value: "+5"}}},
	{method: "PUT", form: []param{{name: "ttl", value: " 5"}}},
	{method: "PUT", form: []param{{name: "ttl", value: "1.5"}}},
	{method: "PUT", form: []param{{name: "ttl", value: "18446744073709551616"}}},
	{method: "POST", form: []param{{name: "ttl", value: "x"}}},
	{method: "PUT", query: []param{{name: "prevIndex", value: "abc"}}},
	{method: "PUT", query: []param{{name: "prevIndex", value: "-1"}}},
	{method: "DELETE", query: []param{{name: "prevIndex", value: "x"}}},
	{method: "GET", query: []param{{name: "wait", value: "true"}, {name: "waitIndex", value: "x"}}},
	{method: "GET", query: []param{{name: "waitIndex", value: "-3"}}},
	{method: "GET", query: []param{{name: "recursive", value: "maybe"}}},
	{method: "GET", query: []param{{name: "sorted", value: "2"}}},
	{method: "GET", query: []param{{name: "quorum", value: "yes"}}},
	{method: "GET", query: []param{{name: "wait", value: "true"}, {name: "stream", value: "x"}}},
	{method: "GET", query: []param{{name: "wait", value: "x"}}},
	{method: "PUT", form: []param{{name: "dir", value: "x"}}},
	{method: "DELETE", query: []param{{name: "dir", value: "x"}}},
	{method: "DELETE", query: []param{{name: "recursive", value: "x"}}},
	{method: "PUT", query: []param{{name: "wait", value: "true"}}},
	{method: "DELETE", query: []param{{name: "wait", value: "true"}}},
	{method: "POST", query: []param{{name: "wait", value: "true"}}},
	{method: "PUT", query: []param{{name: "prevExist", value: "x"}}},
	{method: "PUT", form: []param{{name: "refresh", value: "x"}}},
	{method: "PUT", query: []param{{name: "noValueOnSuccess", value: "x"}}},
	{method: "GET", query: []param{{name: "noValueOnSuccess", value: "x"}}},
	{method: "PUT", raw: "value=%zz"},
	{method: "PUT", body: "value=%zz"},
	{method: "GET", raw: "%zz"},
	{method: "DELETE", raw: "a=%zz"},
	{method: "PUT", form: []param{{name: "refresh", value: "true"}, {name: "ttl", value: "5"}, {name: "value", value: "x"}}},
	{method: "PUT", form: []param{{name: "refresh", value: "true"}}},
	{method: "PUT", form: []param{{name: "refresh", value: "true"}, {name: "ttl", value: ""}}},
	{method: "PUT", query: []param{{name: "recursive", value: "x"}, {name: "prevIndex", value: "x"}}},
	{method: "PUT", query: []param{{name: "prevValue", value: ""}, {name: "dir", value: "x"}}},
	{method: "PUT", query: []param{{name: "prevValue", value: ""}, {name: "noValueOnSuccess", value: "x"}}, form: []param{{name: "ttl", value: "x"}}},
	{method: "PUT", query: []param{{name: "prevExist", value: "x"}}, form: []param{{name: "ttl", value: "x"}}},
	{method: "PUT", query: []param{{name: "refresh", value: "x"}, {name: "prevExist", value: "x"}}},
	{method: "PUT", raw: "ttl=x&q=%zz"},
	{method: "GET", query: []param{{name: "wait", value: "true"}, {name: "waitIndex", value: "x"}, {name: "recursive", value: "x"}}},
}

func (g *generator) badParam() []step {
	b := badParams[g.rng.IntN(len(badParams))]
	return one(&op{kind: "bad-param", method: b.method, key: g.key(), query: b.query, form: b.form, rawQuery: b.raw, rawBody: b.body})
}

func (g *generator) rootWrite() []step {
	o := &op{kind: "root-write", key: "/"}
	switch g.rng.IntN(6) {
	case 0:
		o.method, o.form = http.MethodPut, []param{{name: "value", value: "x"}}
	case 1:
		o.method, o.form = http.MethodPut, []param{{name: "dir", value: "true"}}
	case 2:
		o.method = http.MethodDelete
	case 3:
		o.method, o.query = http.MethodDelete, []param{{name: "recursive", value: "true"}}
	case 4:
		o.method, o.query = http.MethodDelete, []param{{name: "dir", value: "true"}}
	default:
		o.method, o.query = http.MethodPut, []param{{name: "prevValue", value: "x"}}
		o.form = []param{{name: "value", value: "y"}}
	}
	return one(o)
}

// pathForm sends keys as clients may spell them: a trailing slash, an
// escaped slash or space, a path Go's mux cleans with a redirect, the
// root without a slash.
func (g *generator) pathForm() []step {
	forms := []struct{ method, raw string }{
		{"PUT", "/pf/"}, {"GET", "/pf/"}, {"PUT", "/sl%2Fash"}, {"GET", "/sl/ash"}, {"GET", "/sl%2Fash"},
		{"PUT", "/sp%20ace"}, {"GET", "/sp%20ace"}, {"PUT", "//double"}, {"GET", "/a/../b"},
		{"GET", "/./a"}, {"GET", ""}, {"DELETE", "/pf/"}, {"PUT", "/u%C3%A9"}, {"GET", "/u%C3%A9"},
	}
	f := forms[g.rng.IntN(len(forms))]
	o := &op{kind: "path-form", method: f.method, rawPath: f.raw}
	if f.method == http.MethodPut {
		o.form = []param{{name: "value", value: g.value()}}
	}
	return one(o)
}

// noValue: noValueOnSuccess trims successful writes' answers (not reads'
// or deletes'); a read of the key follows so the model stays current.
func (g *generator) noValue() []step {
	var o *op
	switch g.rng.IntN(6) {
	case 0:
		o = g.set()[0]()
	case 1:
		o = g.create()[0]()
	case 2:
		o = g.update()[0]()
	case 3:
		o = g.cas()[0]()
	case 4:
		o = g.readOp("get", http.MethodGet)
	default:
		o = g.delete()[0]()
	}
	o.kind = "novalue-" + o.kind
	o.query = append(o.query, param{name: "noValueOnSuccess", value: g.trueWord()})
	return []step{
		func() *op { return o },
		func() *op { return &op{kind: "get", method: http.MethodGet, key: o.key} },
	}
}

func (g *generator) method() []step {
	if g.chance(0.3) {
		return one(&op{kind: "options", method: http.MethodOptions, key: g.key()})
	}
	return one(&op{kind: "method-not-allowed", method: g.pick([]string{"PATCH", "TRACE"}), key: g.key()})
}

func (g *generator) version() []step {
	if g.chance(0.5) {
		return one(&op{kind: "version-plain", method: http.MethodGet, urlPath: "/version"})
	}
	// client/v2's GetVersion.
	return one(&op{kind: "version-client", method: http.MethodGet, urlPath: "/version",
		query: []param{{name: "quorum", value: "false"}, {name: "recursive", value: "false"}, {name: "sorted", value: "false"}}})
}

func (g *generator) throughFile() []step {
	f := g.known(isFile)
	if f == "" {
		return g.set()
	}
	k := f + "/" + g.pick(names)
	ops := []*op{
		{method: http.MethodPut, form: []param{{name: "value", value: "x"}}},
		{method: http.MethodGet},
		{method: http.MethodDelete},
		{method: http.MethodPost, form: []param{{name: "value", value: "x"}}},
		{method: http.MethodPut, query: []param{{name: "dir", value: "true"}}},
	}
	o := ops[g.rng.IntN(len(ops))]
	o.kind, o.key = "through-file", k
	return one(o)
}

// maxDeferred bounds the directory updates held for the end.
const maxDeferred = 30

// finalSteps are the operations whose answers differ by design in a way
// that leaves the two stores different: they come last.
func (g *generator) finalSteps() []step {
	var steps []step
	for i, o := range g.r.deferred {
		if i == maxDeferred {
			break
		}
		steps = append(steps,
			func() *op { return o },
			func() *op { return &op{kind: "dir-ttl-get", method: http.MethodGet, key: o.key} })
	}
	variants := []struct {
		query []param
		form  []param
	}{
		{query: []param{{name: "dir", value: "true"}, {name: "prevExist", value: "true"}}, form: []param{{name: "ttl", value: "900"}}},
		{query: []param{{name: "dir", value: "true"}, {name: "prevExist", value: "true"}}, form: []param{{name: "ttl", value: ""}}},
		{query: []param{{name: "refresh", value: "true"}, {name: "prevExist", value: "true"}}, form: []param{{name: "ttl", value: "900"}}},
	}
	// Writes this node refuses and 3.5 takes.
	for _, o := range []*op{
		{kind: "reserved-key", method: http.MethodPut, key: "/_etcd/x", form: []param{{name: "value", value: "x"}}},
		{kind: "reserved-key", method: http.MethodPut, key: "/ephemeralNodes/x", form: []param{{name: "value", value: "x"}}},
		{kind: "value-not-utf8", method: http.MethodPut, key: "/bytes", rawBody: "value=%FF%FEx"},
		{kind: "value-not-utf8", method: http.MethodGet, key: "/bytes"},
	} {
		steps = append(steps, func() *op { return o })
	}
	for i, v := range variants {
		key := fmt.Sprintf("/dtu/d%d", i)
		steps = append(steps,
			func() *op {
				return &op{kind: "dir-ttl-setup", method: http.MethodPut, key: key, form: []param{{name: "dir", value: "true"}, {name: "ttl", value: "600"}}}
			},
			func() *op {
				return &op{kind: "dir-ttl-update", method: http.MethodPut, key: key, query: v.query, form: v.form}
			},
			func() *op { return &op{kind: "dir-ttl-get", method: http.MethodGet, key: key} },
		)
	}
	return steps
}
