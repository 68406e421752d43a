#!/usr/bin/env bash
# Builds the static (musl) binaries for x86_64 and aarch64 and runs them: the
# aarch64 ones under qemu-aarch64-static, where io_uring is missing (ENOSYS) and
# the probes must fall back to epoll. Part of scripts/test-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cross.sh -p bergamot-daemon --bin bergamot-cli --bin bergamotd -p bergamot-netprobes --bin bergamot-probe
fail=0
# A small site for bergamotd: native pings and a fixed (dummy) check, every second.
smoke=$(mktemp -d -t bergamot-smoke.XXXXXX)
trap 'rm -rf "$smoke"' EXIT
mkdir -p "$smoke/site"
cat >"$smoke/site/site.xml" <<'XML'
<bergamot site="smoke.local">
    <command name="ping" engine="ping"><parameter name="packets">2</parameter></command>
    <command name="fixed" engine="dummy"><parameter name="status">OK</parameter><parameter name="output">fine</parameter></command>
    <host name="lo" address="127.0.0.1">
        <schedule every="1s"/>
        <check-command command="ping"/>
        <service name="fixed"><schedule every="1s"/><check-command command="fixed"/></service>
    </host>
</bergamot>
XML
daemon() { # runner... : runs bergamotd for 4 s, prints its health
    local data="$smoke/data-$RANDOM"
    timeout -s TERM 4 "$@" --config "$smoke/site" --data "$data" 2>/dev/null || true
    cat "$data/health.json" 2>/dev/null
}
check() { # name, expected-substring, command...
    local name=$1 want=$2; shift 2
    local out
    out=$("$@" 2>&1) || true
    if grep -q -- "$want" <<<"$out"; then
        echo "ok   $name"
    else
        echo "FAIL $name: expected '$want' in:"; echo "$out" | sed 's/^/     /'; fail=1
    fi
}
for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    run=()
    [ "$t" = aarch64-unknown-linux-musl ] && run=(qemu-aarch64-static)
    bin=target/$t/debug
    check "$t cli validate" "0 error(s)" "${run[@]}" "$bin/bergamot-cli" config validate docs/examples/complete
    check "$t ping 127.0.0.1" "127.0.0.1 : xmt/rcv/%loss = 2/2/0%" "${run[@]}" "$bin/bergamot-probe" ping -q -c 2 -p 20 127.0.0.1
    check "$t ping ::1" "::1 : xmt/rcv/%loss = 2/2/0%" "${run[@]}" "$bin/bergamot-probe" ping -q -c 2 -p 20 ::1
    check "$t bergamotd runs checks" '"OK": [1-9]' daemon "${run[@]}" "$bin/bergamotd"
done
# Under qemu-user io_uring is ENOSYS: `auto` (above) fell back to epoll; forcing
# epoll works, and forcing io_uring fails with an error that names io_uring.
check "aarch64 forced epoll" "xmt/rcv/%loss = 1/1/0%" qemu-aarch64-static target/aarch64-unknown-linux-musl/debug/bergamot-probe ping --io epoll -q -c 1 127.0.0.1
check "aarch64 forced io_uring refused" "io_uring" qemu-aarch64-static target/aarch64-unknown-linux-musl/debug/bergamot-probe ping --io io-uring -q -c 1 127.0.0.1
exit $fail
