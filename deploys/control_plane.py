"""Control-plane init: `kubeadm init` from a config file, once, on the first control plane."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation

from deploys import ops
from deploys.facts import node_state, watch
from deploys.model import Cluster
from deploys.templates import render

DEFAULTS: dict[str, object] = {}
KUBEADM_CONFIG = watch("/etc/kubernetes/kubeadm-config.yaml")
ADMIN_CONF = "/etc/kubernetes/admin.conf"
INIT_LOG = "/var/log/kubeadm-init.log"


@deploy("Control-plane init", data_defaults=DEFAULTS)
def init(cluster: Cluster) -> None:
    """Ensure the cluster exists: write the kubeadm config and run `kubeadm init` once."""
    node = cluster.node(host.name)
    first = ops.only(node.name == cluster.first_control_plane.name)
    ops.file(
        name="kubeadm configuration",
        node_ip=node.node_ip,
        dest=KUBEADM_CONFIG,
        content=lambda: render(
            "control_plane/kubeadm-config.yaml.j2",
            cluster=cluster,
            node=node,
            v1beta4=cluster.kubeadm_api_version.endswith("v1beta4"),
        ),
        mode="600",
        _if=first,
    )
    _kubeadm_init(name="kubeadm init (once per cluster)", node_ip=node.node_ip, _if=first)


@operation()
def _kubeadm_init(node_ip: str):
    """Ensure /etc/kubernetes/admin.conf exists, running `kubeadm init --upload-certs` if it does not."""
    state = node_state(host, node_ip)
    if state.has(ADMIN_CONF):
        return
    # The output holds a join token and the certificate key: keep it in a root-only log.
    yield StringCommand(
        f"umask 077; kubeadm init --config {KUBEADM_CONFIG} --upload-certs >{INIT_LOG} 2>&1"
        f" || {{ tail -n 30 {INIT_LOG} >&2; exit 1; }}"
    )
    if host.state.is_executing:
        state.files[ADMIN_CONF] = ("600", "?")
