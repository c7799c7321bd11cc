# `make run` builds and starts one node on the default ports (clients on
# 127.0.0.1:4001, peers on 127.0.0.1:7001) with its data in ./node1.etcd.
# `make test` runs vet, the gofmt check and every test; CI runs it, then
# fuzzes each target briefly (`make fuzz`).

GO ?= go
BIN := bin/etcd
RUN_ARGS ?= -n node1 -d node1.etcd
FUZZTIME ?= 10s

.PHONY: build run test vet fmt-check fuzz bench clean faults

build:
	$(GO) build -o $(BIN) .

run: build
	./$(BIN) $(RUN_ARGS)

test: vet fmt-check
	$(GO) test -race -count=1 -timeout 8m ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Short runs of every fuzz target; FUZZTIME=5m for a longer one.
fuzz:
	$(GO) test -run=NONE -fuzz=FuzzKeyPath -fuzztime=$(FUZZTIME) ./store/
	$(GO) test -run=NONE -fuzz=FuzzOperations -fuzztime=$(FUZZTIME) ./store/
	$(GO) test -run=NONE -fuzz=FuzzClientAPI -fuzztime=$(FUZZTIME) .
	$(GO) test -run=NONE -fuzz=FuzzPeerAPI -fuzztime=$(FUZZTIME) .

bench:
	$(GO) test -run=NONE -bench=. -benchmem ./store/

# The fault-injection run: a 3-member cluster under kill -9, SIGSTOP,
# restarts and partitions for FAULTS_DURATION, then checks linearizability
# (porcupine) and durability, and prints the counts. `make test` runs a
# short one. FAULTS_ARTIFACTS=DIR keeps the evidence (history, logs).
FAULTS_DURATION ?= 5m

faults:
	FAULTS_DURATION=$(FAULTS_DURATION) $(GO) test -count=1 -v -run TestFaults -timeout 0 ./tests/faults/

clean:
	rm -rf bin
