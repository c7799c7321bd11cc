package web

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/etcd-recreation/etcd/store"
)

// feedEvent is an event as the page receives it, in its stream and in its
// data block alike: v2's view of the write (its action, node and prevNode,
// V2-API.md §5), whichever API made it, and the write's index, which v2's
// JSON leaves to a header and the page needs to place and resume events.
type feedEvent struct {
	Index    uint64    `json:"index"`
	Action   string    `json:"action"`
	Node     *feedNode `json:"node"`
	PrevNode *feedNode `json:"prevNode,omitempty"`
	// Refresh marks a write that only moved a TTL on: no client's watch
	// sees it, and the page's feed leaves it out, but its tree shows the
	// new TTL.
	Refresh bool `json:"refresh,omitempty"`
}

// feedNode is a node of a feedEvent. The page counts a TTL down from the
// expiration, so no ttl is sent.
type feedNode struct {
	Key           string     `json:"key"`
	Value         *string    `json:"value,omitempty"` // a file's; none for a directory or what is gone
	Dir           bool       `json:"dir,omitempty"`
	Expiration    *time.Time `json:"expiration,omitempty"`
	ModifiedIndex uint64     `json:"modifiedIndex"`
	CreatedIndex  uint64     `json:"createdIndex"`
}

// encodeFeedEvent is e as the page receives it.
func encodeFeedEvent(e *store.Event) ([]byte, error) {
	if e.V2 == nil {
		return nil, fmt.Errorf("the event of index %d has no v2 view", e.Index)
	}
	out := feedEvent{Index: e.Index, Action: e.V2.Action, Node: feedNodeOf(e.V2.Node), PrevNode: feedNodeOf(e.V2.PrevNode), Refresh: e.IsRefresh()}
	switch e.V2.Action {
	case store.V2Delete, store.V2CompareAndDelete, store.V2Expire:
		// What is gone has no value; its last one is in prevNode.
		out.Node.Value = nil
	}
	return json.Marshal(out)
}

func feedNodeOf(n *store.NodeView) *feedNode {
	if n == nil {
		return nil
	}
	out := &feedNode{Key: n.Key, Dir: n.Dir, Expiration: n.Expiration, ModifiedIndex: n.ModifiedIndex, CreatedIndex: n.CreatedIndex}
	if !n.Dir {
		value := n.Value
		out.Value = &value
	}
	return out
}
