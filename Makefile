# mintmark: the two commands are `make up` and `make test`.
#
#   make up      install what is missing, build, run the whole system locally
#   make up-cluster  the same on a local 2 x 2 ClickHouse cluster with two collectors
#   make test    install what is missing, build, run every test
#   make bench   run the benchmarks (JSON in target/bench/)
#   make docs    build the manual (docs/) into target/book
#   make docs-api          regenerate the API reference pages from the code
#   make docs-screenshots  retake the manual's screenshots on the demo system

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

.PHONY: help up up-cluster test docs docs-api docs-screenshots bench bench-cluster bench-privacy bench-beacon bench-edge bench-collector bench-dashboards bench-tier3 profile-collector bootstrap build build-native build-wasm build-beacon build-edge clean-state

help:
	@sed -n 's/^#   //p' Makefile

bootstrap:
	@scripts/bootstrap.sh

build-native:
	$(CARGO) build --workspace --all-targets

build-beacon:
	scripts/build-wasm.sh beacon

build-edge:
	scripts/build-wasm.sh edge

build-wasm:
	scripts/build-wasm.sh all

build: build-native build-wasm

up: bootstrap build
	$(CARGO) run -q -p devstack --bin devstack -- up --state-dir .dev

# The same on a local cluster: ZooKeeper, 2 shards x 2 replicas, two collectors.
up-cluster: bootstrap build
	$(CARGO) run -q -p devstack --bin devstack -- up-cluster --state-dir .dev-cluster

test: bootstrap build
	$(CARGO) test --workspace

bench: bench-beacon bench-edge bench-collector bench-dashboards bench-tier3 bench-cluster bench-privacy

bench-beacon: bootstrap build-beacon
	@scripts/bench-beacon.sh

bench-edge: bootstrap build-edge
	$(CARGO) run -q -p mintmark-e2e --bin bench-edge

bench-collector: bootstrap
	$(CARGO) build --release -p collector -p mintmark-e2e --bin collector --bin bench-collector
	target/release/bench-collector

# Where the collector's CPU goes under the bench's load (perf, top functions).
profile-collector: bootstrap
	@scripts/profile-collector.sh

bench-dashboards: bootstrap
	$(CARGO) build --release -p collector -p dashboards -p mintmark-e2e --bin collector --bin dashboards --bin bench-dashboards
	DEVSTACK_PROFILE=release target/release/bench-dashboards

# The release layer's red-team harness: attacks on planted visits over many
# days (TRIALS=40). DEVSTACK_DASHBOARDS_BIN=<a build of main> LABEL=main runs
# the same attacks against another dashboards.
bench-privacy: bootstrap build
	$(CARGO) run -q -p mintmark-e2e --bin bench-privacy

bench-cluster: bootstrap
	$(CARGO) build --release -p collector -p mintmark-e2e --bin collector --bin bench-cluster
	DEVSTACK_PROFILE=release target/release/bench-cluster

bench-tier3: bootstrap
	$(CARGO) build --release -p collector -p dashboards -p mintmark-e2e --bin collector --bin dashboards --bin bench-tier3
	DEVSTACK_PROFILE=release target/release/bench-tier3

# The manual. `make test` builds it too (tests/tests/project.rs), failing on
# a broken internal link.
docs: bootstrap
	mdbook build docs
	@echo "the manual: target/book/index.html"

docs-api: bootstrap
	$(CARGO) run -q -p mintmark-e2e --bin docs-api

docs-screenshots: bootstrap build
	$(CARGO) run -q -p mintmark-e2e --bin docs-screenshots

# Forget local data, config and generated keys (asks first).
clean-state:
	@read -p "delete .dev/ (ClickHouse data, demo keys, logs)? [y/N] " a; [ "$$a" = y ] && rm -rf .dev || true
