#!/usr/bin/env python3
"""A TCP forwarder between two network namespaces (Python stdlib only).

  forward.py LISTEN_HOST:LISTEN_PORT TARGET_HOST:TARGET_PORT [--target-netns PATH] [--port-file FILE]

Listens in the namespace it was started in; with --target-netns it then moves
into the network namespace at PATH (setns(2) through libc) and connects every
accepted connection to TARGET there. LISTEN_PORT 0 takes a free port; the port
is written to --port-file once the socket listens. scripts/cluster-e2e.sh uses
it twice, both times between loopback and namespaces it created:

- in the node's namespace, <node IP>:6443 -> 127.0.0.1:<apiserver port>: the
  `kubernetes` Service's endpoint (kube-proxy sends 10.96.0.1:443 there), since
  the test control plane listens on loopback only;
- on the machine's loopback, 127.0.0.1:0 -> the node namespace's
  127.0.0.1:<apiserver port>: the admin kubeconfig that `--keep` prints.
"""
import ctypes
import os
import socket
import sys
import threading

CLONE_NEWNET = 0x40000000


def addr(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"forward.py: {s!r}: expected HOST:PORT")
    return host, int(port)


def pump(src, dst):
    try:
        while True:
            b = src.recv(65536)
            if not b:
                break
            dst.sendall(b)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, target):
    try:
        up = socket.create_connection(target, timeout=10)
    except OSError:
        conn.close()
        return
    up.settimeout(None)
    threading.Thread(target=pump, args=(up, conn), daemon=True).start()
    pump(conn, up)
    conn.close()
    up.close()


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    listen, target = addr(argv[0]), addr(argv[1])
    netns = port_file = None
    rest = argv[2:]
    while rest:
        if rest[0] == "--target-netns" and len(rest) > 1:
            netns = rest[1]
        elif rest[0] == "--port-file" and len(rest) > 1:
            port_file = rest[1]
        else:
            raise SystemExit(f"forward.py: unknown argument {rest[0]!r}")
        rest = rest[2:]
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(listen)
    srv.listen(64)
    if netns:
        # Only this (the main) thread moves; the threads it starts inherit its namespace.
        fd = os.open(netns, os.O_RDONLY)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise SystemExit(f"forward.py: setns({netns}): {os.strerror(ctypes.get_errno())}")
        os.close(fd)
    if port_file:
        with open(port_file + ".tmp", "w") as f:
            f.write(f"{srv.getsockname()[1]}\n")
        os.rename(port_file + ".tmp", port_file)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, target), daemon=True).start()


if __name__ == "__main__":
    main(sys.argv[1:])
