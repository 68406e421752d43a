#!/usr/bin/env bash
# The main job: build bergamotd and bergamot-cli (release, sized for small boxes),
# validate the example site that monitors this machine (docs/examples/this-machine:
# loopback pings, local plugins, a cluster) and run the daemon on it in the
# foreground, logging every result and state change, for RUN_SECONDS (default 60;
# 0 = until Ctrl-C). Its state goes to BERGAMOT_DATA (default a temporary directory);
# health.json is printed at the end.
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
data="${BERGAMOT_DATA:-$(mktemp -d -t bergamot-data.XXXXXX)}"
seconds="${RUN_SECONDS:-60}"
echo "bergamotd --config $site --data $data  (state in $data; stops after ${seconds}s, 0 = never)"
if [ "$seconds" = 0 ]; then
    ./target/release/bergamotd --config "$site" --data "$data" --log-events
else
    timeout -s TERM "$seconds" ./target/release/bergamotd --config "$site" --data "$data" --log-events || [ $? = 124 ]
fi
cat "$data/health.json"
