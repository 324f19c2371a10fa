"""The package mirror the nodes use, served on the lab bridge only."""

from __future__ import annotations

import subprocess
import sys
import time

from lab import config, procs
from lab.run import in_labns


def running(pid: int | None) -> bool:
    """Whether pid is our mirror."""
    return procs.is_mirror(pid, str(config.REPO_DIR))


def start() -> int:
    """Start python's http.server on GATEWAY:8080 inside the lab namespace; return its PID."""
    log = (config.STATE_DIR / "mirror.log").open("ab")
    cmd = in_labns([sys.executable, "-m", "http.server", str(config.MIRROR_PORT), "--bind", config.GATEWAY,
                    "--directory", str(config.REPO_DIR)])
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        probe = subprocess.run(in_labns(["nc", "-z", config.GATEWAY, str(config.MIRROR_PORT)]),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if probe.returncode == 0:
            return proc.pid
        if proc.poll() is not None:
            raise RuntimeError(f"the mirror exited: see {config.STATE_DIR / 'mirror.log'}")
        time.sleep(0.1)
    raise RuntimeError("the mirror did not start listening")
