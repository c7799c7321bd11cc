package conformance

import (
	"net/http"
	"sort"
	"strings"
)

// model is what the test knows of the reference's keys, learnt from its
// answers. It only steers the choice of operations towards keys that
// exist, values that match and indexes that are current; the comparison
// never relies on it.
type model struct {
	nodes     map[string]*modelNode
	events    []modelEvent // by index
	seen      map[uint64]bool
	lastWrite uint64 // the index of the last write the reference took
}

type modelNode struct {
	dir   bool
	value string
	mod   uint64
	ttl   bool
}

// modelEvent is an event of the reference's history.
type modelEvent struct {
	index uint64
	key   string
}

func newModel() *model {
	return &model{nodes: map[string]*modelNode{}, seen: map[uint64]bool{}}
}

// learn takes in one answer of the reference to o.
func (m *model) learn(o *op, status int, body []byte) {
	v, err := parseOrdered(body)
	if err != nil {
		return
	}
	top, ok := v.(*object)
	if !ok {
		return
	}
	if status >= http.StatusBadRequest {
		if top.num("errorCode") == 100 && !o.watch {
			m.remove(top.str("cause"))
		}
		return
	}
	node := top.obj("node")
	if node == nil {
		return
	}
	action := top.str("action")
	if action != "get" {
		m.record(node.num("modifiedIndex"), node.str("key"))
		if o.watch {
			// An event, maybe from history: the write that made it already
			// taught the model.
			return
		}
		m.lastWrite = max(m.lastWrite, node.num("modifiedIndex"))
	}
	switch action {
	case "get":
		m.put(node)
	case "set", "create", "update", "compareAndSwap":
		m.put(node)
	case "delete", "compareAndDelete", "expire":
		m.remove(node.str("key"))
	}
}

func (m *model) record(index uint64, key string) {
	if index == 0 || m.seen[index] {
		return
	}
	m.seen[index] = true
	i := sort.Search(len(m.events), func(i int) bool { return m.events[i].index > index })
	m.events = append(m.events, modelEvent{})
	copy(m.events[i+1:], m.events[i:])
	m.events[i] = modelEvent{index: index, key: key}
}

// put records a node (and, for a listing, its children) and its parents
// as directories.
func (m *model) put(n *object) {
	key := n.str("key")
	if key == "" {
		key = "/"
	}
	_, isDir := n.get("dir")
	_, hasTTL := n.get("expiration")
	if key != "/" {
		for p := parentOf(key); p != "/"; p = parentOf(p) {
			if e := m.nodes[p]; e == nil || !e.dir {
				m.nodes[p] = &modelNode{dir: true}
			}
		}
		if isDir {
			if e := m.nodes[key]; e == nil || !e.dir {
				m.removeBelow(key)
			}
		}
		m.nodes[key] = &modelNode{dir: isDir, value: n.str("value"), mod: n.num("modifiedIndex"), ttl: hasTTL}
	}
	if v, ok := n.get("nodes"); ok {
		if children, ok := v.([]any); ok {
			for _, c := range children {
				if co, ok := c.(*object); ok {
					m.put(co)
				}
			}
		}
	}
}

func (m *model) remove(key string) {
	if key == "" || key == "/" {
		return
	}
	delete(m.nodes, key)
	m.removeBelow(key)
}

func (m *model) removeBelow(key string) {
	for k := range m.nodes {
		if strings.HasPrefix(k, key+"/") {
			delete(m.nodes, k)
		}
	}
}

// expired forgets a key that ran out on both sides.
func (m *model) expired(key string) { m.remove(key) }

func parentOf(key string) string {
	i := strings.LastIndex(key, "/")
	if i <= 0 {
		return "/"
	}
	return key[:i]
}

// keys lists the known keys that pass keep, in order (the run must not
// depend on map order: a seed replays it).
func (m *model) keys(keep func(*modelNode) bool) []string {
	var out []string
	for k, n := range m.nodes {
		if keep(n) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}
