package store

// change is the event of one write with its v2 view, allocated in one
// piece: a write would otherwise allocate the event, its v2 event and the
// views of the node after and before it one by one.
type change struct {
	event      Event
	v2         V2Event
	node, prev NodeView
}

// newChange starts the event of a write at index of the v2 action
// v2Action. prev is the node at the key before the write, nil if there was
// none; it is viewed now, before the write changes it.
func newChange(index uint64, v2Action string, prev *node) *change {
	c := &change{}
	c.event.Index = index
	c.event.V2 = &c.v2
	c.v2.Action = v2Action
	c.v2.Node = &c.node
	if prev != nil {
		c.prev = prev.view()
		c.v2.PrevNode = &c.prev
	}
	return c
}

// put ends the event of a write that leaves n at its key. v1 shows every
// such write as a SET of the node's value and expiration, with the value
// of the file it replaced, if any; a directory as a SET with dir true.
func (c *change) put(n *node) *Event {
	e := &c.event
	e.Action = ActionSet
	e.Key = n.key
	e.Dir = n.isDir()
	e.Value = n.value
	e.Expiration = n.expiration()
	switch {
	case c.v2.PrevNode == nil:
		e.NewKey = true
	case !c.prev.Dir:
		e.PrevValue = c.prev.Value
	}
	c.node = n.view()
	return e
}

// removed ends the event of n's removal. v1 shows every removal as a
// DELETE with the value and expiration the node had; v2 shows the node
// without value or expiration, its modifiedIndex the write's.
func (c *change) removed(n *node) *Event {
	e := &c.event
	e.Action = ActionDelete
	e.Key = n.key
	e.Dir = n.isDir()
	e.PrevValue = n.value
	e.Expiration = n.expiration()
	c.node = NodeView{Key: n.key, Dir: n.isDir(), ModifiedIndex: e.Index, CreatedIndex: n.createdIndex()}
	return e
}
