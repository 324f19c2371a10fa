"""The cluster to verify: the deploy's own inventory and model, and a testinfra host per node."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import testinfra
from pyinfra.api import State
from pyinfra.context import ctx_state

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


def load(inventory_file: str) -> Cluster:
    """Load an inventory file with its group data (pyinfra's loader) and build the model."""
    from pyinfra_cli.inventory import make_inventory

    with ctx_state.use(State()):
        inventory = make_inventory(str(Path(inventory_file).resolve()), cwd=str(REPO))
    cluster = model.build(inventory, components.defaults(), write_secrets=False)
    targets = {
        node.name: Target(node, dict(inventory.get_host(node.name).data.dict())) for node in cluster.nodes
    }
    return Cluster(cluster, targets)
