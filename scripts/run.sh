#!/usr/bin/env bash
# The main job, for now: build bergamot-cli (release, sized for small boxes) and
# validate and summarise the example site. The daemon issue replaces this.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
cargo build --release -p bergamot-daemon --bin bergamot-cli
./target/release/bergamot-cli config validate docs/examples/complete
./target/release/bergamot-cli config show docs/examples/complete host "${1:-web1}" 2>/dev/null | head -40 || true
