"""Inventory groups built from the lab's state (used by inventories/lab.py)."""

from __future__ import annotations

import os
from typing import Any

from deploys import speed
from lab import config
from lab.state import LabState, load

# pyinfra reads the inventory file before group_data/all.py and builds a first Inventory from it,
# reading the installed connectors' entry points once per host (~5 ms each): cache them from here.
speed.install()

HostEntry = tuple[str, dict[str, Any]]
# Day-2 drills: nodes left out of the inventory (removed from the cluster: deploys/remove.py), and nodes
# listed last in their group (a control plane added back after the others), comma-separated names.
EXCLUDE_ENV = "KPL_LAB_INVENTORY_EXCLUDE"
LAST_ENV = "KPL_LAB_INVENTORY_LAST"


class NoLabError(RuntimeError):
    """Raised when the inventory is loaded but no lab is up."""


def host_data(lab: LabState, node_ip: str) -> dict[str, Any]:
    """Connection and cluster data of one lab host."""
    data: dict[str, Any] = {
        "ssh_hostname": node_ip,
        "node_ip": node_ip,
        "ssh_user": "root",
        "ssh_key": str(config.SSH_KEY),
        "ssh_config_file": str(config.SSH_CONFIG),
        "ssh_known_hosts_file": str(config.KNOWN_HOSTS),
        "ssh_strict_host_key_checking": "yes",
    }
    if lab.control_planes > 1:
        data["vip"] = config.VIP
    return data


def groups(lab: LabState | None = None) -> dict[str, list[HostEntry]]:
    """{'control_plane': [...], 'workers': [...]} as pyinfra inventory groups."""
    lab = lab if lab is not None else load()
    if not lab.nodes:
        raise NoLabError(f"no lab is up ({config.STATE_FILE} is missing or empty): run `python -m lab up` first")
    out: dict[str, list[HostEntry]] = {"control_plane": [], "workers": []}
    excluded = set(filter(None, os.environ.get(EXCLUDE_ENV, "").split(",")))
    last = list(filter(None, os.environ.get(LAST_ENV, "").split(",")))
    for node in lab.nodes:
        if node.name not in excluded:
            out[node.role].append((node.name, host_data(lab, node.ip)))
    for role, entries in out.items():
        out[role] = sorted(entries, key=lambda entry: last.index(entry[0]) + 1 if entry[0] in last else 0)
    return out
