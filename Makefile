# Build, test and measure wwctl. Every target installs what it needs
# (scripts/deps.sh) so a fresh Debian machine needs nothing but make.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
export PATH := /usr/local/go/bin:$(PATH)
export GOTOOLCHAIN ?= auto
export GOFLAGS ?= -buildvcs=false

.PHONY: all deps build test lint bench fuzz demo clean

all: build

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/wwctl ./cmd/wwctl
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o bin/wwclient ./cmd/wwclient
	ln -sf wwctl bin/warewulfd

# The README's test command: vet and every test, with the race detector
# on the packages that take locks.
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./internal/inventory/ ./internal/atomicfile/ ./internal/overlay/

lint: deps
	@out=$$(gofmt -l cmd internal test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...

# Benchmarks report; they never fail on a slow machine.
bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	$(GO) run ./test/bench/scale
	$(GO) run ./test/bench/overlays
	$(GO) run ./test/bench/image
	$(GO) run ./test/bench/daemon

# Runs every fuzz target for FUZZTIME each.
FUZZTIME ?= 30s
fuzz: deps
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# The README's main command.
demo: build
	scripts/demo.sh bin/wwctl

clean:
	rm -rf bin
