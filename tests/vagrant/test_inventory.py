"""vagrant/inventory.py (and inventories/vagrant.py): groups, SSH data and node IPs from `vagrant status` / `vagrant ssh-config`.

Recorded output (tests/vagrant/recorded/): written in the exact formats of Vagrant
2.3.4 (status and ssh-config templates, provider state texts), with the addresses
each provider hands out, not captured from live VMs (none can run here): 1+4 on
VirtualBox (SSH through 127.0.0.1 forwarded ports), 3+3 on libvirt (SSH to the
management address 192.168.121.x, a key path with a space). The last test runs
the real vagrant binary with the stand-in provider, so the parser also meets
the real binary's output.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from pyinfra.api import State
from pyinfra.api.exceptions import InventoryError
from pyinfra.context import ctx_state

from tests.vagrant.conftest import INVENTORY, RECORDED, REPO, VagrantRuns, load_inventory, recorded, use_recorded

VB_KEYS = "/home/alice/src/kubeadm-pyinfra/.vagrant/machines"
LV_KEYS = "/home/alice/VM labs/kubeadm-pyinfra/.vagrant/machines"
EXPECTED: dict[str, dict[str, Any]] = {
    "1+4": {
        "env": {},
        "control_plane": {"k8s-cp0": ("192.168.56.10", "127.0.0.1", 2222)},
        "workers": {
            f"k8s-worker{i}": (f"192.168.56.{20 + i}", "127.0.0.1", 2200 + i) for i in range(4)
        },
        "keys": lambda name: f"{VB_KEYS}/{name}/virtualbox/private_key",
        "cluster": {"node_network": "192.168.56.0/24"},
    },
    "3+3": {
        "env": {"TOPOLOGY": "3+3"},
        "control_plane": {
            f"k8s-master-node{i}": (f"192.168.11.{220 + i}", f"192.168.121.{m}", 22) for i, m in enumerate((57, 112, 18))
        },
        "workers": {
            f"k8s-worker-node{i}": (f"192.168.11.{223 + i}", f"192.168.121.{m}", 22) for i, m in enumerate((203, 9, 144))
        },
        "keys": lambda name: f"{LV_KEYS}/{name}/libvirt/private_key",
        "cluster": {"node_network": "192.168.11.0/24", "vip": "192.168.11.230"},
    },
}


@pytest.mark.parametrize("topology", ["1+4", "3+3"])
def test_groups_ssh_data_and_node_ips(monkeypatch: pytest.MonkeyPatch, topology: str) -> None:
    expected = EXPECTED[topology]
    module = load_inventory(monkeypatch, RECORDED / topology, **expected["env"])
    for group in ("control_plane", "workers"):
        hosts = getattr(module, group)
        assert [name for name, _ in hosts] == list(expected[group]), group
        for name, data in hosts:
            node_ip, ssh_host, ssh_port = expected[group][name]
            assert data == {
                "ssh_hostname": ssh_host,
                "ssh_port": ssh_port,
                "ssh_user": "vagrant",
                "ssh_key": expected["keys"](name),
                "ssh_strict_host_key_checking": "no",
                "ssh_known_hosts_file": "/dev/null",
                "_sudo": True,
                "node_ip": node_ip,
                **expected["cluster"],
            }
            assert node_ip != ssh_host and node_ip != "10.0.2.15"


@pytest.mark.parametrize("topology", ["1+4", "3+3"])
def test_pyinfra_loads_it_with_group_data(monkeypatch: pytest.MonkeyPatch, topology: str) -> None:
    """pyinfra's own loader: groups control_plane, workers and vagrant, with group_data/vagrant.py."""
    from pyinfra_cli.inventory import make_inventory

    use_recorded(monkeypatch, RECORDED / topology)
    for key, value in EXPECTED[topology]["env"].items():
        monkeypatch.setenv(key, value)
    with ctx_state.use(State()):
        inventory = make_inventory(str(INVENTORY), cwd=str(REPO))
    expected = EXPECTED[topology]
    assert [h.name for h in inventory.get_group("control_plane")] == list(expected["control_plane"])
    assert [h.name for h in inventory.get_group("workers")] == list(expected["workers"])
    assert {h.name for h in inventory.get_group("vagrant")} == {*expected["control_plane"], *expected["workers"]}
    assert {name for name in inventory.groups if list(inventory.get_group(name))} == {"control_plane", "workers", "vagrant"}
    for host in inventory:
        assert host.data.cluster_name == "vagrant"
        assert host.data.calico_interface == "^eth1$"
        assert host.data._sudo is True


def test_parse_status_machine_readable(inventory: ModuleType) -> None:
    text = (RECORDED / "1+4" / "status.txt").read_text()
    text = text.replace("k8s-worker3,state,running", "k8s-worker3,state,poweroff")
    states = inventory.parse_status(text)
    assert list(states) == ["k8s-cp0", "k8s-worker0", "k8s-worker1", "k8s-worker2", "k8s-worker3"]
    assert states["k8s-worker3"] == "poweroff" and states["k8s-cp0"] == "running"


def test_parse_ssh_config_quotes_and_blocks(inventory: ModuleType) -> None:
    hosts = inventory.parse_ssh_config((RECORDED / "3+3" / "ssh-config.txt").read_text())
    assert next(iter(hosts)) == "k8s-master-node0" and len(hosts) == 6
    assert hosts["k8s-worker-node1"]["hostname"] == "192.168.121.9"
    assert hosts["k8s-worker-node1"]["identityfile"] == f"{LV_KEYS}/k8s-worker-node1/libvirt/private_key"


def recorded_with(tmp_path: Path, topology: str, status: str | None = None, ssh_config: str | None = None) -> Any:
    """A recorded runner over TOPOLOGY's recording, with status/ssh-config replaced if given."""
    for name, text in (("status.txt", status), ("ssh-config.txt", ssh_config)):
        source = (RECORDED / topology / name).read_text()
        (tmp_path / name).write_text(source if text is None else text)
    return tmp_path


def test_machine_not_running_is_an_error(inventory: ModuleType, tmp_path: Path) -> None:
    status = (RECORDED / "1+4" / "status.txt").read_text().replace("k8s-worker3,state,running", "k8s-worker3,state,poweroff")
    runner = recorded(recorded_with(tmp_path, "1+4", status=status))
    with pytest.raises(InventoryError, match=r"not running: k8s-worker3 \(poweroff\).*make vagrant-up"):
        inventory.groups(runner, {})


def test_other_topology_running_is_an_error(inventory: ModuleType) -> None:
    """3+3 VMs listed while the layout is 1+4: the Vagrantfile and topology.yaml would disagree."""
    with pytest.raises(InventoryError, match="does not have"):
        inventory.groups(recorded(RECORDED / "3+3"), {"TOPOLOGY": "1+4"})


def test_missing_ssh_config_is_an_error(inventory: ModuleType, tmp_path: Path) -> None:
    text = (RECORDED / "1+4" / "ssh-config.txt").read_text()
    without_worker2 = text.split("Host k8s-worker2")[0] + "Host k8s-worker3" + text.split("Host k8s-worker3")[1]
    runner = recorded(recorded_with(tmp_path, "1+4", ssh_config=without_worker2))
    with pytest.raises(InventoryError, match="printed nothing for k8s-worker2"):
        inventory.groups(runner, {})


def test_ssh_config_asked_for_the_lab_machines_only(inventory: ModuleType) -> None:
    calls: list[list[str]] = []
    replay = recorded(RECORDED / "1+4")

    def runner(args: list[str]) -> str:
        calls.append(list(args))
        return replay(args)

    inventory.groups(runner, {})
    assert calls == [
        ["status", "--machine-readable"],
        ["ssh-config", "k8s-cp0", "k8s-worker0", "k8s-worker1", "k8s-worker2", "k8s-worker3"],
    ]


def test_vagrant_failure_is_reported(inventory: ModuleType, tmp_path: Path) -> None:
    fake = tmp_path / "vagrant"
    fake.write_text(
        "#!/bin/sh\necho '1764248400,,error-exit,Vagrant::Errors::NoEnvironmentError,"
        "A Vagrant environment or target machine is required to run this\\ncommand.'\nexit 1\n"
    )
    fake.chmod(0o755)
    runner = inventory.vagrant_runner({"PATH": f"{tmp_path}:/usr/bin:/bin"})
    with pytest.raises(InventoryError, match=r"`vagrant status --machine-readable` failed \(exit 1\): A Vagrant environment"):
        runner(["status", "--machine-readable"])
    with pytest.raises(InventoryError, match="`vagrant` not found"):
        inventory.vagrant_runner({"PATH": str(tmp_path / "nowhere")})(["status"])


@pytest.mark.parametrize(
    ("env", "created", "topology"),
    [
        ({}, set(), "1+4"),
        ({"TOPOLOGY": "3+3"}, set(), "3+3"),
        ({}, {"k8s-worker-node2"}, "3+3"),
        ({"TOPOLOGY": "1+4"}, {"k8s-master-node0"}, "1+4"),
    ],
)
def test_topology_choice(inventory: ModuleType, env: dict[str, str], created: set[str], topology: str) -> None:
    assert inventory.choose_topology(inventory.load_spec(), env, created) == topology


def test_topology_errors(inventory: ModuleType) -> None:
    spec = inventory.load_spec()
    with pytest.raises(InventoryError, match="TOPOLOGY=2\\+2 is unknown"):
        inventory.choose_topology(spec, {"TOPOLOGY": "2+2"}, set())
    with pytest.raises(InventoryError, match="several topologies"):
        inventory.choose_topology(spec, {}, {"k8s-cp0", "k8s-master-node0"})
    with pytest.raises(InventoryError, match="not an IPv4 network"):
        inventory.layout({"VAGRANT_LAB_NETWORK": "10.0.0.1/24"})
    with pytest.raises(InventoryError, match="does not fit"):
        inventory.layout({"VAGRANT_LAB_NETWORK": "10.0.0.0/28"})


def test_created_machines_from_dotfile(inventory: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "machines" / "k8s-cp0" / "virtualbox").mkdir(parents=True)
    (tmp_path / "machines" / "k8s-cp0" / "virtualbox" / "id").write_text("x")
    (tmp_path / "machines" / "k8s-worker0" / "virtualbox").mkdir(parents=True)  # destroyed: no id
    assert inventory.created_machines({"VAGRANT_DOTFILE_PATH": str(tmp_path)}) == {"k8s-cp0"}


def test_real_vagrant_output_with_standin_provider(vagrant_runs: VagrantRuns) -> None:
    """The real `vagrant status --machine-readable` and `ssh-config` formats, parsed by the real runner."""
    result = vagrant_runs.get("e2e")
    groups, dotfile = result["groups"], vagrant_runs.dirs["e2e"]
    names = {"control_plane": ["k8s-cp0"], "workers": [f"k8s-worker{i}" for i in range(4)]}
    assert {group: [name for name, _ in hosts] for group, hosts in groups.items()} == names
    ports = iter([2222, 2200, 2201, 2202, 2203])
    for name, data in groups["control_plane"] + groups["workers"]:
        assert data["ssh_hostname"] == "127.0.0.1" and data["ssh_port"] == next(ports)
        assert data["ssh_user"] == "vagrant" and data["_sudo"] is True
        assert data["ssh_key"] == str(dotfile / "machines" / name / "standin" / "private_key")
        assert data["ssh_strict_host_key_checking"] == "no" and data["ssh_known_hosts_file"] == "/dev/null"
        assert data["node_ip"] == EXPECTED["1+4"]["control_plane" if name == "k8s-cp0" else "workers"][name][0]


def test_importing_the_module_runs_no_vagrant(tmp_path: Path) -> None:
    """vagrant/inventory.py runs `vagrant` only when asked for groups; inventories/vagrant.py asks."""
    import subprocess
    import sys

    marker = tmp_path / "ran"
    fake = tmp_path / "vagrant"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\nexit 1\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", "import vagrant.inventory"], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not marker.exists()
    done = subprocess.run(
        [sys.executable, "-c", "import runpy; runpy.run_path('inventories/vagrant.py')"],
        cwd=REPO, env=env, capture_output=True, text=True,
    )
    assert "failed (exit 1)" in done.stderr and marker.read_text() == "status --machine-readable\n"
