"""The admin kubeconfig, fetched to the operator's machine."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops, schema
from deploys.facts import Owned
from deploys.schema import Key
from deploys.model import Cluster

KEYS: dict[str, Key] = {}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # reads the control plane's admin.conf (control_plane owns it)


@deploy("Admin kubeconfig", data_defaults=DEFAULTS)
def fetch(cluster: Cluster) -> None:
    """Ensure the operator has the admin kubeconfig (0600), its server the control-plane endpoint."""
    node = cluster.node(host.name)
    ops.on(
        node.name == cluster.first_control_plane.name,
        ops.fetch_private,
        name=f"Admin kubeconfig -> {cluster.kubeconfig_path}",
        src="/etc/kubernetes/admin.conf",
        dest=cluster.kubeconfig_path,
    )


DEPLOY = fetch  # run by deploys/cluster.py, in components.COMPONENTS order
