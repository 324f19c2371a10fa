"""The lab's state on disk: topology, node OS, nodes, addresses, roles and process ids."""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab import config

ROLES = ("control_plane", "workers")


@dataclass
class Node:
    """One lab node."""

    name: str
    ip: str
    role: str  # "control_plane" or "workers" (the inventory group)
    pid: int | None = None  # the systemd-nspawn process
    netns: str = ""

    @property
    def dir(self) -> Path:
        return config.NODES_DIR / self.name

    @property
    def root(self) -> Path:
        return self.dir / "root"


@dataclass
class LabState:
    """Everything `down`, `status` and the inventory need to know."""

    control_planes: int = 0
    workers: int = 0
    nodes: list[Node] = field(default_factory=list)
    mirror_pid: int | None = None
    os: str = config.DEFAULT_OS  # the nodes' operating system, a key of config.OS_SUITES

    def node(self, name: str) -> Node:
        """The node called name (or by its short name, e.g. cp1)."""
        for node in self.nodes:
            if name in (node.name, node.name.removeprefix(config.NODE_PREFIX), node.ip):
                return node
        raise KeyError(f"no lab node {name!r}; nodes: {', '.join(n.name for n in self.nodes) or 'none'}")

    @property
    def topology(self) -> str:
        return f"{self.control_planes}+{self.workers}"


def parse_topology(text: str) -> tuple[int, int]:
    """'3+3' -> (3, 3); control planes must be 1 or 3 and workers at least 0."""
    m = re.fullmatch(r"\s*(\d+)\s*\+\s*(\d+)\s*", text)
    if not m:
        raise ValueError(f"topology must look like CONTROL_PLANES+WORKERS, e.g. 3+3, not {text!r}")
    cps, workers = int(m.group(1)), int(m.group(2))
    if cps not in (1, 3):
        raise ValueError(f"the lab builds 1 or 3 control planes, not {cps}")
    if workers > 80:
        raise ValueError("at most 80 workers fit the lab subnet")
    return cps, workers


def parse_os(name: str) -> str:
    """'debian13' -> 'debian13'; anything the lab cannot boot is a ValueError naming the choices."""
    if name not in config.OS_SUITES:
        raise ValueError(f"the lab boots {' or '.join(config.OS_SUITES)}, not {name!r}")
    return name


def node_name(role: str, index: int) -> str:
    """lab-cp1, lab-w1, ... (index from 1)."""
    return f"{config.NODE_PREFIX}{'cp' if role == 'control_plane' else 'w'}{index}"


def plan(cps: int, workers: int) -> list[Node]:
    """The nodes of a topology: control planes first, from .11 upwards."""
    nodes = [Node(node_name("control_plane", i), f"{config.SUBNET_PREFIX}{config.FIRST_NODE_HOST + i - 1}",
                  "control_plane") for i in range(1, cps + 1)]
    first_worker = config.FIRST_NODE_HOST + cps
    nodes += [Node(node_name("workers", i), f"{config.SUBNET_PREFIX}{first_worker + i - 1}", "workers")
              for i in range(1, workers + 1)]
    for node in nodes:
        node.netns = config.NODE_NS_PREFIX + node.name
    return nodes


def load(path: Path = config.STATE_FILE) -> LabState:
    """Read the state file; an absent file is an empty lab."""
    if not path.exists():
        return LabState()
    raw = json.loads(path.read_text())
    nodes = [Node(**n) for n in raw.get("nodes", [])]
    return LabState(raw.get("control_planes", 0), raw.get("workers", 0), nodes, raw.get("mirror_pid"),
                    raw.get("os", config.DEFAULT_OS))


def save(state: LabState, path: Path = config.STATE_FILE) -> None:
    """Write the state file atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1) + "\n")
    os.replace(tmp, path)
