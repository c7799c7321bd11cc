package web

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/etcd-recreation/etcd/store"
)

// The page reads the leader's word on its followers at contactPath; a node
// that gives none says it does not lead.
func TestContact(t *testing.T) {
	want := Contact{Leading: true, Followers: map[string]FollowerContact{
		"node2": {Answering: true, SilentSeconds: 0.02},
		"node3": {Answering: false, SilentSeconds: 12.5},
	}}
	for _, tt := range []struct {
		of   func() Contact
		want Contact
	}{
		{func() Contact { return want }, want},
		{nil, Contact{}},
	} {
		d := New(store.New(1), func() error { return nil }, tt.of, nil)
		resp := get(t, d, http.MethodGet, contactPath)
		var got Contact
		if err := json.Unmarshal([]byte(body(t, resp)), &got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s, %v", contactPath, resp.Status, err)
		}
		if gotJSON, wantJSON := mustJSON(got), mustJSON(tt.want); gotJSON != wantJSON {
			t.Errorf("GET %s: %s, want %s", contactPath, gotJSON, wantJSON)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
