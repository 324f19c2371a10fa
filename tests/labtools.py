"""What the end-to-end lab tests share: the skip condition, the deploy, a command on a node."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from lab import config
from lab.sshconf import ssh

REQUIRES_LAB = [
    pytest.mark.lab,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("systemd-nspawn") is None,
                       reason="the lab needs root and systemd-nspawn (python -m lab deps)"),
]


def deploy(*extra: str) -> str:
    """Run the real deploy into the lab; fail the test with its output if it fails."""
    res = subprocess.run([*config.DEPLOY, *extra], cwd=config.REPO, capture_output=True, text=True, timeout=900)
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    return out


def on(node: str, command: str) -> str:
    """Run a command on a lab node and return stdout (must succeed)."""
    res = ssh(node, command, timeout=120)
    assert res.returncode == 0, f"{node}: {command}: {res.stderr}"
    return res.stdout


def changed(output: str) -> int:
    """Operations that changed something, from pyinfra's 'Grand total' row (Hosts Success Error NoChange)."""
    row = [line for line in output.splitlines() if "Grand total" in line][-1]
    success = row.split()[3]
    return 0 if success == "-" else int(success)


def verify(*extra: str) -> tuple[int, str]:
    """Run the verification suite against the lab; (exit code, output)."""
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/verify", "--inventory", "inventories/lab.py", "-q",
         "-p", "no:cacheprovider", "-n", "4", "-rs", *extra],
        cwd=config.REPO, capture_output=True, text=True, timeout=600,
    )
    return res.returncode, res.stdout + res.stderr


def assert_verified() -> None:
    """Fail the test with its output unless the verification suite passes on the lab."""
    code, out = verify()
    assert code == 0, out[-5000:]
