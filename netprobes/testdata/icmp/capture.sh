#!/bin/sh
# Re-creates the ICMP captures in this directory (run as root on Debian 12 with
# iputils-ping, fping, tcpdump and iproute2). Traffic stays on loopback and in two
# network namespaces made here: A (10.200.0.1, fd00:200::1) routes through B
# (10.200.0.2, fd00:200::2), which answers "unreachable" for 10.201/16 and
# fd00:201::/32 and forwards 10.202/16 and fd00:202::/32 back out (so a TTL/hop
# limit of 1 earns a "time exceeded"). extract.py then cuts the IP packets out.
set -eu
cd "$(dirname "$0")"
A=bgcapA.$$; B=bgcapB.$$
cleanup() { ip netns del "$A" 2>/dev/null || true; ip netns del "$B" 2>/dev/null || true; }
trap cleanup EXIT

tcpdump -i lo -U -w lo.pcap 'icmp or icmp6' 2>/dev/null & TP=$!
sleep 1
ping -c 2 -i 0.2 127.0.0.1 >/dev/null
ping -c 2 -i 0.2 ::1 >/dev/null
fping -q -c 1 127.0.0.2 ::1 2>/dev/null || true
sleep 1; kill "$TP"; wait "$TP" 2>/dev/null || true

ip netns add "$A"; ip netns add "$B"
ip link add vA netns "$A" type veth peer name vB netns "$B"
ip -n "$A" link set lo up; ip -n "$B" link set lo up
ip -n "$A" link set vA up; ip -n "$B" link set vB up
ip -n "$A" addr add 10.200.0.1/24 dev vA; ip -n "$B" addr add 10.200.0.2/24 dev vB
ip -n "$A" -6 addr add fd00:200::1/64 dev vA nodad; ip -n "$B" -6 addr add fd00:200::2/64 dev vB nodad
ip -n "$A" route add default via 10.200.0.2; ip -n "$A" -6 route add default via fd00:200::2
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n "$B" route add unreachable 10.201.0.0/16
ip -n "$B" -6 route add unreachable fd00:201::/32
ip -n "$B" route add 10.202.0.0/16 via 10.200.0.1
ip -n "$B" -6 route add fd00:202::/32 via fd00:200::1
sleep 1
ip netns exec "$A" tcpdump -i vA -U -w errors.pcap 'icmp or icmp6' 2>/dev/null & TP=$!
sleep 1
ip netns exec "$A" ping -c 1 -W 1 10.201.0.5 >/dev/null || true
ip netns exec "$A" ping -c 1 -W 1 fd00:201::5 >/dev/null || true
ip netns exec "$A" ping -c 1 -W 1 -t 1 10.202.0.5 >/dev/null || true
ip netns exec "$A" ping -c 1 -W 1 -t 1 fd00:202::5 >/dev/null || true
sleep 1; kill "$TP"; wait "$TP" 2>/dev/null || true
python3 extract.py
