"""OS preparation: swap off, kernel modules, Kubernetes sysctls."""

from __future__ import annotations

from pyinfra.api import deploy

from deploys import ops, schema
from deploys.facts import Owned
from deploys.schema import Key
from deploys.model import Cluster
from deploys.templates import render

# Kubernetes 1.35+ refuses cgroup v1 hosts (kubelet failCgroupV1, kubeadm preflight SystemVerification).
# True keeps legacy hosts working: failCgroupV1 false and that one preflight error ignored.
KEYS: dict[str, Key] = {"allow_cgroup_v1": Key(False, schema.BOOL)}
DEFAULTS = schema.defaults(KEYS)
# Operating systems this deploy supports ("ID VERSION_ID" of /etc/os-release).
SUPPORTED_OS = ("debian 12", "debian 13", "ubuntu 22.04", "ubuntu 24.04")
MODULES_LOAD = "/etc/modules-load.d/kubernetes.conf"
SYSCTL_CONF = "/etc/sysctl.d/99-kubernetes.conf"
# Host tools from the distribution, installed by one apt run: curl and ca-certificates fetch the
# package keys and archives; conntrack is the host tool kube-proxy and operators clear flows with
# (kubeadm's preflight asked for it below 1.32; the Kubernetes packages no longer pull it in).
HOST_TOOLS = ("curl", "ca-certificates", "conntrack")
OWNS = Owned(files=(MODULES_LOAD, SYSCTL_CONF), packages=HOST_TOOLS)


@deploy("OS preparation", data_defaults=DEFAULTS)
def prepare(cluster: Cluster) -> None:
    """Ensure swap is off, overlay/br_netfilter are present and the sysctls are set and persisted."""
    ops.host_supported(
        name="Supported OS with cgroup v2",
        supported_os=SUPPORTED_OS,
        allow_cgroup_v1=bool(cluster.setting("allow_cgroup_v1")),
    )
    ops.swap_off(name="Swap off, now and in /etc/fstab")
    ops.file(
        name="Kernel modules listed in modules-load.d",
        dest=MODULES_LOAD,
        content=render("prep/modules-load.conf"),
    )
    ops.kernel_modules(name="Kernel modules present (loaded or built in)")
    sysctl_file = ops.file(
        name="Kubernetes sysctls persisted",
        dest=SYSCTL_CONF,
        content=render("prep/sysctl.conf"),
    )
    ops.sysctls_applied(
        name="Kubernetes sysctls applied",
        config_path=SYSCTL_CONF,
        config=[sysctl_file],
    )
    ops.packages(
        name="Host tools: curl, ca-certificates, conntrack",
        wanted=dict.fromkeys(HOST_TOOLS),
    )


DEPLOY = prepare  # run by deploys/cluster.py, in components.COMPONENTS order
