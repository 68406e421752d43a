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
# Real peers the probe tests run against (PEERS.md), installed once here so that
# tests running in parallel never race for the dpkg lock.
PEERS="nagios-nrpe-server nagios-nrpe-plugin monitoring-plugins-basic monitoring-plugins-standard
       snmpd snmp fping nftables iproute2 tcpdump openssl chromium chromium-driver"
missing=""
for p in $PEERS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        # Package scripts must not start system-wide services: tests start their own.
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
        rm -f /usr/sbin/policy-rc.d
    else
        echo "missing packages:$missing (run as root to install them)" >&2
    fi
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi

cargo nextest run --workspace --no-fail-fast
cargo test --workspace --doc
# Static builds for both appliance architectures, run natively and under qemu-user
# (where io_uring is missing and the probes fall back to epoll).
bash scripts/cross-smoke.sh
