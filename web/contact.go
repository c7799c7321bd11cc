package web

import (
	"encoding/json"
	"net/http"
)

// contactPath answers the leader's word on its followers: see Contact.
const contactPath = Prefix + "contact"

// Contact is what a leader knows of its followers' health, for the page:
// /v1/stats/leader counts failed appends but says nothing of when a
// follower last answered. A node that does not lead has no word on them.
type Contact struct {
	Leading   bool                       `json:"leading"`
	Followers map[string]FollowerContact `json:"followers,omitempty"`
}

// FollowerContact is one follower, as its leader last heard from it.
type FollowerContact struct {
	// Answering is false once the follower has been silent for longer than
	// an append's deadline: it did not answer the last append sent to it.
	Answering bool `json:"answering"`
	// SilentSeconds is how long since it last answered (or since this
	// node began to lead, if later).
	SilentSeconds float64 `json:"silentSeconds"`
}

func (d *Dashboard) contact(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	var c Contact
	if d.contactOf != nil {
		c = d.contactOf()
	}
	b, _ := json.Marshal(c)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(b)
}
