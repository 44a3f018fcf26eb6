#!/usr/bin/env bash
# Installs whatever is missing to build, run and test mintmark, from Debian
# packages, crates.io and npm only. Idempotent: with everything present it
# only checks, in a few seconds. `make up` and `make test` run it first.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
have_deb() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
  local missing=()
  for p in "$@"; do have_deb "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  if [ -z "$apt_updated" ]; then as_root apt-get update -q >/dev/null; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# --- Debian: ClickHouse server, ZooKeeper for the local cluster (its jars;
# run unprivileged by devstack, no service), Chromium for browser tests,
# Node for tooling.
apt_install clickhouse-server zookeeper chromium ca-certificates
command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm

# --- Rust toolchain for wasm32: rustup target, else Debian's rustc-web + build-std.
if ! command -v cargo >/dev/null; then
  echo "cargo is not installed: install Rust (rustup) first" >&2; exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "adding the wasm32-unknown-unknown target"
  if ! timeout 300 rustup target add wasm32-unknown-unknown; then
    step "rustup cannot fetch wasm32 std: falling back to Debian rustc-web + build-std"
    apt_install rustc-web cargo-web rust-web-src lld
  fi
fi
# The beacon rebuilds core (-Zbuild-std) for abort-only panics: std sources.
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown &&
   ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
  step "adding rust-src (the beacon rebuilds core without panic messages)"
  timeout 300 rustup component add rust-src
fi

# --- wasm-bindgen CLI: must equal the wasm-bindgen in Cargo.lock.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  step "installing wasm-bindgen-cli $want (was: ${have:-none}); takes a few minutes"
  # --locked first; its lockfile can pin a since-yanked crate, so fall back.
  cargo install -q wasm-bindgen-cli --version "$want" --locked 2>/dev/null ||
    cargo install -q wasm-bindgen-cli --version "$want"
fi

# --- mdbook builds the manual (docs/); `make test` builds it too.
mdbook_want=0.5.4
if [ "$(mdbook --version 2>/dev/null | awk '{print $2}' | tr -d v)" != "$mdbook_want" ]; then
  step "installing mdbook $mdbook_want (the manual's builder); takes about 2 minutes"
  cargo install -q mdbook --version "$mdbook_want" --locked
fi

# --- npm tooling (workerd, binaryen's wasm-opt, playwright-core, wrangler for
# the deployment dry run), pinned by package-lock.json.
# `npm install`, not `npm ci`: the registry reachable here lacks workerd's
# darwin/windows optional packages, which `npm ci` insists on. The lockfile
# still pins every version; the stamp makes the check instant.
stamp=node_modules/.mintmark-npm-stamp
want_stamp=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want_stamp" ]; then
  step "installing npm packages"
  npm install --no-audit --no-fund --loglevel=error
  echo "$want_stamp" > "$stamp"
fi
# npm may skip install scripts; workerd's binary ships in its platform package.
[ -x node_modules/.bin/workerd ] || { echo "workerd binary missing from node_modules" >&2; exit 1; }

# --- Python: mmdb-writer builds the small GeoIP databases tests and the demo
# use; chdb (current ClickHouse in-process) checks our SQL beyond Debian's 18.16;
# prometheus-client's parser reads every service's /metrics in a test;
# aiosmtpd is the SMTP server the report and alert tests start on loopback.
if ! python3 -c "import mmdb_writer, netaddr, chdb, prometheus_client.parser, aiosmtpd" 2>/dev/null; then
  step "installing Python packages (mmdb-writer, netaddr, chdb, prometheus-client, aiosmtpd)"
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  pkgs=(mmdb-writer==0.2.7 netaddr==1.3.0 chdb==4.4.0 prometheus-client==0.23.1 aiosmtpd==1.4.6)
  python3 -m pip install -q --disable-pip-version-check "${pkgs[@]}" ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages "${pkgs[@]}"
fi

echo "bootstrap: ok ($(source scripts/wasm-env.sh && echo "wasm via $WASM_PATH"), wasm-bindgen $want)"
