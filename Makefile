# Build, test and measure wwctl. Every target installs what it needs
# (scripts/deps.sh) so a fresh Debian machine needs nothing but make and git.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
# The one Go version everything builds and tests with: go.mod's "go" line.
# A go command of another version (1.21 or later) switches to it itself;
# scripts/deps.sh installs it in /usr/local/go where there is no such Go.
GO_VERSION := $(shell awk '$$1 == "go" { print $$2; exit }' go.mod)
export PATH := /usr/local/go/bin:$(PATH)
export GOTOOLCHAIN := go$(GO_VERSION)
export GOFLAGS ?= -buildvcs=false

.PHONY: all deps build test e2e e2e-full lint bench fuzz demo tour fresh-check clean install deb rpm pkg-test container-check

all: build

deps:
	@scripts/deps.sh

build: deps
	@echo "build: compiling wwctl, wwclient, wwstage1 (also per architecture: .x86_64, .aarch64; the packages being compiled are listed; a first run compiles the standard library and modules too)"
	@# Static, as the node programs: it runs on any distribution, and starts
	@# 5 ms sooner than when linked with the C library.
	CGO_ENABLED=0 $(GO) build -v -ldflags "$(LDFLAGS)" -o bin/wwctl ./cmd/wwctl 2>&1 | sed -u 's/^/  /'
	CGO_ENABLED=0 $(GO) build -ldflags "-s -w" -o bin/wwclient ./cmd/wwclient
	@# Warewulf's wwclient.x86_64 and wwclient.aarch64 overlays carry these.
	CGO_ENABLED=0 GOARCH=amd64 $(GO) build -ldflags "-s -w" -o bin/wwclient.x86_64 ./cmd/wwclient
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -ldflags "-s -w" -o bin/wwclient.aarch64 ./cmd/wwclient
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o bin/wwstage1 ./cmd/wwstage1
	@# Stage one of two-stage boot for each image architecture.
	CGO_ENABLED=0 GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w" -o bin/wwstage1.x86_64 ./cmd/wwstage1
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -trimpath -ldflags "-s -w" -o bin/wwstage1.aarch64 ./cmd/wwstage1
	ln -sf wwctl bin/warewulfd

# The README's test command: vet and every test, with the race detector
# on the packages that take locks, then the virtual cluster scenarios a
# to d, f to l, p, r and u but g (test/e2e), the install and package tests
# (build/pkg) and, as root, the package in a systemd container
# (container-check; root only, which CI is).
test: deps
	@echo "test: compiling every package and its tests (go build, go vet; a first run also compiles the standard library and modules)"
	$(GO) build -v ./... 2>&1 | sed -u 's/^/  /'
	$(GO) vet ./...
	$(GO) test -count=1 ./...
	$(GO) test -count=1 -race ./internal/inventory/ ./internal/atomicfile/ ./internal/overlay/
	$(MAKE) --no-print-directory pkg-test
	@if [ "$$(id -u)" -eq 0 ]; then $(MAKE) --no-print-directory e2e; \
	else echo "test: not root, so the virtual cluster scenarios (make e2e) and container-check did not run"; fi
	@if [ "$$(id -u)" -eq 0 ] && [ -z "$$WWBOOT_FRESH_CHECK" ]; then $(MAKE) --no-print-directory container-check; \
	elif [ -n "$$WWBOOT_FRESH_CHECK" ]; then echo "test: container-check skipped inside make fresh-check (a container in the fresh root would need a cgroup mount and a debootstrap of its own; .ci/run's make test ran it)"; fi

# Virtual cluster scenarios a to d, f to l but g, p, r, u and w: QEMU VMs booting from wwctl server in
# a private network namespace (test/e2e). E2E_FLAGS adds go test flags,
# e.g. E2E_FLAGS='-run Discovery'.
E2E_FLAGS ?=
e2e: build
	@scripts/deps.sh --e2e
	WWBOOT_E2E=1 WWBOOT_E2E_BIN=$(CURDIR)/bin $(GO) test -count=1 -v -timeout 30m $(E2E_FLAGS) ./test/e2e

# Also the slow scenarios: e and g, a debootstrapped Debian image with systemd
# booted single- and two-stage, and two-stage in less memory than single-stage
# needs; s, Secure Boot through shim and GRUB; m and n, arm64 nodes; x and v,
# custom iPXE builds with an embedded script (v: a node on a tagged VLAN).
e2e-full: build
	@scripts/deps.sh --e2e-full
	WWBOOT_E2E=1 WWBOOT_E2E_FULL=1 WWBOOT_E2E_BIN=$(CURDIR)/bin $(GO) test -count=1 -v -timeout 60m $(E2E_FLAGS) ./test/e2e

lint: deps
	@out=$$(gofmt -l cmd internal test 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Benchmarks report; they never fail on a slow machine.
bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	$(GO) run ./test/bench/scale
	$(GO) run ./test/bench/overlays
	$(GO) run ./test/bench/image
	$(GO) run ./test/bench/daemon
	$(GO) run ./test/bench/power

# Runs every fuzz target for FUZZTIME each (default 30s; the three whose
# inputs do heavy work FUZZSLOWTIME, 90s), minimising new inputs for at
# most FUZZMINIMIZE (2s), and prints how many inputs each ran; a crasher
# fails (scripts/fuzz.sh).
FUZZTIME ?= 30s
FUZZSLOWTIME ?= 90s
FUZZMINIMIZE ?= 2s
fuzz: deps
	FUZZTIME=$(FUZZTIME) FUZZSLOWTIME=$(FUZZSLOWTIME) FUZZMINIMIZE=$(FUZZMINIMIZE) scripts/fuzz.sh

# The README's main command: a virtual cluster of two nodes booting from
# wwctl server, until Ctrl-C (scripts/demo.sh). The CLI tour of an
# inventory on a throwaway tree is "make tour".
demo: build
	scripts/demo.sh bin

tour: build
	scripts/tour.sh bin/wwctl

# The README's two commands, exactly as written, in a fresh minbase Debian
# 12 root with only make, git and ca-certificates, on a clone of the
# committed tree: the demo until both nodes reach RUNTIME_OVERLAY, then
# Ctrl-C and nothing left running; then the tests (scripts/fresh-check.sh).
fresh-check:
	scripts/fresh-check.sh

# Installs into $(DESTDIR)$(PREFIX) (/usr by default), /etc/warewulf and
# /var/lib/warewulf, in Warewulf's layout (build/pkg: the tree, the unit,
# man pages, completion). An existing warewulf.conf, nodes.conf or iPXE
# template is kept; the shipped one is written beside it as <name>.new.
PREFIX ?= /usr
DESTDIR ?=
# The packages' file times: the last commit's unless SOURCE_DATE_EPOCH says.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
PKG := cd build/pkg && $(GO) run .
install: build
	$(PKG) install -prefix $(PREFIX) -destdir "$(abspath $(DESTDIR))"

# dist/wwboot_VERSION_ARCH.deb and dist/wwboot-VERSION-1.ARCH.rpm, built
# in process with nfpm, the same bytes for the same commit.
PKGFLAGS = -describe "$(VERSION)" -commits $$(git rev-list --count HEAD 2>/dev/null || echo 1) -epoch $(SOURCE_DATE_EPOCH)
deb: build
	$(PKG) deb $(PKGFLAGS)
rpm: build
	$(PKG) rpm $(PKGFLAGS)

# The tests of make install and of the packages (build/pkg is a module
# of its own, so that nfpm's dependencies stay out of the product's).
pkg-test: build
	cd build/pkg && WWBOOT_BIN=$(CURDIR)/bin $(GO) test -count=1 ./...

# The .deb in a Debian 12 container booted with systemd (root only):
# install, configure, enable, reload, upgrade, remove (scripts/container-check.sh).
container-check: deb
	scripts/container-check.sh dist

clean:
	rm -rf bin dist
