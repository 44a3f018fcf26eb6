#!/usr/bin/env bash
# Builds the two Wasm bundles into target/dist/:
#   target/dist/beacon/  beacon.js + beacon.wasm   (what a browser downloads)
#   target/dist/edge/    shim.mjs + edge.js + edge_bg.wasm (+ snippets)  (the worker)
# Usage: scripts/build-wasm.sh [beacon|edge|all]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/wasm-env.sh

what=${1:-all}
target_dir=${CARGO_TARGET_DIR:-target}
out="$target_dir/wasm32-unknown-unknown/wasm"
wasm_opt=node_modules/.bin/wasm-opt
opt_flags=(-Oz --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals)

build() { # crate
  WASM_BINDGEN_USE_JS_SYS=1 "${WASM_CARGO[@]}" build -q -p "$1" --target wasm32-unknown-unknown --profile wasm "${WASM_BUILD_STD[@]}"
}

if [[ $what == beacon || $what == all ]]; then
  # The beacon is no_std and rebuilds core/alloc so that a panic is a bare
  # trap: no `core::fmt`, no messages, no locations. Without reference types
  # the module needs no imports, so the loader instantiates it without
  # wasm-bindgen's generated JS. An inline threshold of 25 measured smallest
  # (7.0 KB gzip against 7.75 KB at the default). Its own target dir: other
  # RUSTFLAGS, no rebuild ping-pong with the edge.
  beacon_target="$target_dir/beacon-build"
  RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$beacon_target" \
    RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none \
      -Ctarget-feature=-reference-types,-multivalue -Cllvm-args=-inline-threshold=25" \
    "${WASM_CARGO[@]}" build -q -p tracker-wasm --target wasm32-unknown-unknown --profile wasm -Zbuild-std=core,alloc
  dist="$target_dir/dist/beacon"
  rm -rf "$dist" "$beacon_target/bindgen" && mkdir -p "$dist"
  wasm-bindgen --target web --no-typescript --out-dir "$beacon_target/bindgen" --out-name beacon \
    "$beacon_target/wasm32-unknown-unknown/wasm/tracker_wasm.wasm"
  "$wasm_opt" "${opt_flags[@]}" "$beacon_target/bindgen/beacon_bg.wasm" -o "$dist/beacon.wasm"
  node_modules/.bin/terser tracker-wasm/loader.js --compress passes=3 --mangle --toplevel -o "$dist/beacon.js"
  echo "beacon: $(wc -c < "$dist/beacon.wasm") B wasm, $(wc -c < "$dist/beacon.js") B js ($WASM_PATH)"
fi

if [[ $what == edge || $what == all ]]; then
  build edge-worker
  dist="$target_dir/dist/edge"
  rm -rf "$dist" && mkdir -p "$dist"
  wasm-bindgen --target web --no-typescript --out-dir "$dist" --out-name edge "$out/edge_worker.wasm"
  cp edge-worker/shim.mjs "$dist/"
  "$wasm_opt" "${opt_flags[@]}" "$dist/edge_bg.wasm" -o "$dist/edge_bg.wasm"
  echo "edge: $(wc -c < "$dist/edge_bg.wasm") B wasm ($WASM_PATH)"
fi
