"""The cluster to verify: the deploy's own inventory and model, and a testinfra host per node."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import testinfra
from pyinfra.api import Inventory

from deploys import components, model

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Target:
    """One node of the cluster and how to reach it over SSH (paramiko)."""

    node: model.Node
    data: dict[str, Any]

    @cached_property
    def host(self) -> Any:
        """A testinfra host (paramiko backend) with the inventory's SSH settings."""
        address = self.data.get("ssh_hostname") or self.node.name
        user = self.data.get("ssh_user")
        port = self.data.get("ssh_port")
        spec = f"paramiko://{user + '@' if user else ''}{address}{':' + str(port) if port else ''}"
        kwargs: dict[str, Any] = {}
        if self.data.get("ssh_config_file"):
            kwargs["ssh_config"] = str(self.data["ssh_config_file"])
        if self.data.get("ssh_key"):
            kwargs["ssh_identity_file"] = str(Path(self.data["ssh_key"]).expanduser())
        return testinfra.get_host(spec, sudo=bool(self.data.get("_sudo")), **kwargs)

    def run(self, command: str) -> Any:
        return self.host.run(command)

    @cached_property
    def reachable(self) -> bool:
        """Whether the node answers over SSH at all (a powered-off node does not)."""
        try:
            return self.host.run("true").rc == 0
        except Exception:  # paramiko/socket errors: the node is down or unreachable
            return False


@dataclass
class Cluster:
    """The model plus a target per node, in inventory order."""

    model: model.Cluster
    targets: dict[str, Target]

    @property
    def first(self) -> Target:
        """The first control plane that answers (the API must survive losing any one)."""
        for node in self.model.control_planes:
            if self.targets[node.name].reachable:
                return self.targets[node.name]
        raise AssertionError("no control plane answers over SSH")

    def kubectl(self, args: str) -> Any:
        """Run kubectl with the admin kubeconfig on a control plane that answers."""
        return self.first.run(f"kubectl --kubeconfig /etc/kubernetes/admin.conf {args}")

    @cached_property
    def stand_ins(self) -> bool:
        """Whether the Kubernetes binaries are the lab's labelled test doubles (no real control plane)."""
        out = self.first.run("dpkg-query -W -f='${Description}' kubeadm").stdout.lower()
        return "test double" in out or "stand-in" in out


_DUMP = """
import json, sys
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory
with ctx_state.use(State()):
    inventory = make_inventory(sys.argv[1], cwd=sys.argv[2])
hosts = {h.name: {k: v for k, v in h.data.dict().items() if isinstance(v, (str, int, float, bool, type(None)))}
         for h in inventory}
groups = {g: [h.name for h in inventory.get_group(g)] for g in ("control_plane", "workers")
          if g in inventory.groups}
print(json.dumps({"hosts": hosts, "groups": groups}))
"""


def load(inventory_file: str) -> Cluster:
    """Load an inventory file with its group data (pyinfra's loader) and build the model.

    pyinfra's CLI loader monkey-patches the process for gevent, which pytest-xdist's
    workers cannot live with: it runs in a child process that hands back plain data.
    """
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", _DUMP, str(Path(inventory_file).resolve()), str(REPO)],
        capture_output=True, text=True, cwd=REPO, check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"cannot load {inventory_file}: {result.stderr.strip()[-2000:]}")
    loaded = json.loads(result.stdout)
    hosts = loaded["hosts"]
    inventory = Inventory(
        (list(hosts.items()), {}),
        **{group: ([(n, {}) for n in names], {}) for group, names in loaded["groups"].items()},
    )
    cluster = model.build(inventory, components.defaults(), write_secrets=False)
    targets = {node.name: Target(node, hosts[node.name]) for node in cluster.nodes}
    return Cluster(cluster, targets)
