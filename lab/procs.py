"""Finding and stopping the lab's processes safely (PIDs get reused: check cmdlines)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    """A process's argv, or [] if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_nspawn_of(pid: int | None, machine: str) -> bool:
    """Whether pid is the systemd-nspawn process of machine."""
    if not pid:
        return False
    argv = cmdline(pid)
    return bool(argv) and argv[0].endswith("systemd-nspawn") and f"--machine={machine}" in argv


def is_mirror(pid: int | None, directory: str) -> bool:
    """Whether pid is the lab's package mirror."""
    argv = cmdline(pid) if pid else []
    return "http.server" in argv and directory in argv


def find_nspawns(prefix: str) -> dict[str, int]:
    """Every running systemd-nspawn whose machine name starts with prefix: name -> pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = cmdline(int(entry.name))
        if argv and argv[0].endswith("systemd-nspawn"):
            for arg in argv:
                if arg.startswith(f"--machine={prefix}"):
                    found[arg.split("=", 1)[1]] = int(entry.name)
    return found


def find_mirrors(directory: str) -> list[int]:
    """PIDs of mirror processes serving directory."""
    return [int(e.name) for e in Path("/proc").iterdir() if e.name.isdigit() and is_mirror(int(e.name), directory)]


def children(pid: int) -> list[int]:
    """Direct children of pid."""
    kids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            kids.append(int(entry.name))
    return kids


def comm(pid: int) -> str:
    """A process's short name."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def container_init(nspawn_pid: int, timeout: float = 30) -> int:
    """The container's systemd (a child of nspawn), once it is that and not a short-lived helper."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for kid in children(nspawn_pid):
            if comm(kid) == "systemd":
                return kid
        if not cmdline(nspawn_pid):
            raise RuntimeError(f"systemd-nspawn {nspawn_pid} exited during boot")
        time.sleep(0.05)
    raise RuntimeError(f"no container systemd under nspawn {nspawn_pid} after {timeout}s")


def alive(pid: int) -> bool:
    """Whether pid still exists (and is not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def reap() -> None:
    """Collect any exited children of this process."""
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def terminate(pids: list[int], timeout: float = 15) -> None:
    """SIGTERM the pids, wait, then SIGKILL what is left."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reap()
        if not any(alive(p) for p in pids):
            return
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    time.sleep(0.3)
    reap()
