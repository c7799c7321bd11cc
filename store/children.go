package store

import "hash/maphash"

// childSet is a directory's set of child nodes, found by name. A Go map
// from name to node holds a string header per child beside the node's own
// key, and took 55 to 60 bytes a child in all with a million keys; this
// open-addressing table holds only the node pointers, 11 to 21 bytes a
// child, and finds a child's name in its key.
type childSet struct {
	slots []*node // nil, or a power of two long, at most 3/4 full
	count int
}

// childSeed is random per process, so that no one can choose names that
// all land in one place.
var childSeed = maphash.MakeSeed()

func (c *childSet) home(name string) int {
	return int(maphash.String(childSeed, name) & uint64(len(c.slots)-1))
}

func (c *childSet) next(i int) int { return (i + 1) & (len(c.slots) - 1) }

func (c *childSet) len() int { return c.count }

// get returns the child named name, nil if there is none.
func (c *childSet) get(name string) *node {
	if c.count == 0 {
		return nil
	}
	for i := c.home(name); ; i = c.next(i) {
		if n := c.slots[i]; n == nil || n.name() == name {
			return n
		}
	}
}

// add adds n, whose name no child has.
func (c *childSet) add(n *node) {
	if (c.count+1)*4 > len(c.slots)*3 {
		old := c.slots
		c.slots = make([]*node, max(8, 2*len(old)))
		for _, o := range old {
			if o != nil {
				c.place(o)
			}
		}
	}
	c.place(n)
	c.count++
}

func (c *childSet) place(n *node) {
	i := c.home(n.name())
	for c.slots[i] != nil {
		i = c.next(i)
	}
	c.slots[i] = n
}

// remove removes the child named name, if there is one.
func (c *childSet) remove(name string) {
	if c.count == 0 {
		return
	}
	i := c.home(name)
	for {
		n := c.slots[i]
		if n == nil {
			return
		}
		if n.name() == name {
			break
		}
		i = c.next(i)
	}
	c.slots[i] = nil
	c.count--
	// Move back the children after the hole whose search would now stop at
	// it: those whose home is not between the hole and where they are.
	for j := c.next(i); c.slots[j] != nil; j = c.next(j) {
		if h := c.home(c.slots[j].name()); !cyclicBetween(i, h, j) {
			c.slots[i], c.slots[j] = c.slots[j], nil
			i = j
		}
	}
}

// cyclicBetween reports whether h lies in (i, j] going round the table.
func cyclicBetween(i, h, j int) bool {
	if i <= j {
		return i < h && h <= j
	}
	return i < h || h <= j
}

// each calls f for every child, in no particular order.
func (c *childSet) each(f func(*node)) {
	for _, n := range c.slots {
		if n != nil {
			f(n)
		}
	}
}
