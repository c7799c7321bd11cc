package store

import "sync/atomic"

// Stats are the store's operation counters since the process started. They
// are local to one member and not replicated. Each operation counter counts
// every call, failed or not, except writes refused with ErrAlreadyApplied;
// the matching ...Fail counter counts the failed ones.
type Stats struct {
	Gets            uint64 `json:"gets"`
	GetsFail        uint64 `json:"getsFail"`
	Sets            uint64 `json:"sets"`
	SetsFail        uint64 `json:"setsFail"`
	Deletes         uint64 `json:"deletes"`
	DeletesFail     uint64 `json:"deletesFail"`
	TestAndSets     uint64 `json:"testAndSets"`
	TestAndSetsFail uint64 `json:"testAndSetsFail"`
	Expires         uint64 `json:"expires"`  // expiries that deleted a node
	Watchers        int    `json:"watchers"` // currently registered
}

// counters are atomic because reads update them under a shared lock.
type counters struct {
	gets, getsFail               atomic.Uint64
	sets, setsFail               atomic.Uint64
	deletes, deletesFail         atomic.Uint64
	testAndSets, testAndSetsFail atomic.Uint64
	expires                      atomic.Uint64
}

// count adds one to total, and to fail if err is not nil.
func count(total, fail *atomic.Uint64, err error) {
	total.Add(1)
	if err != nil {
		fail.Add(1)
	}
}

// Stats returns the current counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	watchers := s.watchers.count
	s.mu.RUnlock()
	c := &s.counters
	return Stats{
		Gets:            c.gets.Load(),
		GetsFail:        c.getsFail.Load(),
		Sets:            c.sets.Load(),
		SetsFail:        c.setsFail.Load(),
		Deletes:         c.deletes.Load(),
		DeletesFail:     c.deletesFail.Load(),
		TestAndSets:     c.testAndSets.Load(),
		TestAndSetsFail: c.testAndSetsFail.Load(),
		Expires:         c.expires.Load(),
		Watchers:        watchers,
	}
}
