#!/usr/bin/env bash
# Where the collector's CPU goes under `make bench-collector`'s load: builds
# the collector with line tables (the `profiling` profile), runs the bench
# against it, samples the collector with `perf` for a few seconds while the
# load is on, and prints the top functions (self time). The recording is
# left in target/bench/collector.perf.data for `perf report -i`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "profile-collector: perf is missing (Debian: linux-perf)" >&2; exit 1; }
cargo build --profile profiling -p collector --bin collector
cargo build --release -p mintmark-e2e --bin bench-collector
bin="$PWD/target/profiling/collector"
out=target/bench
mkdir -p "$out"
DEVSTACK_COLLECTOR_BIN="$bin" target/release/bench-collector >"$out/profile-bench.log" 2>&1 &
bench=$!
# The load starts once the batches are signed; sample the collector then.
for _ in $(seq 1 600); do grep -q sending "$out/profile-bench.log" 2>/dev/null && break; sleep 0.2; done
sleep 1
pid=$(pgrep -f "^$bin" | head -1)
perf record -F 999 -g -p "$pid" -o "$out/collector.perf.data" -- sleep "${PROFILE_SECONDS:-4}" >/dev/null 2>&1 || true
wait "$bench"
cat "$out/collector.json"
perf report -i "$out/collector.perf.data" --no-children --sort symbol -g none 2>/dev/null | grep -v '^#' | grep '%' | head -30
