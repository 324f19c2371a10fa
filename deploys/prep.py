"""OS preparation: swap off, kernel modules, Kubernetes sysctls."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops, schema
from deploys.facts import watch
from deploys.schema import Key
from deploys.model import Cluster
from deploys.templates import render

# Kubernetes 1.35+ refuses cgroup v1 hosts (kubelet failCgroupV1, kubeadm preflight SystemVerification).
# True keeps legacy hosts working: failCgroupV1 false and that one preflight error ignored.
KEYS: dict[str, Key] = {"allow_cgroup_v1": Key(False, schema.BOOL)}
DEFAULTS = schema.defaults(KEYS)
# Operating systems this deploy supports ("ID VERSION_ID" of /etc/os-release).
SUPPORTED_OS = ("debian 12", "debian 13", "ubuntu 22.04", "ubuntu 24.04")
MODULES_LOAD = watch("/etc/modules-load.d/kubernetes.conf")
SYSCTL_CONF = watch("/etc/sysctl.d/99-kubernetes.conf")


@deploy("OS preparation", data_defaults=DEFAULTS)
def prepare(cluster: Cluster) -> None:
    """Ensure swap is off, overlay/br_netfilter are present and the sysctls are set and persisted."""
    node = cluster.node(host.name)
    ops.host_supported(
        name="Supported OS with cgroup v2",
        node_ip=node.node_ip,
        supported_os=SUPPORTED_OS,
        allow_cgroup_v1=bool(cluster.setting("allow_cgroup_v1")),
    )
    ops.swap_off(name="Swap off, now and in /etc/fstab", node_ip=node.node_ip)
    ops.file(
        name="Kernel modules listed in modules-load.d",
        node_ip=node.node_ip,
        dest=MODULES_LOAD,
        content=render("prep/modules-load.conf"),
    )
    ops.kernel_modules(name="Kernel modules present (loaded or built in)", node_ip=node.node_ip)
    sysctl_file = ops.file(
        name="Kubernetes sysctls persisted",
        node_ip=node.node_ip,
        dest=SYSCTL_CONF,
        content=render("prep/sysctl.conf"),
    )
    ops.sysctls_applied(
        name="Kubernetes sysctls applied",
        node_ip=node.node_ip,
        config_path=SYSCTL_CONF,
        config=[sysctl_file],
    )
    ops.packages(
        name="Tools to fetch package keys",
        node_ip=node.node_ip,
        wanted={"curl": None, "ca-certificates": None},
    )
