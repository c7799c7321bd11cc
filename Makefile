# `make run` builds and starts one node on the default ports (clients on
# 127.0.0.1:4001, peers on 127.0.0.1:7001) with its data in ./node1.etcd.
# `make test` runs vet, the gofmt check and every test; CI runs it, then
# fuzzes each target briefly (`make fuzz`). `make bench` measures this
# build against etcd v3.5 built on the spot (see BENCHMARKS.md).

GO ?= go
BIN := bin/etcd
RUN_ARGS ?= -n node1 -d node1.etcd
# Empty: each target runs a count of inputs of its own (about 10 s here).
# Counts, not durations: go1.26's fuzzing coordinator can report a run
# that reaches its -fuzztime duration as failed, "context deadline
# exceeded" (go.dev/issue/75804, fixed in go1.27).
FUZZTIME ?=

.PHONY: build run test prereqs vet fmt-check fuzz bench bench-store bench-tools clean faults conformance

build:
	$(GO) build -o $(BIN) .

run: build
	./$(BIN) $(RUN_ARGS)

# tests/v2client is a module of its own (the etcd v2 Go client never
# enters the product's go.mod), which ./... does not descend into.
# The store's benchmarks run once each, so that they keep compiling and
# running; their timings mean nothing here (`make bench-store` times them).
test: prereqs vet fmt-check
	$(GO) test -race -count=1 -timeout 8m ./...
	cd tests/v2client && $(GO) vet ./... && V2CLIENT_ETCD35= $(GO) test -race -count=1 -timeout 8m ./...
	$(GO) test -run=NONE -bench=. -benchtime=1x ./store/

# The programs the tests need besides Go, checked before anything is built.
prereqs:
	@tools/prereqs check

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Short runs of every fuzz target; FUZZTIME=100000x (or 5m) for a longer one.
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzKeyPath -fuzztime=$(or $(FUZZTIME),20000x) ./store/
	$(GO) test -run=NONE -fuzz=FuzzOperations -fuzztime=$(or $(FUZZTIME),15000x) ./store/
	$(GO) test -run=NONE -fuzz=FuzzClientAPI -fuzztime=$(or $(FUZZTIME),5000x) .
	$(GO) test -run=NONE -fuzz=FuzzPeerAPI -fuzztime=$(or $(FUZZTIME),300x) .
	$(GO) test -run=NONE -fuzz=FuzzV2Keys -fuzztime=$(or $(FUZZTIME),5000x) .

# This build against etcd v3.5, single node and 3 members, in one table
# with the ratios, v1 and v2 cells; 10 to 15 minutes on 2 cores (BENCHMARKS.md run I: 10 at -duration 4s), plus a first build of v3.5.
# BENCH_ARGS passes flags, e.g. BENCH_ARGS='-duration 10s -json bench.json'
# or '-systems ours -setups cluster' (see `bin/bench -h`).
BENCH_ARGS ?=

bench: build bench-tools
	./bin/bench -etcd $(BIN) -etcd35 bin/etcd35 $(BENCH_ARGS)

# tools/etcd35 is a module of its own, so that etcd v3.5 never enters the
# product's go.mod; the first build fetches it from the module proxy.
bench-tools:
	$(GO) build -o bin/bench ./tools/bench
	cd tools/etcd35 && $(GO) build -o ../../bin/etcd35 .

# The v2 keys API against etcd v3.5 with --enable-v2 (tests/conformance):
# CONFORMANCE_OPS seeded random operations sent to both, the answers
# compared after pairing their indexes; the report gives the operations by
# kind and the differences by class, known ones apart. A few minutes.
# CONFORMANCE_SEED=N replays a run; CONFORMANCE_SUBJECT=etcd35 compares
# v3.5 with itself (the harness's own check: no difference at all).
CONFORMANCE_OPS ?= 5000
CONFORMANCE_SEED ?= 1

conformance: build bench-tools
	CONFORMANCE_REQUIRE=1 CONFORMANCE_ETCD=$(CURDIR)/$(BIN) CONFORMANCE_ETCD35=$(CURDIR)/bin/etcd35 \
	CONFORMANCE_OPS=$(CONFORMANCE_OPS) CONFORMANCE_SEED=$(CONFORMANCE_SEED) \
		$(GO) test -count=1 -v -timeout 30m -run '^TestConformance$$' ./tests/conformance/

# The store's micro-benchmarks.
bench-store:
	$(GO) test -run=NONE -bench=. -benchmem ./store/

# The fault-injection runs (tests/faults), each ending in a report of its
# faults by kind, term growth, lost writes, violations and snapshots:
# TestFaults, 3 members under kill -9, SIGSTOP, restarts, partitions and
# membership churn for FAULTS_DURATION; TestPartitions, 5 members in
# network namespaces of their own under asymmetric partitions for
# FAULTS_PARTITIONS_DURATION (needs root and ip(8), else skipped);
# TestJoinsAtOnce, FAULTS_JOIN_ROUNDS times; TestMixedLimits. `make test`
# runs short ones. FAULTS_ARTIFACTS=DIR keeps the evidence (history,
# timeline, terms, logs); a failure keeps it anyway.
FAULTS_DURATION ?= 5m
FAULTS_PARTITIONS_DURATION ?= 75s
FAULTS_JOIN_ROUNDS ?= 3

faults:
	FAULTS_DURATION=$(FAULTS_DURATION) FAULTS_PARTITIONS_DURATION=$(FAULTS_PARTITIONS_DURATION) \
	FAULTS_JOIN_ROUNDS=$(FAULTS_JOIN_ROUNDS) $(GO) test -count=1 -v -timeout 0 \
		-run '^(TestFaults|TestPartitions|TestJoinsAtOnce|TestMixedLimits)$$' ./tests/faults/

clean:
	rm -rf bin
