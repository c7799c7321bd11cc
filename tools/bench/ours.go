package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
)

// ours is this project: the v1 API of 2013, members joining one by one.
type ours struct {
	// profileDir, if set, receives a CPU profile of every member, written
	// when the member stops.
	profileDir string
	// before marks another build of this project measured beside this one,
	// such as the commit before a change (-before).
	before bool
}

// beforeLabel names the other build in -systems, the table and the JSON.
const beforeLabel = "before"

func (o ours) label() string {
	if o.before {
		return beforeLabel
	}
	return "ours"
}

func (o ours) launch(ctx context.Context, binary string, members []*process) error {
	for i, m := range members {
		args := []string{"-n", m.name, "-c", m.clientAddr, "-s", m.peerAddr, "-d", m.dataDir}
		if o.profileDir != "" {
			// The setup's directory tells the single node from the cluster's
			// first member.
			setupDir := filepath.Base(filepath.Dir(m.dataDir))
			args = append(args, "-cpuprofile", filepath.Join(o.profileDir, setupDir+"-"+m.name+".pprof"))
		}
		if i > 0 {
			// Joins go one at a time through the founder, as in the README.
			args = append(args, "-C", members[0].peerAddr)
		}
		if err := m.start(binary, args); err != nil {
			return err
		}
		// A member answers clients only once it has founded or joined the
		// cluster and its store has caught up.
		serving := func(ctx context.Context) bool {
			_, err := getBody(ctx, m.clientURL()+"/v1/keys/_etcd/machines")
			return err == nil
		}
		if err := waitFor(ctx, m.name+" to serve clients", members[:i+1], serving); err != nil {
			return err
		}
	}
	allJoined := func(ctx context.Context) bool {
		body, err := getBody(ctx, members[0].clientURL()+"/v1/machines")
		return err == nil && len(strings.Split(string(body), ",")) == len(members)
	}
	return waitFor(ctx, "every member to be listed in /v1/machines", members, allJoined)
}

// leader maps the raft URL that /v1/leader names to the member.
func (ours) leader(ctx context.Context, members []*process) (*process, error) {
	var lastErr error
	for _, m := range members {
		body, err := getBody(ctx, m.clientURL()+"/v1/leader")
		if err != nil {
			lastErr = err
			continue
		}
		for _, l := range members {
			if strings.TrimSpace(string(body)) == l.peerURL() {
				return l, nil
			}
		}
		lastErr = fmt.Errorf("/v1/leader names %q, no member of this cluster", body)
	}
	return nil, errors.Join(errors.New("no member knows a leader"), lastErr)
}

func (ours) write(ctx context.Context, base, key, value string) (*http.Request, error) {
	return newRequest(ctx, http.MethodPost, base+"/v1/keys/"+key, url.Values{"value": {value}})
}

func (ours) read(ctx context.Context, base, key string) (*http.Request, error) {
	return newRequest(ctx, http.MethodGet, base+"/v1/keys/"+key, nil)
}

func (ours) testAndSet(ctx context.Context, base, key, prevValue, value string) (*http.Request, error) {
	return newRequest(ctx, http.MethodPost, base+"/v1/keys/"+key, url.Values{"prevValue": {prevValue}, "value": {value}})
}

// watch uses GET for the next change and POST with index for a past one,
// as the 2013 clients did; every v1 watch covers the whole prefix.
func (ours) watch(ctx context.Context, base, key string, sinceIndex uint64) (*http.Request, error) {
	if sinceIndex == 0 {
		return newRequest(ctx, http.MethodGet, base+"/v1/watch/"+key, nil)
	}
	return newRequest(ctx, http.MethodPost, base+"/v1/watch/"+key, url.Values{"index": {strconv.FormatUint(sinceIndex, 10)}})
}

func (ours) storeStatsURL(base string) string { return base + "/v1/stats/store" }

func (ours) leaderChangeMarkers() []string { return []string{"raft: leader is now"} }
