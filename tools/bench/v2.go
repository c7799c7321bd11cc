package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// v2Keys is etcd 2's /v2/keys, which both systems serve: the v2 cells send
// the same requests to this project and to v3.5 (--enable-v2), and v3.5's
// first cells speak it too, having no v1.
type v2Keys struct {
	// quorum makes every read a linearizable one (quorum=true).
	quorum bool
}

func (v2Keys) write(ctx context.Context, base, key, value string) (*http.Request, error) {
	return newRequest(ctx, http.MethodPut, base+"/v2/keys/"+key, url.Values{"value": {value}})
}

func (k v2Keys) read(ctx context.Context, base, key string) (*http.Request, error) {
	target := base + "/v2/keys/" + key
	if k.quorum {
		target += "?quorum=true"
	}
	return newRequest(ctx, http.MethodGet, target, nil)
}

func (v2Keys) testAndSet(ctx context.Context, base, key, prevValue, value string) (*http.Request, error) {
	return newRequest(ctx, http.MethodPut, base+"/v2/keys/"+key, url.Values{"prevValue": {prevValue}, "value": {value}})
}

// watch is recursive so that it covers the prefix, as a v1 watch does.
func (v2Keys) watch(ctx context.Context, base, key string, sinceIndex uint64) (*http.Request, error) {
	query := url.Values{"wait": {"true"}, "recursive": {"true"}}
	if sinceIndex != 0 {
		query.Set("waitIndex", strconv.FormatUint(sinceIndex, 10))
	}
	return newRequest(ctx, http.MethodGet, base+"/v2/keys/"+key+"?"+query.Encode(), nil)
}

// v2Cells are v1's cells of load sent through /v2/keys, with a quorum
// read beside the plain one; they run after the v1 cells and their memory
// figure, so that those stay comparable with a build without v2.
func v2Cells() []cell {
	var cells []cell
	for _, clients := range []int{1, 16, 64, 256} {
		cells = append(cells, onV2(writeCell(clients), v2Keys{}))
	}
	quorumRead := onV2(readCell(), v2Keys{quorum: true})
	quorumRead.name += " with quorum=true"
	return append(cells,
		onV2(readCell(), v2Keys{}),
		quorumRead,
		onV2(testAndSetCell(), v2Keys{}),
		onV2(watchLatencyCell(), v2Keys{}),
	)
}

// v2CellPrefix starts the name of every v2 cell.
const v2CellPrefix = "v2, "

func onV2(c cell, api v2Keys) cell {
	c.name = v2CellPrefix + c.name
	c.speaks = api
	return c
}

// servesV2 says whether the member at base serves /v2/keys: a build from
// before v2 answers 404, and its v2 cells are left out rather than failed.
func servesV2(ctx context.Context, base string) (bool, error) {
	req, err := newRequest(ctx, http.MethodGet, base+"/v2/keys/", nil)
	if err != nil {
		return false, err
	}
	status, _, err := send(control, req)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return true, nil
	case status == http.StatusNotFound:
		return false, nil
	}
	return false, fmt.Errorf("GET /v2/keys/: HTTP %d", status)
}
