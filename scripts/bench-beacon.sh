#!/usr/bin/env bash
# Beacon size: gzip -9 of exactly what a browser downloads (beacon.js and
# beacon.wasm as served from target/dist/beacon/). Writes target/bench/beacon.json.
set -euo pipefail
cd "$(dirname "$0")/.."
dist=${CARGO_TARGET_DIR:-target}/dist/beacon
out=${CARGO_TARGET_DIR:-target}/bench
mkdir -p "$out"
gz() { gzip -9 -n -c "$1" | wc -c; }
wasm=$(gz "$dist/beacon.wasm")
js=$(gz "$dist/beacon.js")
cat > "$out/beacon.json" <<JSON
{"wasm_bytes": $(wc -c < "$dist/beacon.wasm"), "js_bytes": $(wc -c < "$dist/beacon.js"), "wasm_gzip_bytes": $wasm, "js_gzip_bytes": $js, "total_gzip_bytes": $((wasm + js)), "goal_total_gzip_bytes": 4096}
JSON
cat "$out/beacon.json"
