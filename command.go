package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/etcderr"
	"github.com/etcd-recreation/etcd/store"
)

// The raft commands. Each is a log entry, applied in log order on every
// member and again on every replay, so Apply is deterministic: times travel
// in the command (stamped by the node that accepted the request), never read
// from the clock.

func init() {
	raft.RegisterCommand(&SetCommand{})
	raft.RegisterCommand(&TestAndSetCommand{})
	raft.RegisterCommand(&DeleteCommand{})
	raft.RegisterCommand(&ExpireCommand{})
	raft.RegisterCommand(&JoinCommand{})
	raft.RegisterCommand(&RemoveCommand{})
}

// SetCommand sets a key, creating the directories above it.
type SetCommand struct {
	Key        string     `json:"key"`
	Value      string     `json:"value"`
	ExpireTime *time.Time `json:"expireTime,omitempty"`
}

// CommandName is the name of the command in the log.
func (c *SetCommand) CommandName() string { return "etcd:set" }

// Apply sets the key in the store.
func (c *SetCommand) Apply(ctx raft.Context) (any, error) {
	return applyWrite(ctx, func(st *store.Store, index uint64) (*store.Event, error) {
		return st.Set(c.Key, c.Value, expiration(c.ExpireTime), index)
	})
}

// TestAndSetCommand sets a key if its current value is PrevValue.
type TestAndSetCommand struct {
	Key        string     `json:"key"`
	Value      string     `json:"value"`
	PrevValue  string     `json:"prevValue"`
	ExpireTime *time.Time `json:"expireTime,omitempty"`
}

// CommandName is the name of the command in the log.
func (c *TestAndSetCommand) CommandName() string { return "etcd:testAndSet" }

// Apply compares and sets the key in the store.
func (c *TestAndSetCommand) Apply(ctx raft.Context) (any, error) {
	return applyWrite(ctx, func(st *store.Store, index uint64) (*store.Event, error) {
		return st.TestAndSet(c.Key, c.PrevValue, c.Value, expiration(c.ExpireTime), index)
	})
}

// DeleteCommand deletes a key.
type DeleteCommand struct {
	Key string `json:"key"`
}

// CommandName is the name of the command in the log.
func (c *DeleteCommand) CommandName() string { return "etcd:delete" }

// Apply deletes the key from the store.
func (c *DeleteCommand) Apply(ctx raft.Context) (any, error) {
	return applyWrite(ctx, func(st *store.Store, index uint64) (*store.Event, error) {
		return st.Delete(c.Key, index)
	})
}

// ExpireCommand removes a key whose TTL ran out. The leader decides that it
// did, so every member removes it at the same index; the expiration it saw
// is carried along so that a key re-set in the meantime is left alone.
type ExpireCommand struct {
	Key        string    `json:"key"`
	ExpireTime time.Time `json:"expireTime"`
}

// CommandName is the name of the command in the log.
func (c *ExpireCommand) CommandName() string { return "etcd:expire" }

// Apply expires the key in the store.
func (c *ExpireCommand) Apply(ctx raft.Context) (any, error) {
	return applyWrite(ctx, func(st *store.Store, index uint64) (*store.Event, error) {
		return st.Expire(c.Key, c.ExpireTime, index)
	})
}

// JoinCommand adds a member to the cluster. A node's join of itself on an
// empty log founds a new cluster.
type JoinCommand struct {
	RaftVersion string `json:"raftVersion"`
	Name        string `json:"name"`
	RaftURL     string `json:"raftURL"`
	EtcdURL     string `json:"etcdURL"`
}

// joinCommandName is the join command's name in the log.
const joinCommandName = "etcd:join"

// CommandName is the name of the command in the log.
func (c *JoinCommand) CommandName() string { return joinCommandName }

// NodeName lets goraft recognise the self-join that founds a cluster.
func (c *JoinCommand) NodeName() string { return c.Name }

// Apply records the member in the store, and only once the store took it
// makes it a raft peer: a member the store refused would count towards the
// quorum without ever voting. A name already known is a rejoin: its URLs
// stay as they were. The name is checked here too, as a log written before
// names were checked may hold a join that must now be refused the same way
// on every member and every replay.
func (c *JoinCommand) Apply(ctx raft.Context) (any, error) {
	s := ctx.Server().Context().(*raftServer)
	if _, known := s.members.get(c.Name); known {
		flushCommitIndex(ctx)
		return nil, nil
	}
	if err := checkMemberName(c.Name); err != nil {
		flushCommitIndex(ctx)
		return nil, etcderr.New(etcderr.InvalidField, "join: "+err.Error())
	}
	event, err := applyWrite(ctx, func(st *store.Store, index uint64) (*store.Event, error) {
		return st.Set(machineKey(c.Name), memberValue(c.RaftURL, c.EtcdURL, c.RaftVersion), time.Time{}, index)
	})
	if err != nil || event == nil {
		flushCommitIndex(ctx)
		return event, err
	}
	if err := ctx.Server().AddPeer(c.Name, c.RaftURL); err != nil {
		return nil, err
	}
	s.confWritten()
	s.members.add(c.Name, member{RaftURL: c.RaftURL, EtcdURL: c.EtcdURL})
	if c.Name == s.cfg.Name {
		s.setCampaigning(true)
	}
	return event, nil
}

// RemoveCommand takes a member out of the cluster, as etcd v0.1.2's
// etcd:remove did.
type RemoveCommand struct {
	Name string `json:"name"`
}

// removeCommandName is the remove command's name in the log.
const removeCommandName = "etcd:remove"

// CommandName is the name of the command in the log.
func (c *RemoveCommand) CommandName() string { return removeCommandName }

// Apply deletes the member's key, then its raft peer: from the next entry
// on, the quorum is counted without it. The name is checked again here, so
// that every member and every replay refuses an unknown name alike.
func (c *RemoveCommand) Apply(ctx raft.Context) (any, error) {
	s := ctx.Server().Context().(*raftServer)
	if _, known := s.members.get(c.Name); !known {
		return nil, etcderr.Newf(etcderr.KeyNotFound, "remove: %q is not a member", c.Name)
	}
	event, err := applyWrite(ctx, func(st *store.Store, index uint64) (*store.Event, error) {
		return st.Delete(machineKey(c.Name), index)
	})
	if err != nil {
		return nil, err
	}
	// goraft refuses only a name it does not hold, which can happen when a
	// snapshot already held this removal (event is nil then). Its own name
	// it keeps, but it saves conf, with the commit index, all the same, so
	// a restart replays this removal.
	if err := ctx.Server().RemovePeer(c.Name); err != nil && event != nil {
		return nil, fmt.Errorf("remove %q: %w", c.Name, err)
	}
	s.confWritten()
	s.memberRemoved(c.Name)
	return event, nil
}

// flushCommitIndex saves the commit index with a join that added no peer
// (AddPeer saves it otherwise). goraft stops applying after every join
// until it is asked to commit again, and at start-up applies only what the
// saved commit index covers: a lone node with a join past it would wait for
// a command that no client can send while it catches up.
func flushCommitIndex(ctx raft.Context) {
	ctx.Server().FlushCommitIndex()
	ctx.Server().Context().(*raftServer).confWritten()
}

// applyWrite runs one store write at the entry's own index. goraft's context
// gives that index as the smaller of its two counters: live applies see the
// log's end in CurrentIndex, replays at start-up see the saved commit index in
// CommitIndex.
func applyWrite(ctx raft.Context, write func(*store.Store, uint64) (*store.Event, error)) (any, error) {
	s := ctx.Server().Context().(*raftServer)
	index := min(ctx.CurrentIndex(), ctx.CommitIndex())
	event, err := write(s.store, index)
	if errors.Is(err, store.ErrAlreadyApplied) {
		// A snapshot taken while this entry was being applied already holds it.
		return nil, nil
	}
	s.applied(ctx.Server())
	if err != nil {
		return nil, err
	}
	return event, nil
}

func expiration(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// expireTime is the command form of an expiration: absent for a permanent key.
func expireTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
