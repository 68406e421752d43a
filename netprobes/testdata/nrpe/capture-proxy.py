"""Logging TCP proxy: one connection at a time; writes <prefix>.c2s and <prefix>.s2c."""
import socket, sys, threading
listen_port, target_port, prefix = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", listen_port)); ls.listen(1)
n = 0
while True:
    c, _ = ls.accept()
    s = socket.create_connection(("127.0.0.1", target_port))
    n += 1
    def pump(a, b, path):
        with open(path, "wb") as f:
            while True:
                d = a.recv(65536)
                if not d:
                    try: b.shutdown(socket.SHUT_WR)
                    except OSError: pass
                    return
                f.write(d); f.flush()
                try: b.sendall(d)
                except OSError: return
    t1 = threading.Thread(target=pump, args=(c, s, f"{prefix}{n}.c2s")); t2 = threading.Thread(target=pump, args=(s, c, f"{prefix}{n}.s2c"))
    t1.start(); t2.start(); t1.join(); t2.join(); c.close(); s.close()
