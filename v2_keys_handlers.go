package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

// The /v2/keys API (V2-API.md §1–§12, §14): the same store as v1, shown as
// etcd 2.x and 3.5 show it. Its answers are byte for byte what etcd 3.5
// sends where this server does the same thing.

// v2KeyIsPreserved is v2's error for a write under a key etcd keeps for
// itself (isReserved), as v1 refuses them.
const v2KeyIsPreserved = 106

// v2KeysMethods are the methods /v2/keys takes, as its 405 lists them.
const v2KeysMethods = "HEAD,GET,PUT,POST,DELETE"

// v2Keys serves /v2/keys and everything below it: reads and watches from
// the local store, writes through raft.
func (h *clientHandlers) v2Keys(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodHead, http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete:
	default:
		// etcd's own text answer, before the cluster header.
		w.Header().Set("Allow", v2KeysMethods)
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if id, held := h.raft.identity.Identity(); held {
		w.Header().Set("X-Etcd-Cluster-ID", id.String())
	}
	req, bad := parseV2Request(w, r, h.cfg.MaxKeyBytes, h.cfg.MaxBodyBytes, time.Now())
	if bad != nil {
		writeV2Error(w, bad)
		return
	}
	switch {
	case r.Method == http.MethodGet && req.quorum:
		// With wait too, etcd reads through raft and watches nothing.
		if err := h.raft.linearizableRead(); err != nil {
			h.writeV2Failure(w, err)
			return
		}
		h.v2Get(w, r, req)
	case r.Method == http.MethodGet && req.wait:
		h.v2Watch(w, r, req)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		if err := h.raft.awaitLeaderCaughtUp(); err != nil {
			h.writeV2Failure(w, err)
			return
		}
		h.v2Get(w, r, req)
	default:
		h.v2Write(w, r, req)
	}
}

// v2Get answers a read from the local store, once what it shows is durable.
func (h *clientHandlers) v2Get(w http.ResponseWriter, r *http.Request, req *v2Request) {
	if err := h.raft.awaitDurable(); err != nil {
		h.writeV2Failure(w, err)
		return
	}
	event, err := h.store.GetV2(req.key, req.recursive, req.sorted)
	if err != nil {
		h.writeV2Failure(w, err)
		return
	}
	h.writeV2Event(w, r, event, false)
}

// v2Write proposes a PUT, POST or DELETE, from any member.
func (h *clientHandlers) v2Write(w http.ResponseWriter, r *http.Request, req *v2Request) {
	if isReserved(req.key) {
		writeV2Error(w, etcderr.NewV2(v2KeyIsPreserved, req.key, 0))
		return
	}
	event, err := h.raft.proposeAnywhere(req.command())
	if err != nil {
		h.writeV2Failure(w, err)
		return
	}
	h.writeV2Event(w, r, event, req.noValueOnSuccess)
}

// v2Watch answers a long poll (one event) or a stream (every event, one
// line each). The status and headers go out at once, so that a client
// knows its watch is in place; the body follows the events. It ends when
// the client goes away or the node stops, with what was sent so far: etcd
// ends a watch the same way.
func (h *clientHandlers) v2Watch(w http.ResponseWriter, r *http.Request, req *v2Request) {
	// A store that is behind would show changes acknowledged before the
	// watch as if they came after it.
	if err := h.raft.awaitLeaderCaughtUp(); err != nil {
		h.writeV2Failure(w, err)
		return
	}
	startIndex := h.store.Index()
	watcher, err := h.store.WatchV2(req.key, req.recursive, req.stream, req.waitIndex)
	if err != nil {
		h.writeV2Failure(w, err)
		return
	}
	defer watcher.Remove()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(startIndex, 10))
	h.setRaftHeaders(w)
	w.WriteHeader(http.StatusOK)
	flusher := http.NewResponseController(w)
	flusher.Flush()
	for {
		select {
		case event, ok := <-watcher.EventChan():
			if !ok || event.V2 == nil {
				return // dropped: the watcher fell behind, or the store was replaced
			}
			if h.raft.awaitDurable() != nil {
				return
			}
			body, err := encodeV2Event(event.V2, time.Now(), false)
			if err != nil {
				return
			}
			if _, err := w.Write(body); err != nil || !req.stream {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		}
	}
}

// setRaftHeaders sets the raft headers of a success.
func (h *clientHandlers) setRaftHeaders(w http.ResponseWriter) {
	w.Header().Set("X-Raft-Index", strconv.FormatUint(h.raft.raft.CommitIndex(), 10))
	w.Header().Set("X-Raft-Term", strconv.FormatUint(h.raft.raft.Term(), 10))
}

// writeV2Event answers a read's or a write's event: 201 for what it
// created, X-Etcd-Index the index the event leaves the store at.
func (h *clientHandlers) writeV2Event(w http.ResponseWriter, r *http.Request, event *store.Event, noValueOnSuccess bool) {
	if event == nil || event.V2 == nil {
		h.writeV2Failure(w, errors.New("the store answered a v2 request without its v2 event"))
		return
	}
	body, err := encodeV2Event(event.V2, time.Now(), noValueOnSuccess)
	if err != nil {
		h.writeV2Failure(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(event.Index, 10))
	h.setRaftHeaders(w)
	status := http.StatusOK
	if v2ActionCreates(event.V2.Action, event.V2.PrevNode != nil) {
		status = http.StatusCreated
	}
	w.WriteHeader(status)
	// One write, as etcd's encoder makes it: net/http then sends a
	// Content-Length for a short body and chunks a long one, as for etcd.
	w.Write(body)
}

// writeV2Failure answers an error of the store, of raft or of this node.
// A store error carries the store's index; the others index 0 (§6).
func (h *clientHandlers) writeV2Failure(w http.ResponseWriter, err error) {
	var storeErr *etcderr.Error
	switch {
	case errors.As(err, &storeErr):
		writeV2Error(w, etcderr.NewV2(storeErr.Code, storeErr.Cause, h.store.Index()))
	default:
		writeV2Error(w, etcderr.NewV2(etcderr.RaftInternal, publicCause(err), 0))
	}
}

// writeV2Error answers a v2 error: its JSON and a newline, X-Etcd-Index
// its index.
func writeV2Error(w http.ResponseWriter, e *etcderr.V2) {
	body, err := json.Marshal(e)
	if err != nil {
		body = []byte(`{"errorCode":300,"message":"Raft Internal Error","index":0}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Etcd-Index", strconv.FormatUint(e.Index, 10))
	w.WriteHeader(v2ErrorStatus(e.Code))
	w.Write(append(body, '\n'))
}

// v2ErrorStatus is the HTTP status of a v2 error code (V2-API.md §14).
func v2ErrorStatus(code int) int {
	switch code {
	case etcderr.KeyNotFound:
		return http.StatusNotFound
	case etcderr.TestFailed, etcderr.NodeExist:
		return http.StatusPreconditionFailed
	case etcderr.NotFile, etcderr.DirNotEmpty:
		return http.StatusForbidden
	case etcderr.Unauthorized:
		return http.StatusUnauthorized
	case etcderr.RaftInternal, etcderr.LeaderElect:
		return http.StatusInternalServerError
	case codeEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// v2EventJSON is an event on the wire, its members in etcd's order.
type v2EventJSON struct {
	Action   string      `json:"action"`
	Node     *v2NodeJSON `json:"node,omitempty"`
	PrevNode *v2NodeJSON `json:"prevNode,omitempty"`
}

// v2NodeJSON is a node on the wire, its members in etcd's order (§5).
type v2NodeJSON struct {
	Key           string        `json:"key,omitempty"`
	Value         *string       `json:"value,omitempty"`
	Dir           bool          `json:"dir,omitempty"`
	Expiration    *time.Time    `json:"expiration,omitempty"`
	TTL           int64         `json:"ttl,omitempty"`
	Nodes         []*v2NodeJSON `json:"nodes,omitempty"`
	ModifiedIndex uint64        `json:"modifiedIndex,omitempty"`
	CreatedIndex  uint64        `json:"createdIndex,omitempty"`
}

// encodeV2Event is the body of an event: JSON as Go's encoder writes it
// (<, > and & escaped), and a newline. The seconds left are counted from
// the event's time, as etcd counts them when it makes the event: an event
// answered from the history shows the ttl it had when it happened. now
// serves the events without one (reads, and v1's writes, whose commands
// carry no time).
func encodeV2Event(e *store.V2Event, now time.Time, noValueOnSuccess bool) ([]byte, error) {
	if !e.At.IsZero() {
		now = e.At
	}
	out := v2EventJSON{Action: e.Action}
	switch e.Action {
	case store.V2Delete, store.V2CompareAndDelete, store.V2Expire:
		// What is gone shows its key, kind and indexes; its value and
		// expiration are in prevNode.
		if n := e.Node; n != nil {
			out.Node = &v2NodeJSON{Key: v2Key(n.Key), Dir: n.Dir, ModifiedIndex: n.ModifiedIndex, CreatedIndex: n.CreatedIndex}
		}
	default:
		out.Node = v2Node(e.Node, now)
	}
	out.PrevNode = v2Node(e.PrevNode, now)
	if noValueOnSuccess {
		switch e.Action {
		case store.V2Set, store.V2Create, store.V2Update, store.V2CompareAndSwap:
			out.Node, out.PrevNode = nil, nil
		}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// v2Node is n on the wire: the root without key, a directory without
// value, a file with its value even when empty, and the seconds left
// rounded up as etcd rounds them (§8: negative once past, absent at 0).
func v2Node(n *store.NodeView, now time.Time) *v2NodeJSON {
	if n == nil {
		return nil
	}
	out := &v2NodeJSON{Key: v2Key(n.Key), Dir: n.Dir, ModifiedIndex: n.ModifiedIndex, CreatedIndex: n.CreatedIndex}
	if !n.Dir {
		value := n.Value
		out.Value = &value
	}
	if n.Expiration != nil {
		utc := n.Expiration.UTC()
		out.Expiration = &utc
		left := n.Expiration.Sub(now)
		out.TTL = int64(left / time.Second)
		if left%time.Second > 0 {
			out.TTL++
		}
	}
	for _, child := range n.Nodes {
		out.Nodes = append(out.Nodes, v2Node(child, now))
	}
	return out
}

// v2Key is a key as v2 shows it: the root has none.
func v2Key(key string) string {
	if key == "/" {
		return ""
	}
	return key
}
