package store

import "testing"

// TestV2Stats: the v2 counters count every operation by its v2 action, v1's
// too, while v1's Stats keep counting v1's calls only (V2-API.md §13).
func TestV2Stats(t *testing.T) {
	s := New(10)
	writes := []Write{
		v2Set("/a", "1"),
		v2Set("/a/b", "1"), // fails: 104
		v2Create("/c", "1"),
		v2Create("/c", "1"), // fails: 105
		v2Post("/q", "1"),
		v2Update("/a", "2"),
		v2Update("/x", "2"), // fails: 100
		v2CAS("/a", "2", 0, "3"),
		v2CAS("/a", "2", 0, "3"), // fails: 101
		v2CAD("/c", "1", 0),
		v2CAD("/c", "1", 0), // fails: 100
		v2Delete("/a", false, false),
		v2Delete("/q", false, false), // fails: 102
		v2SetTTL("/t", "v", t0),
		{Op: OpExpire, Key: "/t", Expiration: t0},
		{Op: OpSet, Key: "/v1", Value: "1"},
		{Op: OpTestAndSet, Key: "/v1", PrevValue: "x", Value: "2"}, // fails: 101
		{Op: OpDelete, Key: "/v1"},
	}
	for i, w := range writes {
		s.Apply(uint64(i+1), []Write{w})
	}
	s.GetV2("/q", true, false)
	s.GetV2("/nothing", false, false) // fails
	s.Get("/q")
	s.WatchV2("/", true, true, 0)
	s.Watch("/x", 0)

	want := V2Stats{
		GetsSuccess: 2, GetsFail: 1,
		SetsSuccess: 3, SetsFail: 1,
		DeleteSuccess: 2, DeleteFail: 1,
		UpdateSuccess: 1, UpdateFail: 1,
		CreateSuccess: 2, CreateFail: 1,
		CompareAndSwapSuccess: 1, CompareAndSwapFail: 2,
		CompareAndDeleteSuccess: 1, CompareAndDeleteFail: 1,
		ExpireCount: 1,
		Watchers:    2,
	}
	if got := s.V2Stats(); got != want {
		t.Errorf("V2Stats() = %+v\nwant %+v", got, want)
	}
	wantJSON := `{"getsSuccess":2,"getsFail":1,"setsSuccess":3,"setsFail":1,"deleteSuccess":2,"deleteFail":1,` +
		`"updateSuccess":1,"updateFail":1,"createSuccess":2,"createFail":1,` +
		`"compareAndSwapSuccess":1,"compareAndSwapFail":2,"compareAndDeleteSuccess":1,"compareAndDeleteFail":1,` +
		`"expireCount":1,"watchers":2}`
	if got := marshal(t, s.V2Stats()); got != wantJSON {
		t.Errorf("V2Stats JSON = %s\nwant %s", got, wantJSON)
	}
	wantV1 := Stats{Gets: 1, Sets: 1, Deletes: 1, TestAndSets: 1, TestAndSetsFail: 1, Expires: 1, Watchers: 2}
	if got := s.Stats(); got != wantV1 {
		t.Errorf("Stats() = %+v\nwant %+v", got, wantV1)
	}
}
