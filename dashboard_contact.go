package main

import (
	"time"

	"github.com/etcd-recreation/etcd/web"
)

// dashboardContact is the leader's word on its followers for the
// dashboard. A follower silent for longer than an append's deadline (the
// transporter's, twice the election timeout) did not answer the last
// append: the page shows it as down, and how long it has been silent.
func (s *raftServer) dashboardContact() web.Contact {
	silences := s.guard.Silences(time.Now())
	if silences == nil {
		return web.Contact{}
	}
	deadline := 2 * s.cfg.ElectionTimeout
	out := web.Contact{Leading: true, Followers: make(map[string]web.FollowerContact, len(silences))}
	for name, silent := range silences {
		out.Followers[name] = web.FollowerContact{Answering: silent <= deadline, SilentSeconds: silent.Seconds()}
	}
	return out
}
