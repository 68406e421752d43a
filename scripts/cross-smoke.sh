#!/usr/bin/env bash
# Builds the static (musl) binaries for x86_64 and aarch64 and runs them: the
# aarch64 ones under qemu-aarch64-static, where io_uring is missing (ENOSYS) and
# the probes must fall back to epoll. Part of scripts/test-all.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/cross.sh -p bergamot-daemon --bin bergamot-cli -p bergamot-netprobes --bin bergamot-probe
fail=0
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
done
# Under qemu-user io_uring is ENOSYS: `auto` (above) fell back to epoll; forcing
# epoll works, and forcing io_uring fails with an error that names io_uring.
check "aarch64 forced epoll" "xmt/rcv/%loss = 1/1/0%" qemu-aarch64-static target/aarch64-unknown-linux-musl/debug/bergamot-probe ping --io epoll -q -c 1 127.0.0.1
check "aarch64 forced io_uring refused" "io_uring" qemu-aarch64-static target/aarch64-unknown-linux-musl/debug/bergamot-probe ping --io io-uring -q -c 1 127.0.0.1
exit $fail
