package store

import "slices"

// Recent returns the newest n events of the history, oldest first: what a
// page opened now shows of the changes made before it. Refreshes are left
// out, as client watches skip them: the page's feed shows none.
func (s *Store) Recent(n int) []*Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	events := make([]*Event, 0, min(max(n, 0), s.history.len()))
	for i := s.history.len() - 1; i >= 0 && len(events) < n; i-- {
		if e := s.history.at(i); !e.refresh {
			events = append(events, e)
		}
	}
	slices.Reverse(events)
	return events
}

// WatchAll is Watch("/", sinceIndex) that receives refreshes too, which
// wake no client's watch: the dashboard shows TTLs as they are.
func (s *Store) WatchAll(sinceIndex uint64) (*Watcher, error) {
	return s.watch(&Watcher{
		eventChan:  make(chan *Event, 1),
		prefix:     "/",
		sinceIndex: sinceIndex,
		store:      s,
		recursive:  true,
		refreshes:  true,
	})
}

// IsRefresh reports whether e is the event of a refresh: a write that only
// moved an expiration on.
func (e *Event) IsRefresh() bool { return e.refresh }
