"""Small subprocess helpers."""

from __future__ import annotations

import subprocess
import sys
from typing import Sequence

from lab import config


def run(cmd: Sequence[str], *, check: bool = True, capture: bool = False, input: str | None = None,
        timeout: float | None = None, cwd: object = None) -> subprocess.CompletedProcess[str]:
    """Run a command, optionally capturing its output."""
    return subprocess.run(
        list(cmd), check=check, text=True, input=input, timeout=timeout, cwd=cwd,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.PIPE if capture else None,
    )


def out(cmd: Sequence[str], *, check: bool = True) -> str:
    """Run a command and return its stripped stdout."""
    return run(cmd, check=check, capture=True).stdout.strip()


def quiet(cmd: Sequence[str]) -> bool:
    """Run a command ignoring failure; return whether it succeeded."""
    return subprocess.run(list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def in_labns(cmd: Sequence[str]) -> list[str]:
    """Prefix a command so that it runs inside the lab's network namespace."""
    return ["ip", "netns", "exec", config.NET_NS, *cmd]


def log(msg: str) -> None:
    """Print a progress line to stderr."""
    print(f"[lab] {msg}", file=sys.stderr, flush=True)
