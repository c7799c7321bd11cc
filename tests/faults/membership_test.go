package faults

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/etcd-recreation/etcd/internal/testnode"
)

// A membership change is answered only once the members have applied it,
// so that a leader dying right after the answer leaves members that count
// the new membership. churnMembership checks that, with the spare (a
// fourth member): it joins (3 -> 4), the leader is killed the moment the
// join is answered, and the three others must elect a leader; then it is
// removed (4 -> 3), the leader is killed the moment the remove is
// answered, and the two others must elect one. Each time the spare comes
// back another way: on a fresh data directory, on its old one as it was
// (its log holds its removal), and with -f over it.
const churnMembership faultKind = "join a 4th member, kill -9 leader; remove it, kill -9 leader"

// rejoinWays are the ways the spare joins, in turn.
var rejoinWays = []string{"a fresh data directory", "its old data directory as it was", "-f over its old data directory"}

// joinAnswered is what a node logs when its join was answered: a first
// join, or asking again over an old log.
var joinAnswered = []string{"joined the cluster through", "as a member (asked through"}

// newSpare prepares the spare: it joins through every member.
func (c *cluster) newSpare() error {
	var join []string
	for _, m := range c.members {
		join = append(join, m.raftAddr)
	}
	s, err := c.newMember(len(c.members), join, memberFlags)
	if err != nil {
		return err
	}
	// The spare stops by itself when removed: the harness checks that.
	s.onExit = nil
	c.spare = s
	return nil
}

// churn runs churnMembership once; round picks the way the spare joins.
func (n *nemesis) churn(round int) error {
	c, s := n.c, n.c.spare
	way := rejoinWays[round%len(rejoinWays)]
	args := s.args
	switch way {
	case rejoinWays[0]:
		if err := os.RemoveAll(s.dataDir); err != nil {
			return err
		}
	case rejoinWays[2]:
		s.args = append(append([]string(nil), args...), "-f")
		defer func() { s.args = args }()
	}

	// Join, and kill the leader that answered it.
	l, err := n.leader()
	if err != nil {
		return err
	}
	logStart := fileSize(s.logPath)
	n.tl.add("start %s on %s: it joins", s.name, way)
	if err := s.start(); err != nil {
		return err
	}
	if err := waitLogLine(s, logStart, joinAnswered, readyTimeout); err != nil {
		return err
	}
	n.tl.add("kill -9 %s (leader) right after %s's join was answered", l.name, s.name)
	if err := n.killAndExpectLeader(l); err != nil {
		return fmt.Errorf("after %s joined: %v", s.name, err)
	}
	if err := c.waitReady(s, readyTimeout); err != nil {
		return err
	}
	if _, err := c.waitHealthy(healthTimeout); err != nil {
		return err
	}

	// Remove, and kill the leader that answered it, unless it was the
	// spare: that one stops by itself.
	if l, err = n.leader(); err != nil {
		return err
	}
	if err := c.remove(l, s.name); err != nil {
		return err
	}
	if l == s {
		n.tl.add("%s (leader) removed itself", s.name)
	} else {
		n.tl.add("kill -9 %s (leader) right after %s's removal was answered", l.name, s.name)
		if err := n.killAndExpectLeader(l); err != nil {
			return fmt.Errorf("after %s was removed: %v", s.name, err)
		}
	}
	p := s.process()
	if err := p.Wait(exitTimeout); err != nil {
		return fmt.Errorf("%s did not stop by itself within %v of its removal", s.name, exitTimeout)
	}
	if p.Killed() || p.ExitCode() != 0 {
		return fmt.Errorf("%s ended with status %d after its removal, want 0: %s", s.name, p.ExitCode(), s.logTail(5))
	}
	n.tl.add("%s stopped by itself, status 0", s.name)
	return nil
}

// killAndExpectLeader kills the leader l and expects the others to elect
// another within majorityElectsWithin; then it restarts l.
func (n *nemesis) killAndExpectLeader(l *member) error {
	c := n.c
	if err := c.kill(l); err != nil {
		return err
	}
	start := time.Now()
	nl, err := c.findLeader(majorityElectsWithin, l)
	if err != nil {
		return fmt.Errorf("the others elected no leader within %v of killing the leader %s: %v", majorityElectsWithin, l.name, err)
	}
	n.tl.add("%s leads, %v after the kill", nl.name, time.Since(start).Round(time.Millisecond))
	n.tl.add("restart %s", l.name)
	return c.startAndWait(l)
}

// remove sends DELETE /remove/NAME to m's peer port (through its proxy),
// following a redirect to the leader, and expects 200.
func (c *cluster) remove(m *member, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	target := m.raftURL() + "/remove/" + name
	for range 3 {
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, target, nil)
		if err != nil {
			return err
		}
		r, err := testnode.Send(c.slow, req)
		if err != nil {
			return fmt.Errorf("DELETE %s: %v", target, err)
		}
		switch r.Status {
		case http.StatusOK:
			return nil
		case http.StatusTemporaryRedirect:
			target = r.Header.Get("Location")
		default:
			return fmt.Errorf("DELETE %s: %v", target, r)
		}
	}
	return fmt.Errorf("DELETE /remove/%s: too many redirects", name)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// waitLogLine waits until m's log, past offset from, holds one of lines.
// It polls often: the harness must act the moment the node logs it.
func waitLogLine(m *member, from int64, lines []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(m.logPath)
		if err == nil && int64(len(b)) > from {
			for _, line := range lines {
				if strings.Contains(string(b[from:]), line) {
					return nil
				}
			}
		}
		if !m.running() {
			return fmt.Errorf("%s exited before its join was answered: %s", m.name, m.logTail(5))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s's join was not answered within %v: %s", m.name, timeout, m.logTail(5))
		}
		time.Sleep(time.Millisecond)
	}
}
