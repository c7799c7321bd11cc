package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// param is one request parameter. A parameter that carries an index holds
// the reference's value and is sent to the subject translated; next sends
// each side its own current index plus one.
type param struct {
	name, value string
	index       uint64
	// after sends the index after index: the first a side may give to
	// what comes next, which the reference's numbering cannot name.
	after bool
	next  bool
}

// op is one request, described once and sent to both sides.
type op struct {
	kind   string // what the run counts it as
	method string
	// key is the v2 key, in the reference's names (in-order names are
	// translated for the subject).
	key string
	// rawPath, if set, is sent after /v2/keys as it is (path forms).
	rawPath string
	// urlPath, if set, replaces /v2/keys and the key (/version).
	urlPath  string
	query    []param
	form     []param
	rawQuery string // appended to the query as it is (bad escapes)
	rawBody  string // appended to the form as it is
	// sorted: the listing's order is compared; otherwise it is a set.
	sorted bool
	// watch: a long poll, compared when both sides have answered.
	watch  bool
	stream bool
	// fromHistory: a watch the reference answers from its history.
	fromHistory bool
	// awaitGone: after the answers, wait until both sides have expired this
	// key (TTLs run out at different moments on each side).
	awaitGone string
	// sentinel: a streaming watch is read until the event on this key.
	sentinel string
}

func (o *op) String() string {
	var b strings.Builder
	b.WriteString(o.method + " " + o.target(-1, nil))
	if body := o.body(-1, nil); body != "" {
		b.WriteString(" -d " + body)
	}
	return b.String()
}

// sideIndexes gives what a side calls the reference's index, and its own
// current index.
type sideIndexes interface {
	translate(side int, ref uint64) (uint64, bool)
	currentIndex(side int) uint64
}

func encodeParams(ps []param, side int, ix sideIndexes) string {
	var parts []string
	for _, p := range ps {
		v := p.value
		switch {
		case p.next && ix != nil:
			v = strconv.FormatUint(ix.currentIndex(side)+1, 10)
		case p.next:
			v = "<current+1>"
		case p.index != 0 && ix != nil:
			n, _ := ix.translate(side, p.index)
			if p.after {
				n++
			}
			v = strconv.FormatUint(n, 10)
		case p.index != 0 && p.after:
			v = fmt.Sprintf("%d+1", p.index)
		case p.index != 0:
			v = strconv.FormatUint(p.index, 10)
		}
		parts = append(parts, url.QueryEscape(p.name)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&")
}

func joinNonEmpty(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "&" + b
}

// target is the request's path and query for side (-1: as the reference
// names it, for printing).
func (o *op) target(side int, ix sideIndexes) string {
	path := o.urlPath
	if path == "" {
		path = "/v2/keys" + o.rawPath
		if o.rawPath == "" {
			path = "/v2/keys" + escapeKey(o.sideKey(side, ix))
		}
	}
	if q := joinNonEmpty(encodeParams(o.query, side, ix), o.rawQuery); q != "" {
		path += "?" + q
	}
	return path
}

func (o *op) body(side int, ix sideIndexes) string {
	return joinNonEmpty(encodeParams(o.form, side, ix), o.rawBody)
}

// sideKey translates the key's in-order names for the subject.
func (o *op) sideKey(side int, ix sideIndexes) string {
	if side != 1 || ix == nil {
		return o.key
	}
	parts := strings.Split(o.key, "/")
	for i, p := range parts {
		if isIndexName(p) {
			n, _ := strconv.ParseUint(p, 10, 64)
			if s, ok := ix.translate(side, n); ok {
				parts[i] = fmt.Sprintf("%020d", s)
			}
		}
	}
	return strings.Join(parts, "/")
}

func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// translatable reports whether every index the op names is known on the
// subject's side.
func (o *op) translatable(ix sideIndexes) bool {
	for _, ps := range [][]param{o.query, o.form} {
		for _, p := range ps {
			if p.index != 0 {
				if _, ok := ix.translate(1, p.index); !ok {
					return false
				}
			}
		}
	}
	for _, p := range strings.Split(o.key, "/") {
		if isIndexName(p) {
			n, _ := strconv.ParseUint(p, 10, 64)
			if _, ok := ix.translate(1, n); !ok {
				return false
			}
		}
	}
	return true
}

func (o *op) request(ctx context.Context, side int, base string, ix sideIndexes) (*http.Request, error) {
	body := o.body(side, ix)
	req, err := http.NewRequestWithContext(ctx, o.method, base+o.target(side, ix), strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o, err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req, nil
}

// mayUpdateDir reports whether o is a PUT that updates a directory in
// place if its key is one: prevExist=true or refresh=true, with no
// compare condition. etcd 3.5 answers those with a 500 (V2-API §8).
func (o *op) mayUpdateDir() bool {
	if o.method != http.MethodPut {
		return false
	}
	update := false
	for _, ps := range [][]param{o.query, o.form} {
		for _, p := range ps {
			switch p.name {
			case "prevExist", "refresh":
				if b, err := strconv.ParseBool(p.value); err == nil && b {
					update = true
				}
			case "prevValue":
				if p.value != "" {
					return false
				}
			case "prevIndex":
				if p.index != 0 {
					return false
				}
			}
		}
	}
	return update
}
