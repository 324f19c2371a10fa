"""The Vagrantfile, run by the real vagrant binary: valid in both topologies, VMs as documented.

`standin-dump` (tests/vagrant/standin_provider.rb, a test double) prints what the
Vagrantfile configured for each machine; the inventory's layout, computed in
Python from the same vagrant/topology.yaml and environment, must agree with it.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.vagrant.conftest import OVERRIDES, VagrantRuns

ONE_PLUS_FOUR = {
    "k8s-cp0": "192.168.56.10",
    "k8s-worker0": "192.168.56.20",
    "k8s-worker1": "192.168.56.21",
    "k8s-worker2": "192.168.56.22",
    "k8s-worker3": "192.168.56.23",
}
THREE_PLUS_THREE = [f"k8s-master-node{i}" for i in range(3)] + [f"k8s-worker-node{i}" for i in range(3)]


@pytest.mark.parametrize("topology", ["1+4", "3+3"])
def test_validate_ignore_provider(vagrant_runs: VagrantRuns, topology: str) -> None:
    run = vagrant_runs.get(f"validate-{topology}")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Vagrantfile validated successfully." in run.stdout
    names = ONE_PLUS_FOUR if topology == "1+4" else THREE_PLUS_THREE
    for name in names:
        assert f"==> {name}: Ignoring provider config for validation..." in run.stdout


def private_ip(machine: dict[str, Any]) -> str:
    """The machine's one private-network address."""
    private = [n["options"] for n in machine["networks"] if n["type"] == "private_network"]
    assert len(private) == 1, machine["networks"]
    return str(private[0]["ip"])


def test_default_is_1_plus_4_with_private_addresses(vagrant_runs: VagrantRuns) -> None:
    run = vagrant_runs.get("dump-default")
    assert run.returncode == 0, run.stderr
    machines = run.json()
    assert {m["name"]: private_ip(m) for m in machines} == ONE_PLUS_FOUR
    for machine in machines:
        assert machine["hostname"] == machine["name"]
        assert [n["options"]["netmask"] for n in machine["networks"] if n["type"] == "private_network"] == ["255.255.255.0"]


def test_box_resources_and_no_provisioner(vagrant_runs: VagrantRuns) -> None:
    for machine in vagrant_runs.get("dump-default").json():
        assert machine["box"] == "debian/bookworm64"
        assert machine["provisioners"] == [], "pyinfra does the cluster work, not a Vagrant provisioner"
        assert {"guestpath": "/vagrant", "disabled": True} in machine["synced_folders"]
        control_plane = machine["name"].startswith("k8s-cp")
        expected = {"cpus": 2, "memory": 2048} if control_plane else {"cpus": 1, "memory": 1536}
        assert {k: machine["virtualbox"][k] for k in ("cpus", "memory")} == expected
        if machine["libvirt"] is not None:  # only when the vagrant-libvirt plugin is installed
            assert machine["libvirt"] == expected


def test_remembered_topology_and_overrides(vagrant_runs: VagrantRuns) -> None:
    """TOPOLOGY unset but a 3+3 VM exists: 3+3, on the overridden network, with overridden sizes."""
    machines = vagrant_runs.get("dump-remembered").json()
    assert [m["name"] for m in machines] == THREE_PLUS_THREE
    assert [private_ip(m) for m in machines] == [f"10.20.30.{n}" for n in range(220, 226)]
    sizes = {m["name"]: (m["virtualbox"]["cpus"], m["virtualbox"]["memory"]) for m in machines}
    assert sizes["k8s-master-node0"] == (2, 4096) and sizes["k8s-worker-node2"] == (2, 1536)


@pytest.mark.parametrize("key", ["dump-default", "dump-remembered"])
def test_inventory_layout_agrees_with_vagrantfile(vagrant_runs: VagrantRuns, inventory: ModuleType, key: str) -> None:
    """Same names, roles and addresses on both sides, for the same environment."""
    machines = vagrant_runs.get(key).json()
    env = {k: v for k, v in vagrant_runs.envs[key].items() if k in (*OVERRIDES, "TOPOLOGY", "VAGRANT_DOTFILE_PATH")}
    lab = inventory.layout(env)
    assert [(n.name, n.ip) for n in lab.nodes] == [(m["name"], private_ip(m)) for m in machines]
    cp_sizes = {(m["virtualbox"]["cpus"], m["virtualbox"]["memory"]) for m in machines if any(
        n.name == m["name"] and n.group == "control_plane" for n in lab.nodes)}
    assert all(cpus >= 2 and memory >= 1700 for cpus, memory in cp_sizes), "kubeadm preflight minimums"
