package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/goraft/raft"
	"github.com/gorilla/mux"

	"github.com/etcd-recreation/etcd/internal/raftguard"
	"github.com/etcd-recreation/etcd/store"
)

// The v2 API's cluster routes, as etcd 2.x and 3.5 answer them (V2-API.md
// §2, §6, §13), over this project's membership: members are named, join
// with -C and leave through the peer port's DELETE /remove/<name>.

// v2ClusterRoutes adds the routes to the client router.
func (h *clientHandlers) v2ClusterRoutes(r *mux.Router) {
	r.HandleFunc("/v2/machines", v2Methods(h.machines, http.MethodGet, http.MethodHead))
	r.HandleFunc("/v2/members", h.withClusterID(h.v2Members))
	r.HandleFunc("/v2/members/leader", h.withClusterID(v2Methods(h.v2MembersLeader, http.MethodGet)))
	r.PathPrefix("/v2/members/").HandlerFunc(h.withClusterID(membershipChange))
	r.HandleFunc("/v2/stats/self", v2Methods(h.v2SelfStats, http.MethodGet))
	r.HandleFunc("/v2/stats/leader", v2Methods(h.v2LeaderStats, http.MethodGet))
	r.HandleFunc("/v2/stats/store", v2Methods(h.v2StoreStats, http.MethodGet))
	r.HandleFunc("/health", v2Methods(h.health, http.MethodGet))
}

// v2Methods lets the given methods through to next, and answers any other
// as etcd 2 does: 405, the methods in Allow, and a text body.
func v2Methods(next http.HandlerFunc, methods ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(methods, r.Method) {
			w.Header().Set("Allow", strings.Join(methods, ","))
			http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
			return
		}
		next(w, r)
	}
}

// withClusterID adds the cluster identity to every answer of next, as
// etcd 2 does on /v2/members.
func (h *clientHandlers) withClusterID(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if id, held := h.raft.identity.Identity(); held {
			w.Header().Set(raftguard.IdentityHeader, id.String())
		}
		next(w, r)
	}
}

// v2Message is the body of the errors of v2's cluster routes.
type v2Message struct {
	Message string `json:"message"`
}

// memberID is a member's id in the v2 API: the first 8 bytes of the
// SHA-256 of the cluster identity's 16 hex digits, "/", and the member's
// name, as 16 hex digits. Names are unique in a cluster and every member
// holds the identity, so every member gives a member the same id, for as
// long as it keeps its name. A node from before identities that has not
// yet taken its leader's counts the identity as 0.
func memberID(cluster raftguard.Identity, name string) string {
	sum := sha256.Sum256([]byte(cluster.String() + "/" + name))
	return fmt.Sprintf("%016x", binary.BigEndian.Uint64(sum[:8]))
}

func (s *raftServer) memberID(name string) string {
	id, _ := s.identity.Identity()
	return memberID(id, name)
}

// v2Member is a member as /v2/members shows it.
type v2Member struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs"`
}

func (s *raftServer) v2Member(name string, m member) v2Member {
	return v2Member{ID: s.memberID(name), Name: name, PeerURLs: []string{m.RaftURL}, ClientURLs: []string{m.EtcdURL}}
}

// v2Members lists the members, ordered by id.
func (s *raftServer) v2Members() []v2Member {
	var out []v2Member
	for _, name := range s.members.names() {
		if m, ok := s.members.get(name); ok {
			out = append(out, s.v2Member(name, m))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// v2Members answers GET /v2/members, and tells a POST, which would add a
// member, how members are added here.
func (h *clientHandlers) v2Members(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		membershipChange(w, r)
		return
	}
	v2Methods(func(w http.ResponseWriter, _ *http.Request) {
		writeEncoded(w, http.StatusOK, struct {
			Members []v2Member `json:"members"`
		}{h.raft.v2Members()})
	}, http.MethodGet)(w, r)
}

// membershipChange answers the v2 API's member additions, removals and
// updates: this project's members join with -C and leave through the peer
// port, as in v1, so that a member's name, its key in /_etcd/machines and
// its raft peer change together.
func membershipChange(w http.ResponseWriter, r *http.Request) {
	allow := ""
	if r.URL.Path == "/v2/members" {
		allow = http.MethodGet
	}
	w.Header().Set("Allow", allow)
	writeJSON(w, http.StatusMethodNotAllowed, v2Message{Message: "members are not added, removed or updated through the v2 API here: " +
		"a new member joins when started with -C and a member's peer address, and a member is removed with DELETE /remove/NAME on a member's peer port"})
}

func (h *clientHandlers) v2MembersLeader(w http.ResponseWriter, _ *http.Request) {
	name, m, ok := h.raft.liveLeaderName()
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, v2Message{Message: "During election"})
		return
	}
	writeEncoded(w, http.StatusOK, h.raft.v2Member(name, m))
}

// liveLeaderName is liveLeader with its name: false while there is no
// leader clients may be sent to.
func (s *raftServer) liveLeaderName() (string, member, bool) {
	if _, err := s.liveLeader(); err != nil {
		return "", member{}, false
	}
	return s.leader()
}

// v2SelfStats is the body of /v2/stats/self, in etcd 2's field order.
// etcd 2's bandwidth rates are not measured here, and are left out as
// etcd 2 leaves out a rate that is 0.
type v2SelfStats struct {
	Name       string `json:"name"`
	ID         string `json:"id"`
	State      string `json:"state"`
	StartTime  string `json:"startTime"`
	LeaderInfo struct {
		Leader    string `json:"leader"`
		Uptime    string `json:"uptime"`
		StartTime string `json:"startTime"`
	} `json:"leaderInfo"`
	RecvAppendRequestCnt uint64  `json:"recvAppendRequestCnt"`
	RecvPkgRate          float64 `json:"recvPkgRate,omitempty"`
	SendAppendRequestCnt uint64  `json:"sendAppendRequestCnt"`
	SendPkgRate          float64 `json:"sendPkgRate,omitempty"`
}

// v2State is a goraft state as etcd 2 names it.
func v2State(state string) string {
	switch state {
	case raft.Leader:
		return "StateLeader"
	case raft.Candidate:
		return "StateCandidate"
	default:
		return "StateFollower"
	}
}

// v2SelfStats is v1's self stats with ids for names. With no leader,
// leaderInfo is empty.
func (s *raftServer) v2SelfStats() v2SelfStats {
	v1 := s.selfStats()
	out := v2SelfStats{
		Name:                 v1.Name,
		ID:                   s.memberID(v1.Name),
		State:                v2State(v1.State),
		StartTime:            s.startTime.UTC().Format(time.RFC3339Nano),
		RecvAppendRequestCnt: v1.RecvAppendRequestCnt,
		RecvPkgRate:          v1.RecvPkgRate,
		SendAppendRequestCnt: v1.SendAppendRequestCnt,
		SendPkgRate:          v1.SendPkgRate,
	}
	if v1.LeaderInfo.Leader != "" {
		out.LeaderInfo.Leader = s.memberID(v1.LeaderInfo.Leader)
		out.LeaderInfo.Uptime = v1.LeaderInfo.Uptime
		if since := s.guard.LeaderSince(); !since.IsZero() {
			out.LeaderInfo.StartTime = since.UTC().Format(time.RFC3339Nano)
		}
	}
	return out
}

func (h *clientHandlers) v2SelfStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, h.raft.v2SelfStats())
}

// v2LeaderStats is the body of /v2/stats/leader: v1's, keyed by ids.
type v2LeaderStats struct {
	Leader    string                   `json:"leader"`
	Followers map[string]followerStats `json:"followers"`
}

// v2LeaderStats answers on the leader only; a follower refuses as etcd 3.5
// does, where v1 redirects to the leader.
func (h *clientHandlers) v2LeaderStats(w http.ResponseWriter, _ *http.Request) {
	if !h.raft.isLeader() {
		writeJSON(w, http.StatusForbidden, v2Message{Message: "not current leader"})
		return
	}
	v1 := h.raft.leaderStats()
	out := v2LeaderStats{Leader: h.raft.memberID(v1.Leader), Followers: make(map[string]followerStats, len(v1.Followers))}
	for name, f := range v1.Followers {
		out.Followers[h.raft.memberID(name)] = f
	}
	writeJSON(w, http.StatusOK, out)
}

// v2StoreStats is the body of /v2/stats/store, in etcd 2's field order.
type v2StoreStats struct {
	GetsSuccess             uint64 `json:"getsSuccess"`
	GetsFail                uint64 `json:"getsFail"`
	SetsSuccess             uint64 `json:"setsSuccess"`
	SetsFail                uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                int    `json:"watchers"`
}

// storeStatsV2 maps the store's counters to etcd 2's. Both APIs' reads and
// writes count, as in etcd 2 (where internal traffic counts too): v1's get,
// set and delete are v2's, and its test-and-set is a compare-and-swap. The
// store's per-v2-action counters (update, create, compare-and-delete) are
// not there yet, and count 0 until they are mapped here.
func storeStatsV2(st store.Stats) v2StoreStats {
	return v2StoreStats{
		GetsSuccess:           st.Gets - st.GetsFail,
		GetsFail:              st.GetsFail,
		SetsSuccess:           st.Sets - st.SetsFail,
		SetsFail:              st.SetsFail,
		DeleteSuccess:         st.Deletes - st.DeletesFail,
		DeleteFail:            st.DeletesFail,
		CompareAndSwapSuccess: st.TestAndSets - st.TestAndSetsFail,
		CompareAndSwapFail:    st.TestAndSetsFail,
		ExpireCount:           st.Expires,
		Watchers:              st.Watchers,
	}
}

func (h *clientHandlers) v2StoreStats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, storeStatsV2(h.store.Stats()))
}

// health answers etcd 2's health check: healthy while a leader clients may
// be sent to is known. Its JSON goes out as text/plain, as etcd 3.5 sends
// it; etcdctl's cluster-health reads the body whatever its type.
func (h *clientHandlers) health(w http.ResponseWriter, _ *http.Request) {
	body, status := `{"health":"true","reason":""}`, http.StatusOK
	if _, err := h.raft.liveLeader(); err != nil {
		body, status = `{"health":"false","reason":"RAFT NO LEADER"}`, http.StatusServiceUnavailable
	}
	writeText(w, status, body)
}

// v2Version is what /version answers etcd 2's Go client. It names etcd
// 2.3, the last release whose API was v2 alone: the v2 API served here is
// 2.3's, and a tool that reads 3.x would go on to speak v3, which is not
// served.
var v2Version = struct {
	Server  string `json:"etcdserver"`
	Cluster string `json:"etcdcluster"`
}{"2.3.8", "2.3.0"}

// versionForClient answers /version: v1's text, unless the request has
// the query etcd 2's Go client sends (quorum, recursive and sorted, all
// three), which gets etcd 2's JSON. Other v2 clients (python-etcd) send
// nothing that tells them apart from v1's, and get the text.
func (h *clientHandlers) versionForClient(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("quorum") && q.Has("recursive") && q.Has("sorted") {
		writeJSON(w, http.StatusOK, v2Version)
		return
	}
	h.version(w, r)
}

// writeEncoded writes v as the whole body with the trailing newline of
// Go's json.Encoder, as etcd 2 ends its members answers.
func writeEncoded(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, v2Message{Message: "encode response: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
