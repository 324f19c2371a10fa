"""The lab's SSH ProxyCommand: `ip netns exec kpl-net python3 lab/sshproxy.py HOST PORT`.

A relay that never lets its input pipe fill. paramiko's ProxyCommand.send (paramiko 3.x/4.x,
paramiko/proxy.py) writes each SSH packet to the proxy's stdin once and reports it all written;
under pyinfra's CLI (gevent patches subprocess) that pipe is non-blocking, so once the pipe holds
more than the proxy has read, a write is cut short and the rest of the packet is lost: the stream
breaks (uploads of more than some 64 KiB ended with ProxyCommandFailure "Broken pipe" through nc,
which stops reading while its socket is busy; OpenSSH's scp, which writes all, worked). Here one
thread reads stdin as fast as it comes (into memory) and another sends it on; the pipe is grown to
fs.pipe-max-size too.
"""

from __future__ import annotations

import fcntl
import os
import queue
import socket
import sys
import threading

F_SETPIPE_SZ = 1031  # linux/fcntl.h: F_LINUX_SPECIFIC_BASE + 7
CHUNK = 1 << 20


def grow_pipe(fd: int) -> None:
    """The pipe on FD made as large as allowed (fs.pipe-max-size)."""
    try:
        with open("/proc/sys/fs/pipe-max-size") as limit:
            fcntl.fcntl(fd, F_SETPIPE_SZ, int(limit.read()))
    except (OSError, ValueError):  # not a pipe (a terminal), or refused: the relay alone
        pass


def main(host: str, port: int) -> None:
    sock = socket.create_connection((host, port), timeout=10)
    sock.settimeout(None)
    grow_pipe(0)
    pending: queue.SimpleQueue[bytes] = queue.SimpleQueue()

    def read_stdin() -> None:
        while data := os.read(0, CHUNK):
            pending.put(data)
        pending.put(b"")

    def send() -> None:
        while data := pending.get():
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    for job in (read_stdin, send):
        threading.Thread(target=job, daemon=True).start()
    while data := sock.recv(CHUNK):
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]


if __name__ == "__main__":
    try:
        main(sys.argv[1], int(sys.argv[2]))
    except (OSError, KeyboardInterrupt) as exc:
        print(f"sshproxy {sys.argv[1]}:{sys.argv[2]}: {exc}", file=sys.stderr)
        sys.exit(1)
