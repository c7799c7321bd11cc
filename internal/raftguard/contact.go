package raftguard

import "time"

// Silences returns, on a leader, how long each other member has gone
// without answering it (see quorum), counted from its last answer or from
// when this node began to lead, whichever is later: a new leader has sent
// nothing yet, and an answer heard before it led says nothing of now. A
// member being sent a snapshot answers nothing else meanwhile and counts
// as heard from. It returns nil on a node that does not lead.
func (g *Guard) Silences(now time.Time) map[string]time.Duration {
	leader, _, since := g.leader.current()
	if leader != g.name {
		return nil
	}
	q := g.quorum
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[string]time.Duration, len(q.members))
	for name := range q.members {
		if name == q.self {
			continue
		}
		heard := q.heard[name]
		if heard.Before(since) {
			heard = since
		}
		if q.snapshotting[name] > 0 {
			heard = now
		}
		out[name] = max(now.Sub(heard), 0)
	}
	return out
}
