package testnode

import "net/http"

// Event is a response object of the v1 API. The tags are the wire's: the
// field order, the omission of empty members, index always present.
type Event struct {
	Action     string `json:"action"`
	Key        string `json:"key"`
	Dir        bool   `json:"dir,omitempty"`
	PrevValue  string `json:"prevValue,omitempty"`
	Value      string `json:"value,omitempty"`
	NewKey     bool   `json:"newKey,omitempty"`
	Expiration string `json:"expiration,omitempty"`
	TTL        int64  `json:"ttl,omitempty"`
	Index      uint64 `json:"index"`
}

// Error is the error body of the v1 API.
type Error struct {
	ErrorCode int    `json:"errorCode"`
	Message   string `json:"message"`
	Cause     string `json:"cause,omitempty"`
}

// CataloguedError is what an error code comes with: its fixed message and
// the HTTP status it is answered with.
type CataloguedError struct {
	Message string
	Status  int
}

// ErrorCatalogue is every error the client API may answer with (README
// "The API in short", SPEC section 9, and the extensions this daemon
// uses). The tests keep their own copy rather than use package etcderr, so
// that a change of the daemon's catalogue shows as a failing test.
var ErrorCatalogue = map[int]CataloguedError{
	100: {"Key Not Found", http.StatusNotFound},
	101: {"The given PrevValue is not equal to the value of the key", http.StatusBadRequest},
	102: {"Not A File", http.StatusBadRequest},
	200: {"Value is Required in POST form", http.StatusBadRequest},
	201: {"PrevValue is Required in POST form", http.StatusBadRequest},
	202: {"The given TTL in POST form is not a number", http.StatusBadRequest},
	203: {"The given index in POST form is not a number", http.StatusBadRequest},
	209: {"Invalid field", http.StatusBadRequest},
	210: {"Invalid POST form", http.StatusBadRequest},
	300: {"Raft Internal Error", http.StatusInternalServerError},
	301: {"During Leader Election", http.StatusInternalServerError},
	400: {"The prefix of the given key is a keyword in etcd", http.StatusBadRequest},
	401: {"The event in requested index is outdated and cleared", http.StatusBadRequest},
	404: {"Not Found", http.StatusNotFound},
	405: {"Method Not Allowed", http.StatusMethodNotAllowed},
	413: {"Request Entity Too Large", http.StatusRequestEntityTooLarge},
	431: {"Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge},
	501: {"Not Implemented", http.StatusNotImplemented},
	505: {"HTTP Version Not Supported", http.StatusHTTPVersionNotSupported},
	500: {"watcher is cleared due to etcd recovery", http.StatusInternalServerError},
}

// PeerErrorCatalogue is the errors only the peer API answers with: a join
// refused because the cluster is full.
var PeerErrorCatalogue = map[int]CataloguedError{
	103: {"Reached the max number of machines in the cluster", http.StatusBadRequest},
}
