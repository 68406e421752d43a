#!/usr/bin/env bash
# Every test of the workspace, on a fresh Debian machine as root: installs what it
# needs (a Rust toolchain if missing, cargo-nextest), then runs unit, integration and
# CLI tests. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    if [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        apt-get update -qq && apt-get install -y -qq curl ca-certificates build-essential
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
if ! command -v gcc >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq build-essential
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi

cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
