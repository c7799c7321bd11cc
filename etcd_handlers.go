package main

import (
	"encoding/json"
	"errors"
	"log"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/goraft/raft"
	"github.com/gorilla/mux"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/internal/raftguard"
	"github.com/etcd-recreation/etcd/store"
	"github.com/etcd-recreation/etcd/web"
)

const (
	keysPrefix  = "/v1/keys"
	watchPrefix = "/v1/watch"
)

// clientHandlers serve the v1 client API. Reads are answered from the local
// store; writes become raft commands on the leader and are redirected to it
// elsewhere.
type clientHandlers struct {
	cfg     *Config
	store   *store.Store
	raft    *raftServer
	cors    corsPolicy
	closing chan struct{} // closed when the node stops: pending watches and dashboard streams end
	once    sync.Once
	// dashboard is the web page under /dashboard/, and its event stream.
	dashboard *web.Dashboard
}

func newClientHandlers(cfg *Config, st *store.Store, rs *raftServer) *clientHandlers {
	closing := make(chan struct{})
	return &clientHandlers{cfg: cfg, store: st, raft: rs, cors: newCORSPolicy(cfg.CORS), closing: closing,
		dashboard: web.New(st, rs.awaitDurable, rs.dashboardContact, closing)}
}

// close ends pending watches with an error, so that stopping the node does
// not wait for them.
func (h *clientHandlers) close() { h.once.Do(func() { close(h.closing) }) }

// router returns the handler of the client port. A path that is not clean
// (//, /./, /../) is redirected to its clean form before any handler runs,
// as the original's router (gorilla/mux) did; every answer is JSON but for
// redirects and the text routes' successes.
func (h *clientHandlers) router() http.Handler {
	r := mux.NewRouter()
	r.SkipClean(true) // cleanPaths does it, with a status that keeps a write's method
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.Handle(keysPrefix, redirectTo(keysPrefix+"/"))
	r.Handle(watchPrefix, redirectTo(watchPrefix+"/"))
	r.PathPrefix(keysPrefix + "/").HandlerFunc(h.keys)
	r.PathPrefix(watchPrefix + "/").HandlerFunc(h.watch)
	r.HandleFunc(v2KeysPrefix, h.v2Keys)
	r.PathPrefix(v2KeysPrefix + "/").HandlerFunc(h.v2Keys)
	r.HandleFunc("/machines", readOnly(h.machines))
	r.HandleFunc("/v1/machines", readOnly(h.machines))
	r.HandleFunc("/leader", readOnly(h.leader))
	r.HandleFunc("/v1/leader", readOnly(h.leader))
	r.HandleFunc("/version", readOnly(h.versionForClient))
	r.HandleFunc("/v1/stats/self", readOnly(h.selfStats))
	r.HandleFunc("/v1/stats/leader", readOnly(h.leaderStats))
	r.HandleFunc("/v1/stats/store", readOnly(h.storeStats))
	h.v2ClusterRoutes(r)
	r.HandleFunc(metricsPath, readOnly(h.raft.metrics.Handler().ServeHTTP))
	r.Handle("/", web.SendBrowsersToPage(http.HandlerFunc(notFound)))
	r.Handle(strings.TrimSuffix(web.Prefix, "/"), redirectTo(web.Prefix))
	r.PathPrefix(web.Prefix).Handler(h.dashboard)
	h.dashboard.ReadsFrom(r)
	return h.cors.wrap(cleanPaths(h.countRequests(r)))
}

// cleanPaths redirects a request for a path that is not clean to its clean
// form, the query kept.
func cleanPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if clean := cleanPath(r.URL.Path); clean != r.URL.Path {
			permanentRedirect(w, r, clean)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is p without empty, . and .. segments; a trailing slash stays.
func cleanPath(p string) string {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean
}

// redirectTo answers every request with a permanent redirect to target.
func redirectTo(target string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { permanentRedirect(w, r, target) })
}

// permanentRedirect sends the client to the same request on path: 301 for
// GET and HEAD, as the original did, and 308 for any other method, which a
// client sends again with its method and body. After a 301, curl -L and
// browsers send a GET instead: the write would not happen, and the client
// would get a read's answer.
func permanentRedirect(w http.ResponseWriter, r *http.Request, path string) {
	u := *r.URL
	u.Path, u.RawPath = path, ""
	status := http.StatusPermanentRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		status = http.StatusMovedPermanently
	}
	w.Header().Set("Location", u.String())
	w.WriteHeader(status)
}

// notFound answers a path that is no route of the API. Its code is its
// HTTP status, as for 405 and 413: error 100 would say that a key is
// missing.
func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, etcderr.HTTP(http.StatusNotFound, "no such route: "+r.URL.Path))
}

// readOnly lets GET and HEAD through to a route that only informs, and
// refuses other methods.
func readOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		next(w, r)
	}
}

func (h *clientHandlers) keys(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, keysPrefix)
	if err := checkKey(key, h.cfg.MaxKeyBytes); err != nil {
		writeError(w, err)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.get(w, r, key)
	case http.MethodPost, http.MethodPut:
		h.set(w, r, key)
	case http.MethodDelete:
		h.delete(w, r, key)
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST, PUT, DELETE")
	}
}

func (h *clientHandlers) get(w http.ResponseWriter, r *http.Request, key string) {
	if r.URL.Query().Get("consistent") == "true" {
		if err := h.raft.readBarrier(); err != nil {
			h.writeDispatchFailure(w, r, err)
			return
		}
	} else if err := h.raft.awaitLeaderCaughtUp(); err != nil {
		writeError(w, err)
		return
	}
	if err := h.raft.awaitDurable(); err != nil {
		writeError(w, err)
		return
	}
	events, dir, err := h.store.Get(key)
	if err != nil {
		writeError(w, err)
		return
	}
	now := time.Now()
	if !dir {
		writeJSON(w, http.StatusOK, events[0].WithTTL(now))
		return
	}
	for i, e := range events {
		events[i] = e.WithTTL(now)
	}
	writeJSON(w, http.StatusOK, events)
}

func (h *clientHandlers) set(w http.ResponseWriter, r *http.Request, key string) {
	if !h.parseForm(w, r) {
		return
	}
	if isReserved(key) {
		writeError(w, etcderr.New(etcderr.KeyIsPreserved, "Set"))
		return
	}
	value := r.Form.Get("value")
	if value == "" {
		writeError(w, etcderr.New(etcderr.ValueRequired, "Set"))
		return
	}
	prevValue, testAndSet := r.Form["prevValue"]
	// JSON, on the wire and in the log, cannot carry other bytes unchanged.
	if !utf8.ValidString(value) || (testAndSet && !utf8.ValidString(prevValue[0])) {
		writeError(w, etcderr.New(etcderr.InvalidField, "value: not valid UTF-8"))
		return
	}
	var expires time.Time
	if ttl := r.Form.Get("ttl"); ttl != "" {
		seconds, err := strconv.ParseInt(ttl, 10, 32)
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(ttl, "-") {
			writeError(w, etcderr.Newf(etcderr.TTLNaN, "Set: ttl %s is out of range: at most %d seconds", ttl, math.MaxInt32))
			return
		}
		if err != nil || seconds <= 0 {
			writeError(w, etcderr.New(etcderr.TTLNaN, "Set"))
			return
		}
		expires = time.Now().Add(time.Duration(seconds) * time.Second)
	}
	var cmd raft.Command = &SetCommand{Key: key, Value: value, ExpireTime: expireTime(expires)}
	if testAndSet {
		cmd = &TestAndSetCommand{Key: key, Value: value, PrevValue: prevValue[0], ExpireTime: expireTime(expires)}
	}
	h.write(w, r, cmd)
}

func (h *clientHandlers) delete(w http.ResponseWriter, r *http.Request, key string) {
	if isReserved(key) {
		writeError(w, etcderr.New(etcderr.KeyIsPreserved, "Delete"))
		return
	}
	h.write(w, r, &DeleteCommand{Key: key})
}

// write replicates a validated write, or sends the client to the leader.
func (h *clientHandlers) write(w http.ResponseWriter, r *http.Request, cmd raft.Command) {
	event, err := h.raft.dispatch(cmd)
	if err != nil {
		h.writeDispatchFailure(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, event.WithTTL(time.Now()))
}

func (h *clientHandlers) writeDispatchFailure(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotLeader) {
		h.redirectToLeader(w, r)
		return
	}
	writeError(w, err)
}

// redirectToLeader answers 307 to the same path and query on the leader's
// client URL; curl -L and go-etcd send the request again there. Nothing was
// proposed here, so without a leader to send the client to it answers 301.
func (h *clientHandlers) redirectToLeader(w http.ResponseWriter, r *http.Request) {
	leader, err := h.raft.liveLeader()
	if err != nil {
		writeError(w, etcderr.New(etcderr.LeaderElect, err.Error()))
		return
	}
	w.Header().Set("Location", leader.EtcdURL+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
}

func (h *clientHandlers) watch(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, watchPrefix)
	if err := checkKey(key, h.cfg.MaxKeyBytes); err != nil {
		writeError(w, err)
		return
	}
	var since uint64
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		if !h.parseForm(w, r) {
			return
		}
		index, err := strconv.ParseUint(r.Form.Get("index"), 10, 64)
		if err != nil {
			writeError(w, etcderr.New(etcderr.IndexNaN, "Watch From Index"))
			return
		}
		since = index
	default:
		methodNotAllowed(w, r, "GET, POST")
		return
	}
	// A store that is behind would show changes acknowledged before the
	// watch as if they came after it.
	if err := h.raft.awaitLeaderCaughtUp(); err != nil {
		writeError(w, err)
		return
	}
	watcher, err := h.store.Watch(key, since)
	if err != nil {
		writeError(w, err)
		return
	}
	defer watcher.Remove()
	select {
	case event, ok := <-watcher.EventChan():
		if !ok {
			writeError(w, etcderr.New(etcderr.WatcherCleared, path.Clean("/"+key)))
			return
		}
		if err := h.raft.awaitDurable(); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, event.WithTTL(time.Now()))
	case <-r.Context().Done():
		// The client went away: the deferred Remove releases the watcher.
	case <-h.closing:
		writeError(w, etcderr.New(etcderr.RaftInternal, "the node is shutting down"))
	}
}

func (h *clientHandlers) machines(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, strings.Join(h.raft.machineURLs(), ", "))
}

func (h *clientHandlers) leader(w http.ResponseWriter, _ *http.Request) {
	leader, err := h.raft.liveLeader()
	if err != nil {
		writeError(w, etcderr.New(etcderr.LeaderElect, ""))
		return
	}
	writeText(w, http.StatusOK, leader.RaftURL)
}

func (h *clientHandlers) version(w http.ResponseWriter, _ *http.Request) {
	writeText(w, http.StatusOK, "etcd "+releaseVersion)
}

func (h *clientHandlers) selfStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.raft.selfStats())
}

func (h *clientHandlers) leaderStats(w http.ResponseWriter, r *http.Request) {
	if !h.raft.isLeader() {
		h.redirectToLeader(w, r)
		return
	}
	writeJSON(w, http.StatusOK, h.raft.leaderStats())
}

func (h *clientHandlers) storeStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.store.Stats())
}

// parseForm reads the query and a form body (the body's values first),
// bounded by -maxbody.
func (h *clientHandlers) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes)
	err := r.ParseForm()
	if err == nil {
		return true
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeJSON(w, http.StatusRequestEntityTooLarge, etcderr.HTTP(http.StatusRequestEntityTooLarge,
			"the body is larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes"))
		return false
	}
	writeError(w, etcderr.New(etcderr.InvalidForm, err.Error()))
	return false
}

// checkKey refuses keys no client means to use: control characters (a
// NUL in particular) and invalid UTF-8 break logs and other clients, and
// keys over the limit would let one client fill the memory of every member.
func checkKey(key string, maxBytes int) *etcderr.Error {
	if len(key) > maxBytes {
		return etcderr.Newf(etcderr.InvalidField, "key: longer than %d bytes", maxBytes)
	}
	if !utf8.ValidString(key) {
		return etcderr.New(etcderr.InvalidField, "key: not valid UTF-8")
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f {
			return etcderr.Newf(etcderr.InvalidField, "key: contains the control character %U", c)
		}
	}
	return nil
}

// isReserved reports whether a key lies under a first segment etcd keeps for
// itself.
func isReserved(key string) bool {
	first, _, _ := strings.Cut(strings.TrimPrefix(path.Clean("/"+key), "/"), "/")
	return first == "_etcd" || first == "ephemeralNodes"
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allowed string) {
	w.Header().Set("Allow", allowed)
	writeJSON(w, http.StatusMethodNotAllowed, etcderr.HTTP(http.StatusMethodNotAllowed, r.Method))
}

// errorStatus is the HTTP status of each etcd error code.
func errorStatus(code int) int {
	switch code {
	case etcderr.KeyNotFound:
		return http.StatusNotFound
	case etcderr.RaftInternal, etcderr.LeaderElect, etcderr.WatcherCleared:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// writeError answers an error. A failure of raft is error 301 when nothing
// was proposed, so that a client knows a retry is safe, and error 300 when
// the request may have taken effect.
func writeError(w http.ResponseWriter, err error) {
	var etcdErr *etcderr.Error
	if !errors.As(err, &etcdErr) {
		code := etcderr.RaftInternal
		if notProposed(err) {
			code = etcderr.LeaderElect
		}
		etcdErr = etcderr.New(code, publicCause(err))
	}
	writeJSON(w, errorStatus(etcdErr.Code), etcdErr)
}

// refusals are the failures of a request refused before anything was
// proposed.
var refusals = []error{errNotLeader, errNoLeader, raftguard.ErrNoQuorum, errTooManyProposals, errQueuedTooLong, errLeaderBehind, errLeaderChanged}

func notProposed(err error) bool {
	for _, refusal := range refusals {
		if errors.Is(err, refusal) {
			return true
		}
	}
	return false
}

// publicErrors say what happened to a client's request, and nothing of the
// node's insides.
var publicErrors = append([]error{errCommandTimeout, errNotDurable, errEntryAlreadyApplied, errLeaderUnreachable, errLeaderFailed, errNotAppliedHere}, refusals...)

// publicCause is what a client is told of an internal failure. Other errors
// can carry file paths and addresses: they go to the node's log instead.
func publicCause(err error) string {
	for _, known := range publicErrors {
		if errors.Is(err, known) {
			return known.Error()
		}
	}
	log.Printf("internal error answered to a client: %v", err)
	return "internal error; the member's log has the details"
}

// writeJSON writes v as the whole body, without a trailing newline, as the
// original did.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(etcderr.New(etcderr.RaftInternal, "encode response: "+err.Error()))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(text))
}
