package main

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

const v2KeysPrefix = "/v2/keys"

// v2Request is a /v2/keys request as its parameters ask (V2-API.md §3).
type v2Request struct {
	method string
	key    string // cleaned: "/" is the root

	value     string
	prevValue string
	prevIndex uint64
	prevExist *bool // nil: not given
	// acceptedAt is when this node took the request; expiration is
	// acceptedAt + ttl, zero without a ttl.
	acceptedAt time.Time
	expiration time.Time
	dir        bool
	recursive  bool
	sorted     bool
	refresh    bool

	wait      bool
	waitIndex uint64
	stream    bool
	quorum    bool

	noValueOnSuccess bool
}

// codeEntityTooLarge is the error code of a body over -maxbody: its HTTP
// status, as v1 answers it. v2 has no such limit, so no code of its own.
const codeEntityTooLarge = http.StatusRequestEntityTooLarge

// parseV2Request reads a /v2/keys request. The checks and their order are
// etcd's (V2-API.md §3), after this server's own limits on the key and
// the body, which v1 has too; the value must be UTF-8, as v1's, for JSON
// cannot carry other bytes unchanged. Its errors are parse errors, at
// index 0.
func parseV2Request(w http.ResponseWriter, r *http.Request, maxKeyBytes int, maxBodyBytes int64, now time.Time) (*v2Request, *etcderr.V2) {
	rawKey := strings.TrimPrefix(r.URL.Path, v2KeysPrefix)
	if err := checkKey(rawKey, maxKeyBytes); err != nil {
		return nil, etcderr.NewV2(err.Code, err.Cause, 0)
	}
	// The body is read only for PUT, POST and PATCH (net/http).
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, &etcderr.V2{Code: codeEntityTooLarge, Message: "Request Entity Too Large",
				Cause: "the body is larger than " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"}
		}
		return nil, etcderr.NewV2(etcderr.InvalidForm, err.Error(), 0)
	}
	form := r.Form
	req := &v2Request{method: r.Method, key: path.Clean("/" + rawKey), acceptedAt: now}

	var bad *etcderr.V2
	uintParam := func(name string, code int) uint64 {
		vals, given := form[name]
		if bad != nil || !given {
			return 0
		}
		n, err := strconv.ParseUint(vals[0], 10, 64)
		if err != nil {
			bad = etcderr.NewV2(code, `invalid value for "`+name+`"`, 0)
		}
		return n
	}
	// etcd quotes the name in the cause of every boolean but prevExist and
	// refresh; the cause is built only for a bad value, off the hot path.
	boolParam := func(name string, quoteName bool) bool {
		vals, given := form[name]
		if bad != nil || !given {
			return false
		}
		b, err := strconv.ParseBool(vals[0])
		if err != nil {
			if quoteName {
				name = `"` + name + `"`
			}
			bad = etcderr.NewV2(etcderr.InvalidField, "invalid value for "+name, 0)
		}
		return b
	}

	req.prevIndex = uintParam("prevIndex", etcderr.IndexNaN)
	req.waitIndex = uintParam("waitIndex", etcderr.IndexNaN)
	req.recursive = boolParam("recursive", true)
	req.sorted = boolParam("sorted", true)
	req.wait = boolParam("wait", true)
	req.dir = boolParam("dir", true)
	req.quorum = boolParam("quorum", true)
	req.stream = boolParam("stream", true)
	if bad != nil {
		return nil, bad
	}
	if req.wait && r.Method != http.MethodGet {
		return nil, etcderr.NewV2(etcderr.InvalidField, `"wait" can only be used with GET requests`, 0)
	}
	if vals, given := form["prevValue"]; given {
		if vals[0] == "" {
			return nil, etcderr.NewV2(etcderr.PrevValueRequired, `"prevValue" cannot be empty`, 0)
		}
		req.prevValue = vals[0]
	}
	req.noValueOnSuccess = boolParam("noValueOnSuccess", true)
	if bad != nil {
		return nil, bad
	}
	hasTTL := firstValue(form, "ttl") != ""
	if hasTTL {
		seconds := uintParam("ttl", etcderr.TTLNaN)
		if bad != nil {
			return nil, bad
		}
		// As etcd does it: a ttl past the range of a Duration wraps around
		// (2^64-1 seconds is -1 s, a key that expires at once).
		req.expiration = now.Add(time.Duration(seconds) * time.Second)
	}
	if _, given := form["prevExist"]; given {
		exists := boolParam("prevExist", false)
		if bad != nil {
			return nil, bad
		}
		req.prevExist = &exists
	}
	if _, given := form["refresh"]; given {
		req.refresh = boolParam("refresh", false)
		if bad != nil {
			return nil, bad
		}
		if req.refresh && firstValue(form, "value") != "" {
			return nil, etcderr.NewV2(etcderr.ValueOnRefresh, "A value was provided on a refresh", 0)
		}
		if req.refresh && !hasTTL {
			return nil, etcderr.NewV2(etcderr.TTLOnRefresh, "No TTL value set", 0)
		}
	}
	req.value = firstValue(form, "value")
	if !utf8.ValidString(req.value) || !utf8.ValidString(req.prevValue) {
		return nil, etcderr.NewV2(etcderr.InvalidField, "value: not valid UTF-8", 0)
	}
	return req, nil
}

// firstValue is the first value of name, "" when it is not given.
func firstValue(form url.Values, name string) string {
	if vals := form[name]; len(vals) > 0 {
		return vals[0]
	}
	return ""
}

// command is the raft command of a write request (PUT, POST or DELETE),
// its op chosen as etcd chooses it (V2-API.md §4).
func (req *v2Request) command() *V2Command {
	cmd := &V2Command{
		Key:        req.key,
		Value:      req.value,
		PrevValue:  req.prevValue,
		PrevIndex:  req.prevIndex,
		ExpireTime: expireTime(req.expiration),
		Dir:        req.dir,
		Recursive:  req.recursive,
		Refresh:    req.refresh,
		AcceptedAt: &req.acceptedAt,
	}
	compares := req.prevIndex > 0 || req.prevValue != ""
	switch req.method {
	case http.MethodPost:
		cmd.Op = "createInOrder"
	case http.MethodDelete:
		cmd.Op = "delete"
		if compares {
			cmd.Op = "compareAndDelete"
		}
	default:
		switch {
		case req.prevExist != nil && !*req.prevExist:
			cmd.Op = "create"
		case compares:
			cmd.Op = "compareAndSwap"
		case req.prevExist != nil:
			cmd.Op = "update"
		default:
			cmd.Op = "set"
		}
	}
	return cmd
}

// v2ActionCreates reports whether an answer of action with or without a
// previous node is a 201 (V2-API.md §4).
func v2ActionCreates(action string, hadPrev bool) bool {
	return action == store.V2Create || (action == store.V2Set && !hadPrev)
}
