"""Whole writes through an SSH ProxyCommand (bastions, the lab's network namespace) under pyinfra's gevent.

paramiko's `ProxyCommand.send` (paramiko/proxy.py, 3.x and 4.x) writes to the proxy command's stdin
once and returns the length it was given. pyinfra runs under gevent's monkey patching, where that stdin
(`subprocess.Popen(..., bufsize=0)`) is a gevent `FileObjectPosix` whose `write` makes one non-blocking
`write(2)` and returns what the pipe took: at most the pipe's capacity (64 KiB on Linux). Anything
larger, such as a file upload, silently lost its tail; the SSH stream then breaks on the server side
("Broken pipe", MAC errors). `send_all` writes until everything is taken. Always installed (by
`group_data/all.py` and every entry): it changes nothing where writes are whole.
"""

from __future__ import annotations

from typing import Any

from paramiko.proxy import ProxyCommand, ProxyCommandFailure

ORIGINAL = ProxyCommand.send


def send_all(self: ProxyCommand, content: Any) -> int:
    """All of CONTENT written to the proxy command's stdin, however many writes the pipe needs; its length."""
    view = memoryview(content).cast("B")
    while len(view):
        try:
            written = self.process.stdin.write(view)
        except OSError as exc:  # the proxy command died: paramiko's own error, as before
            raise ProxyCommandFailure(" ".join(self.cmd), exc.strerror) from exc
        if written == 0:
            raise ProxyCommandFailure(" ".join(self.cmd), "the proxy command's stdin takes no more data")
        view = view[len(view) if written is None else written:]
    return len(content)


def install() -> None:
    """paramiko's ProxyCommand writes whole buffers (idempotent)."""
    ProxyCommand.send = send_all  # type: ignore[method-assign]
