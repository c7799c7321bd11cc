package raftdisk

import "testing"

func TestTermRecordSurvivesReload(t *testing.T) {
	dir := t.TempDir()
	r, err := loadTermRecord(dir)
	if err != nil || r.stored.Term != 0 {
		t.Fatalf("fresh record = %+v, %v", r, err)
	}
	steps := []struct {
		term      uint64
		candidate string // "" observes the term only
		ok        bool
	}{
		{3, "", true},
		{2, "", true}, // an older term changes nothing
		{3, "node2", true},
		{3, "node2", true}, // the same vote again
		{3, "node3", false},
		{2, "node3", false},
		{5, "node1", true},
	}
	for _, st := range steps {
		var err error
		if st.candidate == "" {
			err = r.ObserveTerm(st.term)
		} else {
			err = r.ObserveVote(st.term, st.candidate)
		}
		if (err == nil) != st.ok {
			t.Fatalf("term %d vote %q: err %v, want ok=%v", st.term, st.candidate, err, st.ok)
		}
	}
	again, err := loadTermRecord(dir)
	if err != nil || again.stored.Term != 5 || again.stored.VotedFor != "node1" {
		t.Fatalf("reloaded record = term %d vote %q, %v; want term 5 vote node1", again.stored.Term, again.stored.VotedFor, err)
	}
}
