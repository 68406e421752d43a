#!/bin/sh
# Records real monitoring-plugins outputs as parser fixtures (netprobes/src/wire/plugin.rs).
# Run as root on a Debian 12 box with monitoring-plugins-basic and -standard installed;
# it only talks to 127.0.0.1 (a throw-away HTTP server it starts and stops itself).
# Each fixture is NAME.out (raw stdout+stderr bytes); MANIFEST lists NAME, exit code and
# the command. Re-recording changes numbers: update the expectations in plugin.rs then.
set -u
cd "$(dirname "$0")"
P=/usr/lib/nagios/plugins
PORT=18931
WWW=$(mktemp -d)
echo '<html>bergamot</html>' > "$WWW/index.html"
(cd "$WWW" && exec python3 -m http.server $PORT --bind 127.0.0.1 >/dev/null 2>&1) &
HTTP_PID=$!
trap 'kill $HTTP_PID 2>/dev/null; rm -rf "$WWW"' EXIT
sleep 1
: > MANIFEST
rec() {
    name=$1; shift
    "$@" > "$name.out" 2>&1
    rc=$?
    printf '%s\t%s\t%s\n' "$name" "$rc" "$*" | sed "s|$P/||" >> MANIFEST
}
rec dummy_ok        $P/check_dummy 0 "all good"
rec dummy_warning   $P/check_dummy 1 "disk nearly full"
rec dummy_critical  $P/check_dummy 2 "disk full"
rec dummy_unknown   $P/check_dummy 3
rec dummy_garbage   $P/check_dummy 0 "x | a=1 b c=zz 'd e'=5% f=1;2;3;4;5;6 g=U h=1,5 'it''s'=3c 'open=1"
rec load            $P/check_load -w 5,4,3 -c 10,8,6
rec load_scaled     $P/check_load -r -w 0.01,0.01,0.01 -c 100,100,100
rec users           $P/check_users -w 5 -c 10
rec disk_root       $P/check_disk -w 20% -c 10% -p /
rec disk_two        $P/check_disk -w 20% -c 10% -p / -p /dev/shm
rec swap            $P/check_swap -w 50% -c 20%
rec procs           $P/check_procs
rec procs_rss       $P/check_procs -m RSS -w 100000 -c 200000
rec ping            $P/check_ping -H 127.0.0.1 -w 100,20% -c 200,40% -p 3
rec icmp            $P/check_icmp -H 127.0.0.1 -n 3
rec tcp_refused     $P/check_tcp -H 127.0.0.1 -p 1
rec tcp_ok          $P/check_tcp -H 127.0.0.1 -p $PORT
rec http_ok         $P/check_http -H 127.0.0.1 -p $PORT -u /
rec http_404        $P/check_http -H 127.0.0.1 -p $PORT -u /missing
rec http_verbose    $P/check_http -H 127.0.0.1 -p $PORT -v
rec curl_ok         $P/check_curl -H 127.0.0.1 -p $PORT
rec ssh_timeout     $P/check_ssh -H 127.0.0.1 -p $PORT -t 1
rec file_age        $P/check_file_age -w 60 -c 120 -f /etc/hostname
rec ping_usage      $P/check_ping -H
