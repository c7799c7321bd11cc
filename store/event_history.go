package store

import "sort"

// eventHistory keeps the most recent events, oldest first, so that a watcher
// can ask for what happened since an index it already knows.
type eventHistory struct {
	// ring grows up to limit and then wraps, so memory follows what is
	// actually held rather than the configured size.
	ring  []*Event
	limit int
	start int // position in ring of the oldest event
	// evictedIndex is the Index of the newest event no longer held
	// (dropped for space, or never kept when limit is 0); 0 if none.
	evictedIndex uint64
}

func newEventHistory(limit int) eventHistory {
	return eventHistory{limit: max(limit, 0)}
}

// add appends e, whose Index must exceed that of every event added before.
func (h *eventHistory) add(e *Event) {
	switch {
	case h.limit == 0:
		h.evictedIndex = e.Index
	case len(h.ring) < h.limit:
		h.ring = append(h.ring, e)
	default:
		h.evictedIndex = h.ring[h.start].Index
		h.ring[h.start] = e
		h.start = (h.start + 1) % len(h.ring)
	}
}

func (h *eventHistory) len() int { return len(h.ring) }

// at returns the i-th oldest event held.
func (h *eventHistory) at(i int) *Event { return h.ring[(h.start+i)%len(h.ring)] }

// oldestIndex returns the Index of the oldest event held, if any.
func (h *eventHistory) oldestIndex() (uint64, bool) {
	if len(h.ring) == 0 {
		return 0, false
	}
	return h.at(0).Index, true
}

// from returns the position of the oldest event held whose Index is at
// least since; len() if there is none.
func (h *eventHistory) from(since uint64) int {
	return sort.Search(h.len(), func(i int) bool { return h.at(i).Index >= since })
}

// events returns the events held, oldest first, in a new slice.
func (h *eventHistory) events() []*Event {
	events := make([]*Event, h.len())
	for i := range events {
		events[i] = h.at(i)
	}
	return events
}
