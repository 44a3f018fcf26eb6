#!/usr/bin/env bash
# Builds the two Wasm bundles into target/dist/:
#   target/dist/beacon/  beacon.js + beacon_bg.wasm   (what a browser downloads)
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
  build tracker-wasm
  dist="$target_dir/dist/beacon"
  rm -rf "$dist" && mkdir -p "$dist"
  wasm-bindgen --target web --no-typescript --out-dir "$dist" --out-name beacon "$out/tracker_wasm.wasm"
  cat tracker-wasm/loader.js >> "$dist/beacon.js"
  "$wasm_opt" "${opt_flags[@]}" "$dist/beacon_bg.wasm" -o "$dist/beacon_bg.wasm"
  echo "beacon: $(wc -c < "$dist/beacon_bg.wasm") B wasm, $(wc -c < "$dist/beacon.js") B js ($WASM_PATH)"
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
