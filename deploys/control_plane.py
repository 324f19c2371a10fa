"""Control-plane init: `kubeadm init` from a config file, once, on the first control plane."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, deploy, operation

from deploys import ops
from deploys.facts import node_state, watch
from deploys.model import JOIN_TOKEN_TTL, Cluster
from deploys.templates import render

DEFAULTS: dict[str, object] = {}
KUBEADM_CONFIG = watch("/etc/kubernetes/kubeadm-config.yaml")
ADMIN_CONF = "/etc/kubernetes/admin.conf"
INIT_LOG = "/var/log/kubeadm-init.log"
INIT_STAMP = "kubeadm-init"
# What a kubeadm init or control-plane join that stopped half-way leaves (cmd/kubeadm/app/cmd/phases).
HALF_DONE = (
    "{ [ -e /etc/kubernetes/admin.conf ] || [ -e /etc/kubernetes/kubelet.conf ]"
    ' || [ -n "$(ls -A /etc/kubernetes/pki 2>/dev/null)" ] || [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ] || [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ]; }'
)


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
            "control_plane/kubeadm-config.yaml.j2", cluster=cluster, node=node, join_token_ttl=JOIN_TOKEN_TTL
        ),
        mode="600",
        _if=first,
    )
    _kubeadm_init(name="kubeadm init (once per cluster)", node_ip=node.node_ip, _if=first)


@operation()
def _kubeadm_init(node_ip: str):
    """Ensure `kubeadm init` has succeeded once here (a stamp written after success)."""
    state = node_state(host, node_ip)
    if INIT_STAMP in state.done:
        return
    # The output holds a join token and the certificate key: it goes to a root-only log.
    yield StringCommand(
        ops.kubeadm_script(
            INIT_STAMP,
            f"kubeadm init --config {KUBEADM_CONFIG} --upload-certs",
            INIT_LOG,
            # A cluster made before stamps existed: its API answers and kubeadm's bootstrap-token
            # phase (one of init's last) has published cluster-info.
            done_check=f"[ -f {ADMIN_CONF} ] && kubectl --kubeconfig {ADMIN_CONF} --request-timeout=10s"
            " -n kube-public get configmap cluster-info -o name >/dev/null 2>&1",
            leftovers=HALF_DONE,
        )
    )
    if host.state.is_executing:
        state.done.add(INIT_STAMP)
        state.files.setdefault(ADMIN_CONF, ("600", "?"))
