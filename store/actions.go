package store

// ActionStats are the counters of one kind of operation, named by its
// action as the v2 API names it in its events and etcd in its metrics.
type ActionStats struct {
	Action string
	Read   bool   // a read; otherwise a write
	Total  uint64 // every call, failed or not
	Failed uint64
}

// ByAction returns the operation counters of st, one entry per action, for
// whoever reports them by action (the node's /metrics): a counter added to
// V2Stats is listed here, under its action, to show there.
func (st V2Stats) ByAction() []ActionStats {
	entry := func(action string, success, fail uint64) ActionStats {
		return ActionStats{Action: action, Total: success + fail, Failed: fail}
	}
	gets := entry(V2Get, st.GetsSuccess, st.GetsFail)
	gets.Read = true
	return []ActionStats{
		gets,
		entry(V2Set, st.SetsSuccess, st.SetsFail),
		entry(V2Delete, st.DeleteSuccess, st.DeleteFail),
		entry(V2Update, st.UpdateSuccess, st.UpdateFail),
		entry(V2Create, st.CreateSuccess, st.CreateFail),
		entry(V2CompareAndSwap, st.CompareAndSwapSuccess, st.CompareAndSwapFail),
		entry(V2CompareAndDelete, st.CompareAndDeleteSuccess, st.CompareAndDeleteFail),
	}
}
