# telemetry — see README.md.
GO        ?= go
BIN       := bin/telemetry
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
SERVICES  := scripts/services.sh
# Seconds each fuzz target runs in `make fuzz` (CI runs them briefly inside `make test`).
FUZZTIME  ?= 60s

.PHONY: wasm all build demo test test-anyday test-short test-unit test-race bench services services-stop up down generate lint fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/telemetry

## wasm: the example WebAssembly edge processors (wasm/examples) into bin/wasm/
WASM_EXAMPLES := normalize dropports circuits errorbudget
wasm:
	@mkdir -p bin/wasm
	@for m in $(WASM_EXAMPLES); do \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o bin/wasm/$$m.wasm ./wasm/examples/$$m || exit 1; \
		echo bin/wasm/$$m.wasm; \
	done

## demo: run the whole pipeline for 60 s in one process (installs ClickHouse if needed)
demo: build
	scripts/demo.sh $(BIN)

## test: start the real services the tests need, then run every test
test:
	@eval "$$($(SERVICES) start)" && CI=$${CI:-} $(GO) test -count=1 -timeout 25m ./...

## test-race: the concurrent packages' tests under the race detector, with the real services
# (collectors, processors, sinks, pipeline, demo, the component kit, wire; the fault, end-to-end and
# Kafka-cluster tests are left out: real clusters and long runs, twice slower)
RACE_PKGS := ./collectors/... ./processors/... ./sinks/... ./pipeline/... ./demo/... ./common/component/... ./wire/...
test-race:
	@eval "$$($(SERVICES) start)" && CI=$${CI:-} $(GO) test -race -count=1 -timeout 15m $(RACE_PKGS)

## test-anyday: the tests whose data meets a server's clock (TTL, retention,
# partition drop, last full week, schedule) once more with the tests' clock a
# year ahead (TELEMETRY_TEST_CLOCK_SHIFT, see common/testenv): data or an
# expectation written at a fixed date fails here today, not in a year
ANYDAY_PKGS := ./common/testenv/... ./sinks/... ./reports/... ./dashboards/...
ANYDAY_SHIFT ?= 8760h
test-anyday:
	@eval "$$($(SERVICES) start)" && CI=$${CI:-} TELEMETRY_TEST_CLOCK_SHIFT=$(ANYDAY_SHIFT) $(GO) test -count=1 -timeout 15m $(ANYDAY_PKGS)

## test-short: every package with the real services, without the long suites
# (faults, e2e, security: real clusters and processes; `go test -short`)
test-short:
	@eval "$$($(SERVICES) start)" && CI=$${CI:-} $(GO) test -short -count=1 -timeout 15m ./...

## test-unit: tests that need no external service (the others skip)
test-unit:
	$(GO) test -count=1 ./...

## bench: run every benchmark and rewrite BENCHMARKS.md
bench: build
	@eval "$$($(SERVICES) start)" && scripts/bench.sh

services:
	$(SERVICES) start

services-stop:
	$(SERVICES) stop

## up/down: the full stack with docker compose
up:
	docker compose up -d --build
down:
	docker compose down

## generate: protobuf code and the Grafana dashboards
generate:
	@command -v protoc >/dev/null || { echo "install protoc (Debian: apt-get install protobuf-compiler)"; exit 1; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --go_out=. --go_opt=module=github.com/meshtelemetry/telemetry wire/wire.proto
	$(GO) run ./cmd/telemetry dashboards generate --out deploy/grafana/dashboards

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags unioffice ./reports/...

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin
