"""The mirror the nodes use (Debian packages, stand-in Kubernetes repositories, release files, Calico's
manifests), served on the lab bridge only; and what `group_data/lab.py` reads of it."""

from __future__ import annotations

import subprocess
import sys
import time

from deploys import digests
from lab import artifacts, config, procs, state
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


def artifact_url(name: str) -> str:
    """The URL template (deploy's {version}, {arch}) of release artifact name on the mirror: containerd, runc, cni_plugins."""
    return artifacts.url_template(name)


def artifact_version(name: str) -> str:
    """The version of artifact name the mirror serves for the running lab's OS."""
    return str(artifacts.entry(name, state.load().os)["version"])


def artifact_sha256(name: str) -> str:
    """SHA-256 of the file the mirror serves as artifact name for the running lab's OS, read from the file."""
    return digests.sha256(config.REPO_DIR / artifacts.entry(name, state.load().os)["path"])
