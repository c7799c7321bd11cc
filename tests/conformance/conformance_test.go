// Package conformance sends the same seeded random v2 operations to this
// node and to etcd 3.5 with --enable-v2, and compares the answers: status,
// headers, and bodies member by member in their order, with indexes paired
// between the two sides and times within a tolerance. `make conformance`
// runs it at length; `go test` runs a short one when bin/etcd35 exists.
package conformance

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// TestConformance: CONFORMANCE_OPS operations (default 600) from
// CONFORMANCE_SEED (default: the clock), against this node, or against
// etcd 3.5 itself with CONFORMANCE_SUBJECT=etcd35, where it must find no
// difference at all. CONFORMANCE_ETCD and CONFORMANCE_ETCD35 name the
// binaries (see findBinaries); CONFORMANCE_TRACE=1 logs every operation
// with both answers; CONFORMANCE_FLIP=N alters the subject's answer to
// operation N, which the report must then show.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers and sends them hundreds of requests")
	}
	bins := findBinaries(t)
	ops := envUint(t, "CONFORMANCE_OPS", 600)
	seed := envUint(t, "CONFORMANCE_SEED", uint64(time.Now().UnixNano()))
	t.Logf("conformance: seed %d (CONFORMANCE_SEED=%d replays this run), %d operations, reference %s, subject %s", seed, seed, ops, bins.etcd35, bins.subject)

	ref := startServer(t, "etcd35", bins.etcd35)
	sub := startServer(t, bins.subjectKind, bins.subject)
	r := newRunner(t, ref.clientURL, sub.clientURL)
	if bins.subjectKind == "etcd35" {
		// Shift the second 3.5's indexes, so that the pairing of indexes is
		// what makes the two agree.
		r.pad(7)
	}
	r.flipAt = int(envUint(t, "CONFORMANCE_FLIP", 0))
	r.trace = os.Getenv("CONFORMANCE_TRACE") == "1"
	g := newGenerator(seed, r)
	start := time.Now()
	for uint64(r.seq) < ops {
		for _, s := range g.next() {
			if o := s(); o != nil {
				r.run(o)
			}
		}
		r.checkWatches(false)
	}
	r.checkWatches(true)
	r.final = true
	for _, s := range g.finalSteps() {
		if o := s(); o != nil {
			r.run(o)
		}
	}
	t.Logf("conformance: %d operations in %v", r.seq, time.Since(start).Round(time.Millisecond))
	r.report(seed, bins.subjectKind+" "+bins.subject)
}

func envUint(t *testing.T, name string, def uint64) uint64 {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}
