"""Plan and run the cluster deploy against `@fake` hosts: no host is contacted.

`fake_inventory` turns groups of (name, data) into an Inventory of `@fake/NAME`
hosts whose commands answer from canned responses; `run` builds the model, adds
`deploys.cluster.build` for every host and executes it with pyinfra's API;
`Plan` tells which operations ran (changed something) on which hosts, in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all
from pyinfra.api.deploy import add_deploy
from pyinfra.api.operations import run_ops
from pyinfra.context import ctx_state

from deploys import cluster as entry
from deploys import components, context, model

REPO = Path(__file__).resolve().parent.parent
CA_HASH = "sha256:" + "a" * 64
CERT_KEY = "b" * 64


def fresh_host(interface: str = "eth0") -> dict[Any, Any]:
    """Canned answers of a fresh Debian host (swap on, nothing installed)."""
    return {
        "/proc/swaps": ["swap=1", "fstab_swap=1", f"iface={interface}"],
        "token create": [f"kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash {CA_HASH}"],
        "upload-certs": ["[upload-certs] Using certificate key:", CERT_KEY],
    }


def fake_inventory(
    control_planes: Sequence[tuple[str, dict[str, Any]]],
    workers: Sequence[tuple[str, dict[str, Any]]],
    cluster_data: Mapping[str, Any],
    responses: Mapping[Any, Any] | None = None,
) -> Inventory:
    """An inventory of @fake hosts; each host's data gets canned responses and no delay."""
    fake = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": dict(responses or fresh_host())}

    def named(hosts: Sequence[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
        return [(f"@fake/{name}", {"node_name": name, **fake, **data}) for name, data in hosts]

    cps, ws = named(control_planes), named(workers)
    return Inventory(
        (cps + ws, dict(cluster_data)),
        control_plane=([h for h, _ in cps], {}),
        workers=([h for h, _ in ws], {}),
    )


def from_inventory_file(path: Path, responses: Mapping[Any, Any] | None = None, **overrides: Any) -> Inventory:
    """An example inventory file with its group data, every host turned into a @fake host."""
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State()):
        real = make_inventory(str(path), cwd=str(REPO))
    groups: dict[str, list[tuple[str, dict[str, Any]]]] = {model.CONTROL_PLANE_GROUP: [], model.WORKER_GROUP: []}
    for group in groups:
        for host in real.get_group(group, []):
            data = dict(host.data.dict())
            data.setdefault("node_ip", data.get("ssh_hostname") or host.name)
            data.pop("ssh_hostname", None)
            groups[group].append((host.name, data))
    return fake_inventory(groups[model.CONTROL_PLANE_GROUP], groups[model.WORKER_GROUP], overrides, responses)


@dataclass
class Plan:
    """Which operations changed something on which hosts, in execution order."""

    state: State
    cluster: model.Cluster
    steps: list[tuple[str, list[str]]]  # (operation name, hosts it changed)
    calls: dict[str, list[str]]  # host name -> every command its connector ran, facts and credentials included

    def hosts_of(self, name_part: str) -> list[str]:
        """Hosts on which the (single) operation whose name contains NAME_PART ran."""
        matches = [hosts for name, hosts in self.steps if name_part in name]
        assert len(matches) == 1, f"{name_part!r} matches {len(matches)} operations"
        return matches[0]

    def index(self, name_part: str) -> int:
        return next(i for i, (name, _) in enumerate(self.steps) if name_part in name)

    def commands(self, host_name: str) -> list[str]:
        """Every shell command executed on a host, in order (secrets masked)."""
        host = self.state.inventory.get_host(f"@fake/{host_name}")
        result = []
        for op_hash in self.state.get_op_order():
            data = self.state.ops[host].get(op_hash)
            for command in (data.operation_meta._commands or []) if data else []:
                result.append(str(command))
        return result

    @property
    def changed(self) -> list[tuple[str, list[str]]]:
        return [(name, hosts) for name, hosts in self.steps if hosts]


def run(
    inventory: Inventory, check_for_changes: bool = False, entry_build: Any = None, limit: Sequence[str] | None = None
) -> Plan:
    """Build the model and execute the deploy (default: deploys/cluster.py's) against the @fake inventory.

    LIMIT (host names without "@fake/") is pyinfra's --limit; the check before connecting runs
    as the CLI runs it (context.before_connect), for an entry file that joins nodes.
    """
    from pyinfra.connectors.fake import FakeConnector

    initial = None if limit is None else [inventory.get_host(f"@fake/{name}") for name in limit]
    state = State(inventory, Config(), check_for_changes=check_for_changes, initial_limit=initial)
    ctx_state.set(state)
    if limit is not None:
        context.before_connect(state, components.defaults, joining=True)
    calls: dict[str, list[str]] = {}
    original = FakeConnector.run_shell_command

    def recording(self: FakeConnector, command: Any, *args: Any, **kwargs: Any) -> Any:
        calls.setdefault(self.host.name.split("/", 1)[-1], []).append(
            command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
        )
        return original(self, command, *args, **kwargs)

    FakeConnector.run_shell_command = recording  # type: ignore[method-assign]
    try:
        connect_all(state)
        cluster = context.of(state).model = model.build(inventory, components.defaults())
        add_deploy(state, entry_build or entry.build, cluster)
        run_ops(state)
    finally:
        FakeConnector.run_shell_command = original  # type: ignore[method-assign]
    steps = []
    for op_hash in state.get_op_order():
        meta = state.op_meta[op_hash]
        hosts = []
        for host in inventory:
            data = state.ops[host].get(op_hash)
            if data and data.operation_meta.executed:
                hosts.append(host.name.split("/", 1)[-1])
        steps.append((sorted(meta.names)[0], hosts))
    return Plan(state, cluster, steps, calls)


def fake_calls(p: Plan, host_name: str) -> list[str]:
    """Every command run on a @fake host, unmasked (facts, credentials and operations)."""
    return p.calls.get(host_name, [])


def first_line(pattern: str, lines: Sequence[str]) -> str | None:
    return next((line for line in lines if re.search(pattern, line)), None)


def uploads(plan: Plan, host_name: str) -> dict[str, bytes]:
    """Every file the run uploaded to a host: remote path -> contents."""
    from pyinfra.api import FileUploadCommand

    host = plan.state.inventory.get_host(f"@fake/{host_name}")
    files: dict[str, bytes] = {}
    for op_hash in plan.state.get_op_order():
        data = plan.state.ops[host].get(op_hash)
        for command in (data.operation_meta._commands or []) if data else []:
            if isinstance(command, FileUploadCommand):
                src = command.src
                if hasattr(src, "getvalue"):
                    value = src.getvalue()
                    files[command.dest] = value.encode() if isinstance(value, str) else value
                else:
                    files[command.dest] = Path(src).read_bytes()
    return files


def converged_host(
    plan: Plan, host_name: str, extra_files: Sequence[str] = (), kubeconfig: bytes = b""
) -> dict[Any, Any]:
    """Canned answers of a host the first run converged, as the node fact sees it.

    What the first run did to the host (packages installed and held, services enabled and
    started, files uploaded or downloaded, kubeadm's own files, stamps), kept only where a
    component declares it owns it (its OWNS: facts.owned()): what the fact does not read, a
    converged host does not show, so a second run would redo it.
    """
    import fnmatch
    import hashlib
    import shlex

    from deploys import facts

    owned = facts.owned()
    cluster = plan.cluster
    node = cluster.node(f"@fake/{host_name}")
    commands = plan.commands(host_name)
    text = "\n".join(commands)

    installed: dict[str, str] = {}
    held: set[str] = set()
    enabled: set[str] = set()
    active: set[str] = set()
    for command in commands:
        for part in command.split(" && "):
            try:
                words = shlex.split(part)
            except ValueError:
                words = part.split()
            last_option = "Dpkg::Options::=--force-confold"
            if "apt-get" in words and "install" in words and last_option in words:
                for spec in words[words.index(last_option) + 1 :]:
                    name, _, version = spec.partition("=")
                    installed[name] = version or "1.0-1"
            if words[:2] == ["apt-mark", "hold"]:
                held.update(words[2:])
            if words[:1] == ["systemctl"] and len(words) == 3:
                if words[1] == "enable":
                    enabled.add(words[2])
                elif words[1] in ("start", "restart"):
                    active.add(words[2])

    made = {path: data for path, data in uploads(plan, host_name).items()}
    made.update({path: b"downloaded" for path in re.findall(r"&& mv \S+[.]part (\S+)", text)})
    made.update({path: b"extra" for path in extra_files})
    made["/etc/kubernetes/kubelet.conf"] = b"kubeadm"  # written by kubeadm init/join
    if node.is_control_plane:
        made["/etc/kubernetes/admin.conf"] = kubeconfig
    created = re.findall(r"(?:^|&& )install -m (\d+) /dev/null (\S+)$", text, re.M)  # ops.file: after its directory
    modes = {path: mode for mode, path in created}
    modes.update({path: mode for mode, path in re.findall(r"(?:^|&& )chmod (\d+) (\S+)$", text, re.M)})
    modes["/etc/kubernetes/kubelet.conf"] = modes["/etc/kubernetes/admin.conf"] = "600"

    def watched(path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, pattern) for pattern in owned.files)

    lines = ["swap=0", "fstab_swap=0", "iface=eth0", "arch=amd64"]
    lines += [f"done={stamp}" for stamp in re.findall(r"touch /var/lib/kubeadm-pyinfra/(\S+)[.]done", text)]
    lines += [f"sysctl {key}={value}" for key, value in facts.SYSCTLS.items()]
    lines += [
        f"package {name} {version} {'hold' if name in held else 'install'} ok installed"
        for name, version in installed.items()
        if name in owned.packages
    ]
    for service in owned.services:
        lines += [
            f"unit Id={service}.service",
            f"unit ActiveState={'active' if service in active else 'inactive'}",
            f"unit UnitFileState={'enabled' if service in enabled else ''}",
            "unit ",
        ]
    files = {path: (modes.get(path, "644"), hashlib.sha1(data).hexdigest()) for path, data in made.items() if watched(path)}
    lines += [f"mode {mode} {path}" for path, (mode, sha) in files.items()]
    lines += [f"sha1 {sha}  {path}" for path, (mode, sha) in files.items()]
    stamps = [c.rsplit("/", 1)[1] for c in commands if c.startswith("touch /etc/kubernetes/addons/")]
    lines += ["applied=" + stamp.removesuffix(".applied") for stamp in stamps]
    return {"/proc/swaps": lines}
