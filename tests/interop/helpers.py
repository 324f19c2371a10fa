"""Shared helpers of the interop tests: the real `ansible-inventory`, small file trees, model summaries."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from deploys import model
from interop import kubespray_release

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


def ansible_inventory_command() -> str:
    """`ansible-inventory` of the interpreter running the tests (ansible-core from PyPI), else from PATH."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    found = str(beside) if beside.exists() else shutil.which("ansible-inventory")
    assert found, "ansible-inventory not found: pip install 'ansible-core>=2.16,<2.21' (the test extra)"
    return found


def ansible_list(path: Path, workdir: Path) -> dict[str, Any]:
    """`ansible-inventory -i PATH --list`, failing on anything Ansible cannot parse."""
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(workdir / ".ansible"),
        "ANSIBLE_LOCAL_TEMP": str(workdir / ".ansible" / "tmp"),
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "true",
        "ANSIBLE_NOCOLOR": "1",
    }
    result = subprocess.run(
        [ansible_inventory_command(), "-i", str(path), "--list"],
        capture_output=True, text=True, env=env, cwd=workdir, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"ansible-inventory failed:\n{result.stderr}"
    return json.loads(result.stdout)


def group_hosts(listing: dict[str, Any], group: str) -> list[str]:
    """A group's own hosts in an `ansible-inventory --list` answer."""
    return list(listing.get(group, {}).get("hosts", []))


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write {relative path: text} under ROOT; returns ROOT."""
    for relative, text in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


def summary(cluster: model.Cluster) -> dict[str, Any]:
    """Everything of a cluster model but its generated secrets (random until stored)."""
    data = dataclasses.asdict(cluster)
    data.pop("secrets")
    return data


def expanded_groups(listing: dict[str, Any]) -> dict[str, list[str]]:
    """Each group's hosts, children included, from an `ansible-inventory --list` answer."""

    def members(group: str) -> list[str]:
        body = listing.get(group, {})
        found = list(body.get("hosts", []))
        for child in body.get("children", []):
            found += [h for h in members(child) if h not in found]
        return found

    return {group: members(group) for group in listing if group != "_meta"}


def kubespray_failures(listing: dict[str, Any]) -> list[str]:
    """What kubespray v2.31.0's inventory checks stop on, for what real Ansible read."""
    hostvars = listing["_meta"]["hostvars"]
    groups = expanded_groups(listing)
    everyone = groups.get("all", [])
    hostvars = {host: hostvars.get(host, {}) for host in everyone or hostvars}
    return kubespray_release.check_inventory(hostvars, groups)


def kubespray_accepts(directory: Path, workdir: Path) -> dict[str, Any]:
    """`ansible-inventory --list` reads DIRECTORY and kubespray's own checks pass on what it read; the listing."""
    listing = ansible_list(directory, workdir)
    assert kubespray_failures(listing) == []
    return listing
