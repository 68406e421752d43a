#!/usr/bin/env python3
"""Cuts the IP packets the ICMP tests use out of lo.pcap and errors.pcap (written by
capture.sh). Each .bin is one whole IP packet as seen on the wire (IPv4 header +
ICMP, or IPv6 header + ICMPv6); the tests strip the IPv6 header themselves, since a
raw ICMPv6 socket delivers the message without it. Standard library only."""

import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent


def packets(name):
    data = (HERE / name).read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    assert linktype == 1, f"{name}: expected Ethernet framing, got linktype {linktype}"
    off = 24
    while off + 16 <= len(data):
        _s, _us, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ethertype = struct.unpack(">H", frame[12:14])[0]
        if ethertype in (0x0800, 0x86DD):
            yield frame[14:]


def icmp_of(ip):
    if ip[0] >> 4 == 4:
        ihl = (ip[0] & 15) * 4
        return 4, ip[ihl:]
    return 6, ip[40:]


def main():
    out = {}
    idents = {4: [], 6: []}
    for ip in packets("lo.pcap"):
        ver, icmp = icmp_of(ip)
        typ = icmp[0]
        ident = struct.unpack(">H", icmp[4:6])[0]
        if ident not in idents[ver]:
            idents[ver].append(ident)
        tool = "ping" if idents[ver].index(ident) == 0 else "fping"
        kind = {0: "reply", 8: "request", 128: "request", 129: "reply"}.get(typ)
        if kind:
            out.setdefault(f"v{ver}-{tool}-echo-{kind}.bin", ip)
    for ip in packets("errors.pcap"):
        ver, icmp = icmp_of(ip)
        kind = {(4, 3): "dest-unreachable", (4, 11): "time-exceeded",
                (6, 1): "dest-unreachable", (6, 3): "time-exceeded"}.get((ver, icmp[0]))
        if kind:
            out.setdefault(f"v{ver}-{kind}.bin", ip)
    for name, ip in sorted(out.items()):
        (HERE / name).write_bytes(ip)
        print(f"{name}: {len(ip)} bytes")


if __name__ == "__main__":
    main()
