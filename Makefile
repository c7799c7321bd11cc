# `make run` builds and starts one node on the default ports (clients on
# 127.0.0.1:4001, peers on 127.0.0.1:7001) with its data in ./node1.etcd.
# `make test` runs every check CI runs.

GO ?= go
BIN := bin/etcd
RUN_ARGS ?= -n node1 -d node1.etcd
FUZZTIME ?= 10s

.PHONY: build run test vet fmt-check fuzz bench clean

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

clean:
	rm -rf bin
