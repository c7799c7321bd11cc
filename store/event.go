package store

import "time"

// Actions of the v1 API. Every v0.1.x release sent them in upper case, and a
// successful test-and-set reports ActionSet.
const (
	ActionSet    = "SET"
	ActionGet    = "GET"
	ActionDelete = "DELETE"
)

// Event is one response object of the v1 API: the result of a write, an
// entry of a read, or a watch notification. The field order is the wire
// order of the 2013 API; clients may depend on it.
//
// Events held by the store (in its history, or handed to several watchers)
// are shared and must not be modified; WithTTL returns a modified copy.
type Event struct {
	Action    string `json:"action"`
	Key       string `json:"key"`
	Dir       bool   `json:"dir,omitempty"` // a sub-directory listed, or a v2 write's directory
	PrevValue string `json:"prevValue,omitempty"`
	Value     string `json:"value,omitempty"`
	NewKey    bool   `json:"newKey,omitempty"`
	// refresh marks the event of a write that only moved an expiration on:
	// it is kept in the history but wakes no watcher, and watches skip it.
	// Beside NewKey, where it takes no room.
	refresh bool
	// Expiration keeps the location it was given with, so it is written
	// with the UTC offset of the node that fixed it, as the original did.
	Expiration *time.Time `json:"expiration,omitempty"`
	// TTL is never set by the store, which has no clock; see WithTTL.
	TTL   int64  `json:"ttl,omitempty"`
	Index uint64 `json:"index"`
	// V2 is the event as the v2 API shows it; never part of v1's JSON. Every
	// event of a write has one; those of v1's Get, which only v1 shows, do not.
	V2 *V2Event `json:"-"`
}

// WithTTL returns a copy of e whose TTL is the whole seconds from now until
// e.Expiration, truncated toward zero. TTL is 0, and so omitted from JSON,
// when less than one second remains, when e has no expiration, and for a
// deletion, which reports the expiration the key had but no time left.
func (e *Event) WithTTL(now time.Time) *Event {
	c := *e
	c.TTL = 0
	if e.Expiration != nil && e.Action != ActionDelete {
		if secs := int64(e.Expiration.Sub(now) / time.Second); secs >= 1 {
			c.TTL = secs
		}
	}
	return &c
}
