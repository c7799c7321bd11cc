package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// cluster is a fresh set of members of one system, started for one setup
// and killed after it.
type cluster struct {
	system  system
	members []*process
}

// startCluster starts size members of sys from binary, with their data and
// logs under dir. The caller stops the cluster even when this fails, since
// some members may be running.
func startCluster(ctx context.Context, sys system, binary string, size int, dir string) (*cluster, error) {
	c := &cluster{system: sys}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return c, err
	}
	for i := range size {
		p, err := newProcess(fmt.Sprintf("node%d", i+1), dir)
		if err != nil {
			return c, err
		}
		c.members = append(c.members, p)
	}
	if err := sys.launch(ctx, binary, c.members); err != nil {
		return c, fmt.Errorf("%w\n%s", err, c.logTails())
	}
	return c, nil
}

func (c *cluster) stop() {
	for _, m := range c.members {
		m.kill()
	}
}

// logTails shows the end of every member's log, to say why a start or a
// cell failed.
func (c *cluster) logTails() string {
	var b strings.Builder
	for _, m := range c.members {
		fmt.Fprintf(&b, "--- %s (%s):\n%s\n", m.name, m.logPath, m.logTail(15))
	}
	return b.String()
}

// leader is the member that leads now, waiting out an election.
func (c *cluster) leader(ctx context.Context) (*process, error) {
	var leader *process
	var lastErr error
	found := func(ctx context.Context) bool {
		leader, lastErr = c.system.leader(ctx, c.members)
		return lastErr == nil
	}
	if err := waitFor(ctx, "a leader", c.members, found); err != nil {
		return nil, errors.Join(err, lastErr)
	}
	return leader, nil
}

// leaderChangesSeen is, per member, how many new leaders it has logged so
// far. Logs catch every change, where polling could miss a quick one.
func (c *cluster) leaderChangesSeen() ([]int, error) {
	seen := make([]int, len(c.members))
	for i, m := range c.members {
		n, err := m.countLogLines(c.system.leaderChangeMarkers())
		if err != nil {
			return nil, err
		}
		seen[i] = n
	}
	return seen, nil
}

// cpuTime is the CPU time used by all members together.
func (c *cluster) cpuTime() (time.Duration, error) {
	var sum time.Duration
	for _, m := range c.members {
		t, err := m.cpuTime()
		if err != nil {
			return 0, err
		}
		sum += t
	}
	return sum, nil
}

// startTimeout bounds every wait for a cluster to come up or elect.
const startTimeout = 30 * time.Second

// waitFor polls ready until it holds, failing early if a member exits.
func waitFor(ctx context.Context, what string, members []*process, ready func(context.Context) bool) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if ready(ctx) {
			return nil
		}
		for _, m := range members {
			if m.hasExited() {
				return fmt.Errorf("%s exited while waiting for %s", m.name, what)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-poll.C:
		}
	}
}
