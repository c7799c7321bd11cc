package store

import "slices"

// Recent returns the newest n events of the history, oldest first: what a
// page opened now shows of the changes made before it. Refreshes are left
// out, as watches skip them: the page's stream never sends one.
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
