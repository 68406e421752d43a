#!/usr/bin/env python3
"""The server side of the TCP-check benchmark: a single-process, nonblocking accept
loop on loopback with a deep listen backlog (Python stdlib only). Per connection it
optionally writes a banner, then closes. Both clients (check_tcp and bergamot-probe)
check the same instance.

Usage: peer.py PORT [BANNER]   (BANNER with \\r\\n escapes, e.g. '220 bench ESMTP\\r\\n')
Prints "ready" on stdout once listening.
"""

import selectors
import socket
import sys


def main() -> None:
    port = int(sys.argv[1])
    banner = sys.argv[2].encode().decode("unicode_escape").encode() if len(sys.argv) > 2 else b""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(4096)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for _key, _ev in sel.select():
            while True:
                try:
                    conn, _ = lsock.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break
                if banner:
                    try:
                        conn.send(banner)
                    except OSError:
                        pass
                conn.close()


if __name__ == "__main__":
    main()
