#!/usr/bin/env bash
# Static (musl) builds for the appliance: x86_64 and aarch64. Installs the targets
# and cross tools it needs. Usage: scripts/cross.sh [--release] [cargo build args…]
# Binaries land in target/<triple>/<profile>/.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
if [ "${1:-}" = "--release" ]; then profile=(--release); shift; fi
need=""
command -v musl-gcc >/dev/null 2>&1 || need="$need musl-tools"
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || need="$need gcc-aarch64-linux-gnu"
command -v qemu-aarch64-static >/dev/null 2>&1 || need="$need qemu-user-static"
if [ -n "$need" ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need
fi
rustup target add x86_64-unknown-linux-musl aarch64-unknown-linux-musl >/dev/null

# x86_64: musl-gcc for C code (mimalloc, OpenSSL); Rust links self-contained.
export CC_x86_64_unknown_linux_musl=musl-gcc
# aarch64: the glibc cross compiler builds the C code for the musl target (CRATES.md);
# it is also the linker.
export CC_aarch64_unknown_linux_musl=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_musl=aarch64-linux-gnu-ar
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=aarch64-linux-gnu-gcc
# glibc's headers rename fopen & co. to their LFS64 names (fopen64…) when
# _FILE_OFFSET_BITS is 64, and musl no longer exports those: on a 64-bit target
# off_t is 64 bits anyway, so ask for the plain names (OpenSSL sets 64 only when
# nothing is set; SQLite has its own switch).
export CFLAGS_aarch64_unknown_linux_musl="-D_FILE_OFFSET_BITS=32 -DSQLITE_DISABLE_LFS"
export LIBSQLITE3_FLAGS="-DSQLITE_DISABLE_LFS"
# The io-uring crate's prebuilt bindings cover x86_64 and aarch64 only.
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    cargo build "${profile[@]}" --target "$t" "$@"
done
