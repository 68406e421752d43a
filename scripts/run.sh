#!/usr/bin/env bash
# The main job: build bergamotd and bergamot-cli (release, sized for small boxes),
# validate the example site that monitors this machine (docs/examples/this-machine:
# loopback pings, local plugins, a cluster) and run the daemon on it in the
# foreground for RUN_SECONDS (default 60; 0 = until Ctrl-C), printing the status
# page's URL. Its state goes to the daemon's default data directory
# (/var/lib/bergamot as root, else ~/.local/state/bergamot; BERGAMOT_DATA overrides),
# so a second run starts where the first stopped. health.json is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if [ ! -x /usr/lib/nagios/plugins/check_load ]; then
    if [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q monitoring-plugins-basic >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q monitoring-plugins-basic >/dev/null; }
    else
        echo "note: monitoring-plugins is not installed; the plugin checks will show ERROR (as root this script installs it)" >&2
    fi
fi
cargo build --release -p bergamot-daemon --bin bergamotd --bin bergamot-cli
site=docs/examples/this-machine
./target/release/bergamot-cli config validate "$site"
./target/release/bergamot-cli check "$site" localhost load || true
seconds="${RUN_SECONDS:-60}"
port="${BERGAMOT_HTTP_PORT:-8080}"
if [ -n "${BERGAMOT_DATA:-}" ]; then data="$BERGAMOT_DATA"
elif [ "$(id -u)" = 0 ]; then data=/var/lib/bergamot
else data="${XDG_STATE_HOME:-$HOME/.local/state}/bergamot"; fi
echo
echo "bergamotd on $site; status page: http://127.0.0.1:$port/  (state in $data; stops after ${seconds}s, 0 = never)"
echo
run() { ./target/release/bergamotd --config "$site" --data "$data" --http "127.0.0.1:$port" "$@"; }
if [ "$seconds" = 0 ]; then
    run --log-events
else
    timeout -s TERM "$seconds" ./target/release/bergamotd --config "$site" --data "$data" --http "127.0.0.1:$port" --log-events || [ $? = 124 ]
fi
cat "$data/health.json"
