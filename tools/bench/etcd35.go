package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// etcd35 is etcd v3.5 built from tools/etcd35, spoken to through its v2
// HTTP API (--enable-v2): the nearest it has to the v1 API.
type etcd35 struct{ v2Keys }

func (etcd35) label() string { return "v3.5" }

// launch starts every member at once with the whole cluster given up
// front, the way v3.5 forms a new cluster.
func (etcd35) launch(ctx context.Context, binary string, members []*process) error {
	initial := make([]string, len(members))
	for i, m := range members {
		initial[i] = m.name + "=" + m.peerURL()
	}
	for _, m := range members {
		args := []string{
			"--name", m.name,
			"--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL(),
			"--advertise-client-urls", m.clientURL(),
			"--listen-peer-urls", m.peerURL(),
			"--initial-advertise-peer-urls", m.peerURL(),
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--enable-v2",
		}
		if err := m.start(binary, args); err != nil {
			return err
		}
	}
	for _, m := range members {
		// /health is true once the member knows a leader.
		healthy := func(ctx context.Context) bool {
			body, err := getBody(ctx, m.clientURL()+"/health")
			return err == nil && bytes.Contains(body, []byte(`"health":"true"`))
		}
		if err := waitFor(ctx, m.name+" to be healthy", members, healthy); err != nil {
			return err
		}
	}
	return nil
}

// leader asks each member whether it leads.
func (etcd35) leader(ctx context.Context, members []*process) (*process, error) {
	var lastErr error
	for _, m := range members {
		body, err := getBody(ctx, m.clientURL()+"/v2/stats/self")
		if err != nil {
			lastErr = err
			continue
		}
		var self struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(body, &self); err != nil {
			lastErr = err
			continue
		}
		if self.State == "StateLeader" {
			return m, nil
		}
	}
	return nil, errors.Join(errors.New("no member leads"), lastErr)
}

func (etcd35) storeStatsURL(base string) string { return base + "/v2/stats/store" }

// leaderChangeMarkers are the messages of go.etcd.io/raft's node when it
// learns of a new leader.
func (etcd35) leaderChangeMarkers() []string {
	return []string{"elected leader", "changed leader from"}
}
