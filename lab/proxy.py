"""The lab's SSH ProxyCommand: a byte relay between stdin/stdout and HOST:PORT (run inside the lab's namespace).

It replaces `nc HOST PORT`, with which pyinfra's uploads of more than a few dozen KiB failed ("Broken
pipe"): pyinfra runs paramiko under gevent, whose subprocess pipes can leave the proxy's stdin and
stdout in non-blocking mode; during a large SFTP upload paramiko writes and does not read, the stdout
pipe fills, OpenBSD nc's write then fails with EAGAIN and nc exits, and paramiko's next write finds
the pipe closed. This relay puts both descriptors back in blocking mode and writes everything it
reads (short writes retried), so a full pipe only waits.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def relay(host: str, port: int) -> int:
    sock = socket.create_connection((host, port), timeout=15)
    sock.settimeout(None)
    for fd in (0, 1):
        os.set_blocking(fd, True)
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ)
    selector.register(sock, selectors.EVENT_READ)
    open_ends = 2
    while open_ends:
        for key, _ in selector.select():
            if key.fileobj == 0:
                data = os.read(0, 1 << 16)
                if not data:  # the SSH client closed its side: half-close, keep reading the server
                    selector.unregister(0)
                    sock.shutdown(socket.SHUT_WR)
                    open_ends -= 1
                    continue
                sock.sendall(data)
            else:
                data = sock.recv(1 << 16)
                if not data:
                    return 0
                write_all(1, data)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(relay(sys.argv[1], int(sys.argv[2])))
    except (BrokenPipeError, ConnectionResetError):
        raise SystemExit(0)
