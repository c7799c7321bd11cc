package store

// ActionStats are the counters of one kind of operation, named by its
// action as etcd's v2 store names it in its events and metrics.
type ActionStats struct {
	Action string
	Read   bool   // a read; otherwise a write
	Total  uint64 // every call, failed or not
	Failed uint64
}

// ByAction returns the operation counters of st, one entry per action: a
// counter added to Stats is listed here, under its action, for whoever
// reports them by action (the node's /metrics) to show it.
func (st Stats) ByAction() []ActionStats {
	return []ActionStats{
		{Action: "get", Read: true, Total: st.Gets, Failed: st.GetsFail},
		{Action: "set", Total: st.Sets, Failed: st.SetsFail},
		{Action: "delete", Total: st.Deletes, Failed: st.DeletesFail},
		{Action: "testAndSet", Total: st.TestAndSets, Failed: st.TestAndSetsFail},
	}
}
