"""Fast tests of the lab's state handling, inventory building and ssh config (no root, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import config, procs, sshconf, state
from lab.inventory import NoLabError, groups


def test_parse_topology() -> None:
    assert state.parse_topology("3+3") == (3, 3)
    assert state.parse_topology(" 1 + 4 ") == (1, 4)
    for bad in ("2+2", "3", "a+b", "1+99"):
        with pytest.raises(ValueError):
            state.parse_topology(bad)


def test_plan_puts_control_planes_first() -> None:
    nodes = state.plan(3, 3)
    assert [n.name for n in nodes] == ["lab-cp1", "lab-cp2", "lab-cp3", "lab-w1", "lab-w2", "lab-w3"]
    assert [n.ip for n in nodes] == [f"10.77.0.{i}" for i in range(11, 17)]
    assert {n.role for n in nodes[:3]} == {"control_plane"} and {n.role for n in nodes[3:]} == {"workers"}
    assert nodes[0].netns == "kpl-lab-cp1"


def test_growing_workers_keeps_existing_addresses() -> None:
    before = {n.name: n.ip for n in state.plan(1, 4)}
    after = {n.name: n.ip for n in state.plan(1, 5)}
    assert {k: after[k] for k in before} == before
    assert after["lab-w5"] == "10.77.0.16"


def test_state_round_trip(tmp_path: Path) -> None:
    lab = state.LabState(1, 1, state.plan(1, 1), mirror_pid=42)
    lab.nodes[0].pid = 1234
    path = tmp_path / "state.json"
    state.save(lab, path)
    again = state.load(path)
    assert again == lab
    assert again.node("cp1").pid == 1234 and again.node("10.77.0.12").name == "lab-w1"
    with pytest.raises(KeyError):
        again.node("lab-w9")


def test_missing_state_is_an_empty_lab(tmp_path: Path) -> None:
    assert state.load(tmp_path / "absent.json").nodes == []


def test_inventory_groups_and_vip_only_for_ha() -> None:
    one = groups(state.LabState(1, 2, state.plan(1, 2)))
    assert [h for h, _ in one["control_plane"]] == ["lab-cp1"]
    assert [h for h, _ in one["workers"]] == ["lab-w1", "lab-w2"]
    data = dict(one["workers"])["lab-w2"]
    assert data["node_ip"] == data["ssh_hostname"] == "10.77.0.13"
    assert data["ssh_config_file"] == str(config.SSH_CONFIG) and "vip" not in data
    ha = groups(state.LabState(3, 3, state.plan(3, 3)))
    assert all(d["vip"] == config.VIP for _, d in ha["control_plane"] + ha["workers"])


def test_inventory_without_lab_says_what_to_do() -> None:
    with pytest.raises(NoLabError, match="python -m lab up"):
        groups(state.LabState())


def test_ssh_config_goes_through_the_lab_namespace() -> None:
    text = sshconf.ssh_config_text(state.LabState(1, 1, state.plan(1, 1)))
    assert "Host lab-cp1\n    HostName 10.77.0.11" in text
    assert f"ProxyCommand ip netns exec {config.NET_NS} nc %h %p" in text
    assert "StrictHostKeyChecking yes" in text


def test_paramiko_config_parsing_matches() -> None:
    import paramiko

    cfg = paramiko.SSHConfig.from_text(sshconf.ssh_config_text(state.LabState(1, 1, state.plan(1, 1))))
    found = cfg.lookup("lab-w1")
    assert found["hostname"] == "10.77.0.12" and found["user"] == "root"
    assert found["proxycommand"] == f"ip netns exec {config.NET_NS} nc 10.77.0.12 22"


def test_pid_checks_refuse_foreign_processes() -> None:
    import os

    assert not procs.is_nspawn_of(os.getpid(), "lab-cp1")
    assert not procs.is_nspawn_of(None, "lab-cp1")
    assert not procs.is_mirror(os.getpid(), str(config.REPO_DIR))
    assert procs.cmdline(os.getpid())
