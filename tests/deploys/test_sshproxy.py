"""deploys/sshproxy.py: writes through paramiko's ProxyCommand arrive whole under gevent, as pyinfra runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Under gevent's monkey patching (pyinfra's script does it first), a proxy command that reads slowly:
# everything it received is counted. 300 KB is more than a pipe's 64 KiB.
SCRIPT = """
from gevent import monkey; monkey.patch_all()
import sys
from paramiko.proxy import ProxyCommand
if sys.argv[1] == "fixed":
    from deploys import sshproxy; sshproxy.install(); sshproxy.install()
proxy = ProxyCommand("sh -c 'sleep 0.3; wc -c'")
sent = proxy.send(b"x" * 300000) + proxy.send(bytearray(b"y" * 70000))
proxy.process.stdin.close()
print(sent, int(proxy.process.stdout.read()))
"""


def run(mode: str) -> tuple[int, int]:
    res = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    sent, received = res.stdout.split()
    return int(sent), int(received)


def test_paramiko_alone_loses_the_tail_of_a_large_write_under_gevent() -> None:
    sent, received = run("paramiko")
    assert sent == 370000
    assert received < sent  # paramiko said all was sent; the pipe took 64 KiB per write


def test_installed_every_byte_arrives() -> None:
    assert run("fixed") == (370000, 370000)


def test_a_dead_proxy_command_is_paramikos_error() -> None:
    from paramiko.proxy import ProxyCommand, ProxyCommandFailure

    from deploys import sshproxy

    proxy = ProxyCommand("true")
    proxy.process.wait()
    with pytest.raises(ProxyCommandFailure):
        sshproxy.send_all(proxy, b"x" * 300000)
