"""Per-node cgroups (/kpl-lab/NODE in every hierarchy), so each nspawn's payload is its own and `down` can remove them."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_NAME = "kpl-lab"


def hierarchies() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy."""
    mounts = []
    for line in Path("/proc/mounts").read_text().splitlines():
        fields = line.split()
        if fields[2] in ("cgroup", "cgroup2"):
            mounts.append(Path(fields[1]))
    return mounts


def node_dirs(name: str) -> list[Path]:
    """The node's cgroup directory in each hierarchy."""
    return [mp / ROOT_NAME / name for mp in hierarchies()]


def create(name: str) -> list[Path]:
    """mkdir the node's cgroups (cpuset needs cpus and mems copied down first)."""
    made = []
    for path in node_dirs(name):
        for level in (path.parent, path):
            if not level.exists():
                level.mkdir()
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    if (level / knob).exists():
                        (level / knob).write_text((level.parent / knob).read_text())
        made.append(path)
    return made


def enter(paths: list[Path]) -> None:
    """Move the calling process into paths (used between fork and exec)."""
    pid = str(os.getpid())
    for path in paths:
        (path / "cgroup.procs").write_text(pid)


def remove(name: str | None = None) -> list[str]:
    """rmdir a node's cgroup trees (or the whole lab's) bottom-up; return what could not be removed."""
    left = []
    for mp in hierarchies():
        top = mp / ROOT_NAME / name if name else mp / ROOT_NAME
        if not top.exists():
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda t: -t[0].count("/")):
            try:
                os.rmdir(dirpath)
            except OSError:
                left.append(dirpath)
    return left


def leftovers() -> list[str]:
    """Lab cgroup directories that still exist."""
    return [str(mp / ROOT_NAME) for mp in hierarchies() if (mp / ROOT_NAME).exists()]


def pids(name: str) -> list[int]:
    """Every process in the node's cgroup tree (from the first hierarchy that has it)."""
    for path in node_dirs(name):
        if path.exists():
            found: set[int] = set()
            for dirpath, _dirs, _files in os.walk(path):
                try:
                    found |= {int(p) for p in Path(dirpath, "cgroup.procs").read_text().split()}
                except OSError:
                    continue
            return sorted(found)
    return []


def memory_mb(name: str) -> int | None:
    """The node's memory use (cgroup v1 memory.usage_in_bytes or v2 memory.current), in MB."""
    for path in node_dirs(name):
        for knob in ("memory.usage_in_bytes", "memory.current"):
            try:
                return int((path / knob).read_text()) // 2**20
            except (OSError, ValueError):
                continue
    return None
