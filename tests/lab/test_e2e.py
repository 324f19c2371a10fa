"""End to end: boot the lab, deploy the cluster into it, re-run, grow it, tear it down (root, minutes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab import config, core, procs, state
from tests.labtools import REQUIRES_LAB, assert_verified, changed, deploy, on

pytestmark = REQUIRES_LAB
ADMIN = "--kubeconfig /etc/kubernetes/admin.conf"


def registered_nodes(first_cp: str) -> set[str]:
    """Node names `kubectl get nodes` lists on a control plane."""
    return set(re.findall(r"^(lab-\S+)", on(first_cp, f"kubectl {ADMIN} get nodes"), re.M))


@pytest.fixture(scope="module", autouse=True)
def clean_lab():  # type: ignore[no-untyped-def]
    """Start from nothing; leave nothing."""
    core.down()
    yield
    assert core.down() == []


@pytest.mark.parametrize(("topology", "os_name"), [("1+4", "debian13"), ("3+3", "debian12")])
def test_cluster_in_lab(topology: str, os_name: str) -> None:
    """One shape on each Debian release the deploy supports: deployed, re-run with 0 changes, verified, grown."""
    core.down()
    core.up(topology, os_name=os_name)
    lab = state.load()
    names = {n.name for n in lab.nodes}
    first_cp = lab.nodes[0].name

    deploy()
    assert changed(deploy()) == 0, "a second deploy must change nothing"
    assert registered_nodes(first_cp) == names
    if lab.control_planes == 3:
        assert registered_nodes("lab-cp3") == names, "every control plane sees the same nodes"
        assert on("lab-w1", "curl -sk https://10.77.0.100:16443/healthz") == "ok"
    installation = on(first_cp, f"kubectl {ADMIN} get installations -o yaml")
    assert "cidr: 10.244.0.0/16" in installation
    assert_verified()  # the whole verification suite, its etcd checks included, on this Debian release

    before = {n.name: n.pid for n in lab.nodes}
    core.up(topology, workers=lab.workers + 1, os_name=os_name)
    grown = state.load()
    new = [n for n in grown.nodes if n.name not in before]
    assert len(new) == 1 and {n.name: n.pid for n in grown.nodes if n.name in before} == before
    out = deploy("--limit", new[0].name)
    assert changed(out) > 0
    assert registered_nodes(first_cp) == names | {new[0].name}
    assert changed(deploy()) == 0, "the other nodes were left as they were"

    assert core.down() == []


def test_down_after_a_lost_state_file() -> None:
    """`down` cleans up from what it finds even when the state file is gone (a crashed `up`)."""
    core.down()
    core.up("1+1")
    pids = [n.pid for n in state.load().nodes]
    config.STATE_FILE.unlink()
    assert core.down() == []
    assert not any(procs.alive(p) for p in pids if p)
    assert not any(line.split()[1].startswith(str(config.STATE_DIR)) for line in Path("/proc/mounts").read_text()
                   .splitlines())
