package main

import (
	"context"
	"net/http"
)

// keysAPI spells each request of a cell in one HTTP API. Every request
// takes the client URL (http://host:port) of the member it goes to as base.
type keysAPI interface {
	write(ctx context.Context, base, key, value string) (*http.Request, error)
	read(ctx context.Context, base, key string) (*http.Request, error)
	// testAndSet sets key to value only if it holds prevValue now.
	testAndSet(ctx context.Context, base, key, prevValue, value string) (*http.Request, error)
	// watch waits for the next change at or below key; with sinceIndex
	// other than 0 it answers the first change at or after that index,
	// from the node's history if it is past.
	watch(ctx context.Context, base, key string, sinceIndex uint64) (*http.Request, error)
}

// system is one of the etcds measured: how to start a cluster of it, how to
// find its leader, and the API its cells speak unless a cell names another.
type system interface {
	// label names the system in the table and the JSON.
	label() string
	// launch starts fresh members from binary as one cluster and returns
	// once every member serves clients.
	launch(ctx context.Context, binary string, members []*process) error
	// leader is the member that leads now.
	leader(ctx context.Context, members []*process) (*process, error)
	// keysAPI is the API of the table's first cells: v1 for this
	// project, v2 for v3.5, which has no v1.
	keysAPI
	// storeStatsURL serves the store's counts, "watchers" among them.
	storeStatsURL(base string) string
	// leaderChangeMarkers are phrases a member logs, once per line, each
	// time it learns of a new leader.
	leaderChangeMarkers() []string
}
