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
	raft.RegisterCommand(&BatchCommand{})
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
func (c *SetCommand) Apply(ctx raft.Context) (any, error) { return applyOne(ctx, c) }

func (c *SetCommand) storeWrite() store.Write {
	return store.Write{Op: store.OpSet, Key: c.Key, Value: c.Value, Expiration: expiration(c.ExpireTime)}
}

func (c *SetCommand) inBatch() batchedWrite { return batchedWrite{Set: c} }

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
func (c *TestAndSetCommand) Apply(ctx raft.Context) (any, error) { return applyOne(ctx, c) }

func (c *TestAndSetCommand) storeWrite() store.Write {
	return store.Write{Op: store.OpTestAndSet, Key: c.Key, PrevValue: c.PrevValue, Value: c.Value, Expiration: expiration(c.ExpireTime)}
}

func (c *TestAndSetCommand) inBatch() batchedWrite { return batchedWrite{TestAndSet: c} }

// DeleteCommand deletes a key.
type DeleteCommand struct {
	Key string `json:"key"`
}

// CommandName is the name of the command in the log.
func (c *DeleteCommand) CommandName() string { return "etcd:delete" }

// Apply deletes the key from the store.
func (c *DeleteCommand) Apply(ctx raft.Context) (any, error) { return applyOne(ctx, c) }

func (c *DeleteCommand) storeWrite() store.Write { return store.Write{Op: store.OpDelete, Key: c.Key} }

func (c *DeleteCommand) inBatch() batchedWrite { return batchedWrite{Delete: c} }

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
func (c *ExpireCommand) Apply(ctx raft.Context) (any, error) { return applyOne(ctx, c) }

func (c *ExpireCommand) storeWrite() store.Write {
	return store.Write{Op: store.OpExpire, Key: c.Key, Expiration: c.ExpireTime}
}

func (c *ExpireCommand) inBatch() batchedWrite { return batchedWrite{Expire: c} }

// storeCommand is a command that is one store write: set, test-and-set,
// delete, expire or a v2 write. Such commands can share a log entry (BatchCommand).
type storeCommand interface {
	raft.Command
	storeWrite() store.Write
	inBatch() batchedWrite
}

// BatchCommand is several store writes in one log entry: the writes that
// reached a leader while it was proposing the ones before, so that one
// append, one replication and one sync serve them all. They are applied in
// order and take consecutive indexes (see store.Apply).
type BatchCommand struct {
	Writes []batchedWrite `json:"writes"`
}

// batchedWrite is one write of a batch: exactly one field is set.
type batchedWrite struct {
	Set        *SetCommand        `json:"set,omitempty"`
	TestAndSet *TestAndSetCommand `json:"testAndSet,omitempty"`
	Delete     *DeleteCommand     `json:"delete,omitempty"`
	Expire     *ExpireCommand     `json:"expire,omitempty"`
	V2         *V2Command         `json:"v2,omitempty"`
}

// storeWrite is the write, or an empty one (which the store refuses at its
// index, on every member alike) when the log holds none.
func (b batchedWrite) storeWrite() store.Write {
	switch {
	case b.Set != nil:
		return b.Set.storeWrite()
	case b.TestAndSet != nil:
		return b.TestAndSet.storeWrite()
	case b.Delete != nil:
		return b.Delete.storeWrite()
	case b.Expire != nil:
		return b.Expire.storeWrite()
	case b.V2 != nil:
		return b.V2.storeWrite()
	}
	return store.Write{}
}

// batchCommandName is the batch command's name in the log.
const batchCommandName = "etcd:batch"

// CommandName is the name of the command in the log.
func (c *BatchCommand) CommandName() string { return batchCommandName }

// Apply applies every write of the batch and returns their results, in
// order.
func (c *BatchCommand) Apply(ctx raft.Context) (any, error) {
	writes := make([]store.Write, len(c.Writes))
	for i, w := range c.Writes {
		writes[i] = w.storeWrite()
	}
	return applyWrites(ctx, writes)
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
	if err != nil {
		flushCommitIndex(ctx)
		return nil, err
	}
	if err := ctx.Server().AddPeer(c.Name, c.RaftURL); err != nil {
		return nil, err
	}
	s.confWritten()
	s.members.add(c.Name, member{RaftURL: c.RaftURL, EtcdURL: c.EtcdURL})
	s.guard.MemberAdded(c.Name)
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
	alreadyApplied := errors.Is(err, errEntryAlreadyApplied)
	if err != nil && !alreadyApplied {
		return nil, err
	}
	// goraft refuses only a name it does not hold, which can happen when a
	// snapshot already held this removal. Its own name it keeps, but it
	// saves conf, with the commit index, all the same, so a restart replays
	// this removal.
	if rerr := ctx.Server().RemovePeer(c.Name); rerr != nil && !alreadyApplied {
		return nil, fmt.Errorf("remove %q: %w", c.Name, rerr)
	}
	s.confWritten()
	s.memberRemoved(c.Name)
	return event, err
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

// entryPosition is the index of the entry being applied. goraft's context
// gives it as the smaller of its two counters: live applies see the log's
// end in CurrentIndex, replays at start-up see the saved commit index in
// CommitIndex.
func entryPosition(ctx raft.Context) uint64 {
	return min(ctx.CurrentIndex(), ctx.CommitIndex())
}

// applyOne applies an entry of one store write.
func applyOne(ctx raft.Context, c storeCommand) (any, error) {
	results, err := applyWrites(ctx, []store.Write{c.storeWrite()})
	if len(results) == 0 {
		return nil, err
	}
	return results[0].Event, results[0].Err
}

// applyWrites applies an entry of store writes, and returns their results,
// one for each write.
func applyWrites(ctx raft.Context, writes []store.Write) ([]store.Result, error) {
	return applyWrite(ctx, func(st *store.Store, position uint64) ([]store.Result, error) {
		return st.Apply(position, writes)
	})
}

// errEntryAlreadyApplied is a leader's own proposal whose log position the
// store had already applied: the store holds entries its log does not, and
// this write, committed, was not applied here.
var errEntryAlreadyApplied = errors.New("raft: the write was committed, but this member's store had already applied an entry at its log position: the write was not applied here")

// applyWrite runs an entry's store writes at the entry's position, and
// counts the entry as applied. An entry the store already holds (a snapshot
// saved the store while entries went on being applied, and the log is
// replayed or sent again from the snapshot's index) gives
// errEntryAlreadyApplied, which goraft hands only to the leader that
// proposed the entry: for that leader it is a defect, not a result.
func applyWrite[T any](ctx raft.Context, write func(*store.Store, uint64) (T, error)) (T, error) {
	s := ctx.Server().Context().(*raftServer)
	v, err := write(s.store, entryPosition(ctx))
	if errors.Is(err, store.ErrAlreadyApplied) {
		var none T
		return none, errEntryAlreadyApplied
	}
	s.entryApplied(ctx.Server())
	return v, err
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
