// Package etcderr defines the numbered errors of the etcd v1 and v2 APIs.
//
// The codes and messages are part of the wire protocol: clients of 2013
// match on them, so they must not change. How a code maps to an HTTP status
// is decided by the HTTP layer, not here.
package etcderr

import (
	"fmt"
	"net/http"
)

// Codes of the v1 API, grouped by hundreds as the original did: 1xx are
// command failures, 2xx bad form input, 3xx raft failures, 4xx requests the
// store refuses, 5xx internal events.
const (
	KeyNotFound       = 100
	TestFailed        = 101
	NotFile           = 102
	NoMorePeer        = 103
	ValueRequired     = 200
	PrevValueRequired = 201
	TTLNaN            = 202
	IndexNaN          = 203
	InvalidField      = 209
	InvalidForm       = 210
	RaftInternal      = 300
	LeaderElect       = 301
	KeyIsPreserved    = 400
	EventIndexCleared = 401
	WatcherCleared    = 500
)

var messages = map[int]string{
	KeyNotFound:       "Key Not Found",
	TestFailed:        "The given PrevValue is not equal to the value of the key",
	NotFile:           "Not A File",
	NoMorePeer:        "Reached the max number of machines in the cluster",
	ValueRequired:     "Value is Required in POST form",
	PrevValueRequired: "PrevValue is Required in POST form",
	TTLNaN:            "The given TTL in POST form is not a number",
	IndexNaN:          "The given index in POST form is not a number",
	InvalidField:      "Invalid field",
	InvalidForm:       "Invalid POST form",
	RaftInternal:      "Raft Internal Error",
	LeaderElect:       "During Leader Election",
	KeyIsPreserved:    "The prefix of the given key is a keyword in etcd",
	EventIndexCleared: "The event in requested index is outdated and cleared",
	WatcherCleared:    "watcher is cleared due to etcd recovery",
}

// Error is an etcd API error. Its JSON form is the error body of the API:
// {"errorCode":N,"message":"...","cause":"..."}, cause omitted when empty.
type Error struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
}

// New returns the error with the given code, its standard message and cause.
func New(code int, cause string) *Error {
	return &Error{Code: code, Message: messages[code], Cause: cause}
}

// Newf is New with a formatted cause.
func Newf(code int, format string, args ...any) *Error {
	return New(code, fmt.Sprintf(format, args...))
}

func (e *Error) Error() string {
	if e.Cause == "" {
		return fmt.Sprintf("etcd error %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("etcd error %d: %s (%s)", e.Code, e.Message, e.Cause)
}

// HTTP returns an error of HTTP itself, refused before any API error could
// apply (no such route, a method the route does not take, a body too
// large): its code is the HTTP status and its message the status's text.
func HTTP(status int, cause string) *Error {
	return &Error{Code: status, Message: http.StatusText(status), Cause: cause}
}
