# Sourced by the build scripts: picks the toolchain that builds wasm32.
#
# 1. rustup's wasm32-unknown-unknown target, when installed (the usual path);
# 2. otherwise Debian's rustc-web + rust-web-src, building std from source
#    (-Zbuild-std) and linking with rustup's rust-lld (TOOLCHAIN.md).
# Both build the same crates with the same flags; WASM_PATH says which.

# MINTMARK_WASM_PATH=debian-build-std forces the fallback (to test it).
if [ "${MINTMARK_WASM_PATH:-}" != debian-build-std ] &&
   rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  WASM_PATH=rustup
  WASM_CARGO=(cargo)
  WASM_BUILD_STD=()
elif [ -x /usr/bin/cargo ] && dpkg -s rust-web-src >/dev/null 2>&1; then
  WASM_PATH=debian-build-std
  # rustup's rust-lld if there is a rustup toolchain; else Debian lld's wasm-ld.
  LLD="$(rustc --print sysroot 2>/dev/null)/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld"
  [ -x "$LLD" ] || LLD=$(command -v wasm-ld || command -v wasm-ld-14 || echo /usr/lib/llvm-14/bin/wasm-ld)
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$LLD"
  WASM_CARGO=(/usr/bin/cargo)
  WASM_BUILD_STD=(-Zbuild-std=std,panic_abort)
else
  echo "no wasm32 toolchain: run scripts/bootstrap.sh" >&2
  return 1 2>/dev/null || exit 1
fi
export WASM_PATH
