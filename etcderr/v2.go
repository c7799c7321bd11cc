package etcderr

import "fmt"

// Codes the v2 API adds to v1's. Its other codes are v1's.
const (
	NotDir          = 104
	NodeExist       = 105
	RootReadOnly    = 107
	DirNotEmpty     = 108
	Unauthorized    = 110
	ValueOnRefresh  = 211
	TTLOnRefresh    = 212
	StandbyInternal = 402
)

// v2Messages are the v2 API's texts. They differ from v1's for codes both
// have ("Key not found", not "Key Not Found"), so each API keeps its own.
var v2Messages = map[int]string{
	KeyNotFound:       "Key not found",
	TestFailed:        "Compare failed",
	NotFile:           "Not a file",
	NoMorePeer:        "Reached the max number of peers in the cluster",
	NotDir:            "Not a directory",
	NodeExist:         "Key already exists",
	106:               "The prefix of given key is a keyword in etcd",
	RootReadOnly:      "Root is read only",
	DirNotEmpty:       "Directory not empty",
	109:               "Peer address has existed",
	Unauthorized:      "The request requires user authentication",
	ValueRequired:     "Value is Required in POST form",
	PrevValueRequired: "PrevValue is Required in POST form",
	TTLNaN:            "The given TTL in POST form is not a number",
	IndexNaN:          "The given index in POST form is not a number",
	204:               "Value or TTL is required in POST form",
	205:               "The given timeout in POST form is not a number",
	206:               "Name is required in POST form",
	207:               "Index or value is required",
	208:               "Index and value cannot both be specified",
	InvalidField:      "Invalid field",
	InvalidForm:       "Invalid POST form",
	ValueOnRefresh:    "Value provided on refresh",
	TTLOnRefresh:      "A TTL must be provided on refresh",
	RaftInternal:      "Raft Internal Error",
	LeaderElect:       "During Leader Election",
	400:               "watcher is cleared due to etcd recovery",
	EventIndexCleared: "The event in requested index is outdated and cleared",
	StandbyInternal:   "Standby Internal Error",
	403:               "Invalid active size",
	404:               "Standby remove delay",
	500:               "Client Internal Error",
}

// V2 is the error as the v2 API shows it: code, v2's message for it, and
// cause, at the store index Index.
type V2 struct {
	Code    int    `json:"errorCode"`
	Message string `json:"message"`
	Cause   string `json:"cause,omitempty"`
	Index   uint64 `json:"index"`
}

// NewV2 returns the v2 error with the given code, v2's message and cause.
func NewV2(code int, cause string, index uint64) *V2 {
	return &V2{Code: code, Message: v2Messages[code], Cause: cause, Index: index}
}

func (e *V2) Error() string {
	if e.Cause == "" {
		return fmt.Sprintf("etcd error %d: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("etcd error %d: %s (%s)", e.Code, e.Message, e.Cause)
}
