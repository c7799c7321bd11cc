package store

// Recent returns the newest n events of the history, oldest first: what a
// page opened now shows of the changes made before it.
func (s *Store) Recent(n int) []*Event {
	s.mu.RLock()
	defer s.mu.RUnlock()
	held := s.history.len()
	n = min(max(n, 0), held)
	events := make([]*Event, n)
	for i := range events {
		events[i] = s.history.at(held - n + i)
	}
	return events
}
