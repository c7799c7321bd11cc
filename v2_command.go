package main

import (
	"time"

	"github.com/goraft/raft"

	"github.com/etcd-recreation/etcd/store"
)

func init() { raft.RegisterCommand(&V2Command{}) }

// V2Command is one write of the v2 keys API: set, create, update,
// compare-and-swap, in-order create, delete or compare-and-delete. It is a
// store write like the v1 commands, so it shares their log entries
// (BatchCommand) and their indexes. The expiration is stamped by the node
// that accepted the request, as v1's is, and so is AcceptedAt, the time
// the write's event shows the seconds left at (store.Write.At); an entry
// written before it had one shows them when it is delivered.
type V2Command struct {
	// Op is the write's name in the log (v2Ops): a name, not store.Op's
	// number, so that the log does not depend on how the store numbers
	// its writes.
	Op         string     `json:"op"`
	Key        string     `json:"key"`
	Value      string     `json:"value,omitempty"`
	PrevValue  string     `json:"prevValue,omitempty"`
	PrevIndex  uint64     `json:"prevIndex,omitempty"`
	ExpireTime *time.Time `json:"expireTime,omitempty"`
	Dir        bool       `json:"dir,omitempty"`
	Recursive  bool       `json:"recursive,omitempty"`
	Refresh    bool       `json:"refresh,omitempty"`
	AcceptedAt *time.Time `json:"acceptedAt,omitempty"`
}

// v2Ops are the names of the v2 writes in the log.
var v2Ops = map[string]store.Op{
	"set":              store.OpV2Set,
	"create":           store.OpV2Create,
	"update":           store.OpV2Update,
	"compareAndSwap":   store.OpV2CompareAndSwap,
	"createInOrder":    store.OpV2CreateInOrder,
	"delete":           store.OpV2Delete,
	"compareAndDelete": store.OpV2CompareAndDelete,
}

// v2CommandName is the v2 command's name in the log.
const v2CommandName = "etcd:v2"

// CommandName is the name of the command in the log.
func (c *V2Command) CommandName() string { return v2CommandName }

// Apply makes the write in the store.
func (c *V2Command) Apply(ctx raft.Context) (any, error) { return applyOne(ctx, c) }

// storeWrite is the write; an unknown op gives the empty write, which the
// store refuses at its index on every member alike.
func (c *V2Command) storeWrite() store.Write {
	op, known := v2Ops[c.Op]
	if !known {
		return store.Write{}
	}
	w := store.Write{
		Op:         op,
		Key:        c.Key,
		Value:      c.Value,
		PrevValue:  c.PrevValue,
		Expiration: expiration(c.ExpireTime),
		V2:         store.V2Write{Dir: c.Dir, Recursive: c.Recursive, PrevIndex: c.PrevIndex, Refresh: c.Refresh},
	}
	if c.AcceptedAt != nil {
		w.At = *c.AcceptedAt
	}
	return w
}

func (c *V2Command) inBatch() batchedWrite { return batchedWrite{V2: c} }
