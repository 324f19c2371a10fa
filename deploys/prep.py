"""OS preparation: swap off, kernel modules, Kubernetes sysctls."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import TEMPLATES, ops
from deploys.model import Cluster

DEFAULTS: dict[str, object] = {}


@deploy("OS preparation", data_defaults=DEFAULTS)
def prepare(cluster: Cluster) -> None:
    """Ensure swap is off, overlay/br_netfilter are present and the sysctls are set and persisted."""
    node = cluster.node(host.name)
    ops.swap_off(name="Swap off, now and in /etc/fstab", node_ip=node.node_ip)
    files.put(
        name="Kernel modules listed in modules-load.d",
        src=str(TEMPLATES / "prep" / "modules-load.conf"),
        dest="/etc/modules-load.d/kubernetes.conf",
        mode="644",
    )
    ops.kernel_modules(name="Kernel modules present (loaded or built in)", node_ip=node.node_ip)
    sysctl_file = files.put(
        name="Kubernetes sysctls persisted",
        src=str(TEMPLATES / "prep" / "sysctl.conf"),
        dest="/etc/sysctl.d/99-kubernetes.conf",
        mode="644",
    )
    ops.sysctls_applied(
        name="Kubernetes sysctls applied",
        node_ip=node.node_ip,
        config=[sysctl_file],
    )
    ops.packages(
        name="Tools to fetch package keys",
        node_ip=node.node_ip,
        wanted={"curl": None, "ca-certificates": None},
    )
