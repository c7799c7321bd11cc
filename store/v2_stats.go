package store

import "sync/atomic"

// V2Stats are the store's counters as the v2 API's /v2/stats/store shows
// them, in its field order (V2-API.md §13). They count every operation on
// the store by its v2 action, v1's included, as etcd's count its internal
// traffic: a v1 set is a set, a test-and-set a compareAndSwap, an
// in-order create a create. Like Stats they are local to one member.
type V2Stats struct {
	GetsSuccess             uint64 `json:"getsSuccess"`
	GetsFail                uint64 `json:"getsFail"`
	SetsSuccess             uint64 `json:"setsSuccess"`
	SetsFail                uint64 `json:"setsFail"`
	DeleteSuccess           uint64 `json:"deleteSuccess"`
	DeleteFail              uint64 `json:"deleteFail"`
	UpdateSuccess           uint64 `json:"updateSuccess"`
	UpdateFail              uint64 `json:"updateFail"`
	CreateSuccess           uint64 `json:"createSuccess"`
	CreateFail              uint64 `json:"createFail"`
	CompareAndSwapSuccess   uint64 `json:"compareAndSwapSuccess"`
	CompareAndSwapFail      uint64 `json:"compareAndSwapFail"`
	CompareAndDeleteSuccess uint64 `json:"compareAndDeleteSuccess"`
	CompareAndDeleteFail    uint64 `json:"compareAndDeleteFail"`
	ExpireCount             uint64 `json:"expireCount"`
	Watchers                int    `json:"watchers"` // currently registered, of both APIs
}

// v2Counter counts one v2 action's successes and failures.
type v2Counter struct{ success, fail atomic.Uint64 }

func (c *v2Counter) count(err error) {
	if err != nil {
		c.fail.Add(1)
	} else {
		c.success.Add(1)
	}
}

// v2Counters are the counters of V2Stats but the watchers.
type v2Counters struct {
	gets, sets, deletes, updates, creates, compareAndSwaps, compareAndDeletes v2Counter
}

// V2Stats returns the current counters as the v2 API shows them.
func (s *Store) V2Stats() V2Stats {
	s.mu.RLock()
	watchers := s.watchers.count
	s.mu.RUnlock()
	c := &s.v2Counters
	return V2Stats{
		GetsSuccess:             c.gets.success.Load(),
		GetsFail:                c.gets.fail.Load(),
		SetsSuccess:             c.sets.success.Load(),
		SetsFail:                c.sets.fail.Load(),
		DeleteSuccess:           c.deletes.success.Load(),
		DeleteFail:              c.deletes.fail.Load(),
		UpdateSuccess:           c.updates.success.Load(),
		UpdateFail:              c.updates.fail.Load(),
		CreateSuccess:           c.creates.success.Load(),
		CreateFail:              c.creates.fail.Load(),
		CompareAndSwapSuccess:   c.compareAndSwaps.success.Load(),
		CompareAndSwapFail:      c.compareAndSwaps.fail.Load(),
		CompareAndDeleteSuccess: c.compareAndDeletes.success.Load(),
		CompareAndDeleteFail:    c.compareAndDeletes.fail.Load(),
		ExpireCount:             s.counters.expires.Load(),
		Watchers:                watchers,
	}
}
