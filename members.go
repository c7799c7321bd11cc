package main

import (
	"fmt"
	"net/url"
	"path"
	"slices"
	"sort"
	"sync"

	"github.com/etcd-recreation/etcd/store"
)

// machinesDir is where the store keeps one key per member, as the original did.
const machinesDir = "/_etcd/machines"

func machineKey(name string) string { return path.Join(machinesDir, name) }

// checkMemberName refuses a name that is not one clean path segment of
// letters, digits, '-', '_' and '.': a member's name is a key under
// machinesDir, and "..", "." or "a/b" would name another key or none.
func checkMemberName(name string) error {
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("the name %q is not a member name: use letters, digits, '-', '_' and '.'", name)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return fmt.Errorf("the name %q is not a member name: %q is not allowed; use letters, digits, '-', '_' and '.'", name, c)
		}
	}
	return nil
}

// memberValue is the value of a member's key: a query string, as in 2013.
func memberValue(raftURL, etcdURL, raftVersion string) string {
	return "raft=" + raftURL + "&etcd=" + etcdURL + "&raftVersion=" + raftVersion
}

// member is how to reach one member of the cluster.
type member struct {
	RaftURL string
	EtcdURL string
}

// memberRegistry maps member names to their URLs. It is kept by applied
// join and remove commands (and rebuilt from the store after a snapshot), so it is the
// replicated view of membership; goraft's own peer map is not safe to read
// concurrently with a join.
type memberRegistry struct {
	mu      sync.RWMutex
	members map[string]member
}

func newMemberRegistry() *memberRegistry {
	return &memberRegistry{members: make(map[string]member)}
}

// add records a member; it reports false for a name already present.
func (r *memberRegistry) add(name string, m member) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[name]; ok {
		return false
	}
	r.members[name] = m
	return true
}

// remove forgets a member.
func (r *memberRegistry) remove(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.members, name)
}

func (r *memberRegistry) get(name string) (member, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.members[name]
	return m, ok
}

func (r *memberRegistry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.members)
}

// names returns the member names in sorted order.
func (r *memberRegistry) names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.members))
	for name := range r.members {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// others returns the names of the members other than self, sorted.
func (r *memberRegistry) others(self string) []string {
	names := r.names()
	return slices.DeleteFunc(names, func(name string) bool { return name == self })
}

// rebuild replaces the registry with the members recorded in the store.
func (r *memberRegistry) rebuild(st *store.Store) {
	members := make(map[string]member)
	events, dir, err := st.Get(machinesDir)
	if err == nil && dir {
		for _, e := range events {
			q, err := url.ParseQuery(e.Value)
			if err != nil {
				continue
			}
			members[path.Base(e.Key)] = member{RaftURL: q.Get("raft"), EtcdURL: q.Get("etcd")}
		}
	}
	r.mu.Lock()
	r.members = members
	r.mu.Unlock()
}
