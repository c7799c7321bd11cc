package main

import (
	"math"
	"sync"
	"time"

	"github.com/etcd-recreation/etcd/internal/metrics"
)

// raftStats counts this node's raft traffic for /v1/stats/self and, on the
// leader, the health of each follower for /v1/stats/leader.
type raftStats struct {
	mu        sync.Mutex
	recv      trafficRate
	send      trafficRate
	followers map[string]*followerStats
	rtt       *metrics.PeerRTT
}

func newRaftStats(rtt *metrics.PeerRTT) *raftStats {
	return &raftStats{followers: make(map[string]*followerStats), rtt: rtt}
}

// trafficRate counts requests and their rate over the last window of them.
type trafficRate struct {
	count   uint64
	samples [rateWindow]time.Time
	next    int
	filled  int
}

// rateWindow is how many recent requests a rate is computed over.
const rateWindow = 200

func (t *trafficRate) add(now time.Time) {
	t.count++
	t.samples[t.next] = now
	t.next = (t.next + 1) % rateWindow
	t.filled = min(t.filled+1, rateWindow)
}

// rate is requests per second over the window; 0 once the traffic stopped.
func (t *trafficRate) rate(now time.Time) float64 {
	if t.filled < 2 {
		return 0
	}
	newest := t.samples[(t.next+rateWindow-1)%rateWindow]
	oldest := t.samples[(t.next+rateWindow-t.filled)%rateWindow]
	if now.Sub(newest) > time.Second {
		return 0
	}
	span := newest.Sub(oldest).Seconds()
	if span <= 0 {
		return 0
	}
	return float64(t.filled-1) / span
}

// followerStats is the leader's view of one follower's append latency.
type followerStats struct {
	Latency latencyStats `json:"latency"`
	Counts  struct {
		Fail    uint64 `json:"fail"`
		Success uint64 `json:"success"`
	} `json:"counts"`
	sum, sumSquares float64
	rtt             interface{ Observe(seconds float64) } // the follower's histogram in /metrics
}

type latencyStats struct {
	Current           float64 `json:"current"`
	Average           float64 `json:"average"`
	StandardDeviation float64 `json:"standardDeviation"`
	Minimum           float64 `json:"minimum"`
	Maximum           float64 `json:"maximum"`
}

func (s *raftStats) receivedAppend() {
	s.mu.Lock()
	s.recv.add(time.Now())
	s.mu.Unlock()
}

func (s *raftStats) sentAppend(peer string, took time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.send.add(time.Now())
	f := s.followers[peer]
	if f == nil {
		f = &followerStats{rtt: s.rtt.For(peer)}
		s.followers[peer] = f
	}
	if !ok {
		f.Counts.Fail++
		return
	}
	f.rtt.Observe(took.Seconds())
	ms := float64(took) / float64(time.Millisecond)
	f.Counts.Success++
	n := float64(f.Counts.Success)
	f.sum += ms
	f.sumSquares += ms * ms
	f.Latency.Current = ms
	f.Latency.Average = f.sum / n
	f.Latency.StandardDeviation = math.Sqrt(max(f.sumSquares/n-f.Latency.Average*f.Latency.Average, 0))
	if n == 1 || ms < f.Latency.Minimum {
		f.Latency.Minimum = ms
	}
	f.Latency.Maximum = max(f.Latency.Maximum, ms)
}

// selfStats is the body of /v1/stats/self.
type selfStats struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	StartTime  string `json:"startTime"`
	LeaderInfo struct {
		Leader string `json:"leader"`
		Uptime string `json:"uptime"`
	} `json:"leaderInfo"`
	RecvAppendRequestCnt uint64  `json:"recvAppendRequestCnt"`
	RecvPkgRate          float64 `json:"recvPkgRate,omitempty"`
	SendAppendRequestCnt uint64  `json:"sendAppendRequestCnt"`
	SendPkgRate          float64 `json:"sendPkgRate,omitempty"`
}

// dropFollower forgets a removed member's figures.
func (s *raftStats) dropFollower(peer string) {
	s.mu.Lock()
	delete(s.followers, peer)
	s.rtt.Forget(peer)
	s.mu.Unlock()
}

func (s *raftStats) fillSelf(out *selfStats, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out.RecvAppendRequestCnt = s.recv.count
	out.RecvPkgRate = s.recv.rate(now)
	out.SendAppendRequestCnt = s.send.count
	out.SendPkgRate = s.send.rate(now)
}

// leaderStats is the body of /v1/stats/leader.
type leaderStats struct {
	Leader    string                   `json:"leader"`
	Followers map[string]followerStats `json:"followers"`
}

func (s *raftStats) followerCopy(members []string, self string) map[string]followerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]followerStats)
	for _, name := range members {
		if name == self {
			continue
		}
		if f := s.followers[name]; f != nil {
			out[name] = *f
		} else {
			out[name] = followerStats{}
		}
	}
	return out
}

func (s *raftServer) selfStats() selfStats {
	now := time.Now()
	out := selfStats{Name: s.cfg.Name, State: s.raft.State(), StartTime: s.startTime.Format(time.RFC3339Nano)}
	out.LeaderInfo.Leader = s.guard.Leader()
	if since := s.guard.LeaderSince(); !since.IsZero() {
		out.LeaderInfo.Uptime = now.Sub(since).Round(time.Millisecond).String()
	}
	s.stats.fillSelf(&out, now)
	return out
}

func (s *raftServer) leaderStats() leaderStats {
	return leaderStats{Leader: s.cfg.Name, Followers: s.stats.followerCopy(s.members.names(), s.cfg.Name)}
}
