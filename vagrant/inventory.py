"""Inventory groups of the Vagrant lab (used by inventories/vagrant.py; docs/vagrant.md).

Machines come from `vagrant status --machine-readable`, SSH settings (user vagrant,
with sudo) from `vagrant ssh-config`, both run in the repository. Roles and each
node's `node_ip`, its private-network address, come from vagrant/topology.yaml,
the file the Vagrantfile builds the VMs from (same environment overrides, see
vagrant/topology.rb): kubelet, kubeadm, etcd and Calico never see the NAT address.

Importing this module runs nothing: `groups()` asks `vagrant` (through a runner, which
the tests replace with recorded output). Static data: group_data/vagrant.py.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyinfra.api.exceptions import InventoryError

_REPO = Path(__file__).resolve().parent.parent
_SPEC_FILE = _REPO / "vagrant" / "topology.yaml"
_GROUPS = {"control_plane": "control_plane", "workers": "workers"}
_SSH_KEYS = {
    "hostname": ("ssh_hostname", str),
    "port": ("ssh_port", int),
    "user": ("ssh_user", str),
    "identityfile": ("ssh_key", str),
    "stricthostkeychecking": ("ssh_strict_host_key_checking", str),
    "userknownhostsfile": ("ssh_known_hosts_file", str),
}

Runner = Callable[[Sequence[str]], str]
Host = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class LabNode:
    """One VM of the topology: name, inventory group and private-network address."""

    name: str
    group: str
    ip: str


@dataclass(frozen=True)
class Layout:
    """The topology the Vagrantfile builds in this environment."""

    topology: str
    network: ipaddress.IPv4Network
    vip: str | None
    nodes: tuple[LabNode, ...]


def load_spec(path: Path = _SPEC_FILE) -> dict[str, Any]:
    """vagrant/topology.yaml, parsed."""
    return yaml.safe_load(path.read_text())


def created_machines(env: Mapping[str, str], root: Path = _REPO) -> set[str]:
    """Machines Vagrant has created here: those with a .vagrant/machines/NAME/PROVIDER/id file."""
    dotfile = Path(os.path.expanduser(env.get("VAGRANT_DOTFILE_PATH", "").strip() or ".vagrant"))
    machines = (root / dotfile) / "machines"
    return {path.parent.parent.name for path in machines.glob("*/*/id")}


def machine_names(spec: Mapping[str, Any], topology: str) -> list[str]:
    """The machine names of TOPOLOGY, control planes first."""
    nodes = spec["topologies"][topology]
    return [name for group in _GROUPS for name in nodes[group]]


def choose_topology(spec: Mapping[str, Any], env: Mapping[str, str], created: set[str]) -> str:
    """TOPOLOGY if set, else the topology whose machines exist, else the default (as the Vagrantfile)."""
    known = list(spec["topologies"])
    explicit = env.get("TOPOLOGY", "").strip()
    if explicit:
        if explicit not in known:
            raise InventoryError(f"TOPOLOGY={explicit} is unknown; expected one of {', '.join(known)}")
        return explicit
    existing = [t for t in known if created & set(machine_names(spec, t))]
    if len(existing) > 1:
        raise InventoryError(f"VMs of several topologies exist ({', '.join(existing)}): set TOPOLOGY to choose one")
    return existing[0] if existing else str(spec["default"])


def address(network: ipaddress.IPv4Network, host_number: int) -> str:
    """Host number N of NETWORK (neither its network nor its broadcast address)."""
    if not 0 < host_number < network.num_addresses - 1:
        raise InventoryError(f"host number {host_number} does not fit {network}")
    return str(network[host_number])


def private_network(text: str) -> ipaddress.IPv4Network:
    """The private network from topology.yaml or VAGRANT_LAB_NETWORK."""
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise InventoryError(f"VAGRANT_LAB_NETWORK={text}: not an IPv4 network in CIDR form ({exc})") from None


def layout(env: Mapping[str, str] = os.environ, root: Path = _REPO, spec: Mapping[str, Any] | None = None) -> Layout:
    """Topology, network, VIP and nodes for this environment, by the Vagrantfile's rules."""
    spec = spec or load_spec()
    name = choose_topology(spec, env, created_machines(env, root))
    topo = spec["topologies"][name]
    network = private_network(env.get("VAGRANT_LAB_NETWORK", "").strip() or topo["network"])
    nodes = tuple(
        LabNode(machine, group, address(network, number))
        for group in _GROUPS
        for machine, number in topo[group].items()
    )
    vip = address(network, topo["vip"]) if topo.get("vip") else None
    return Layout(name, network, vip, nodes)


def parse_status(text: str) -> dict[str, str]:
    """`vagrant status --machine-readable` output -> machine name: state id, in Vagrant's order."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(",", 3)
        if len(parts) == 4 and parts[1] and parts[2] == "state":
            states[parts[1]] = parts[3]
    return states


def parse_ssh_config(text: str) -> dict[str, dict[str, str]]:
    """`vagrant ssh-config` output -> host alias: {lower-case option: value} (first value wins)."""
    hosts: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        key, value = key.lower(), value.strip()
        if len(value) > 1 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if key == "host":
            current = hosts.setdefault(value, {})
        elif current is not None:
            current.setdefault(key, value)
    return hosts


def ssh_data(name: str, options: Mapping[str, str]) -> dict[str, Any]:
    """pyinfra SSH data for one machine from its ssh-config options."""
    if "proxycommand" in options:
        raise InventoryError(f"vagrant ssh-config {name}: ProxyCommand is not supported by this inventory")
    if "hostname" not in options:
        raise InventoryError(f"vagrant ssh-config {name}: no HostName")
    data: dict[str, Any] = {}
    for option, (key, cast) in _SSH_KEYS.items():
        if option in options:
            data[key] = cast(options[option])
    return data


def vagrant_runner(env: Mapping[str, str] = os.environ) -> Runner:
    """A runner of the vagrant binary, in the repository, with ENV."""

    def run(args: Sequence[str]) -> str:
        """`vagrant ARGS`: its stdout, or an InventoryError saying what failed."""
        command = ["vagrant", *args]
        try:
            done = subprocess.run(
                command, cwd=_REPO, env={**env, "VAGRANT_CWD": str(_REPO)},
                capture_output=True, text=True, check=False, timeout=300,
            )
        except FileNotFoundError:
            raise InventoryError("inventories/vagrant.py: `vagrant` not found; install Vagrant (docs/vagrant.md)") from None
        if done.returncode != 0:
            detail = _vagrant_error(done.stdout) or done.stderr.strip()[-800:]
            raise InventoryError(f"`{shlex.join(command)}` failed (exit {done.returncode}): {detail}")
        return done.stdout

    return run


def _vagrant_error(stdout: str) -> str:
    """The message of a machine-readable `error-exit` line, unescaped."""
    for line in stdout.splitlines():
        parts = line.split(",", 4)
        if len(parts) == 5 and parts[2] == "error-exit":
            return parts[4].replace("%!(VAGRANT_COMMA)", ",").replace("\\n", "\n").strip()
    return ""


def groups(
    runner: Runner | None = None, env: Mapping[str, str] = os.environ, root: Path = _REPO
) -> dict[str, list[Host]]:
    """Groups `control_plane` and `workers` of the running VMs, with SSH data and node IPs.

    RUNNER answers `vagrant ARGS`; by default the vagrant binary, run in the repository with ENV.
    """
    runner = runner if runner is not None else vagrant_runner(env)
    lab = layout(env, root)
    states = parse_status(runner(["status", "--machine-readable"]))
    wanted = [node.name for node in lab.nodes]
    unknown = [name for name in states if name not in wanted]
    if unknown:
        raise InventoryError(
            f"vagrant lists machines {', '.join(unknown)} that topology {lab.topology} of vagrant/topology.yaml "
            "does not have; the Vagrantfile and the inventory disagree"
        )
    down = [f"{name} ({states.get(name, 'not listed')})" for name in wanted if states.get(name) != "running"]
    if down:
        raise InventoryError(
            f"Vagrant lab {lab.topology}: not running: {', '.join(down)}; run `make vagrant-up` "
            f"(TOPOLOGY={lab.topology}) first"
        )
    ssh = parse_ssh_config(runner(["ssh-config", *wanted]))
    result: dict[str, list[Host]] = {group: [] for group in _GROUPS.values()}
    for node in lab.nodes:
        if node.name not in ssh:
            raise InventoryError(f"`vagrant ssh-config` printed nothing for {node.name}")
        data = {**ssh_data(node.name, ssh[node.name]), **cluster_data(lab), "_sudo": True, "node_ip": node.ip}
        result[_GROUPS[node.group]].append((node.name, data))
    return result


def cluster_data(lab: Layout) -> dict[str, Any]:
    """Cluster-wide data that depends on the topology: node network and, for 3 control planes, the VIP."""
    data: dict[str, Any] = {"node_network": str(lab.network)}
    if lab.vip:
        data["vip"] = lab.vip
    return data
