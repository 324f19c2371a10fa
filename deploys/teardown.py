"""Teardown: a node back to the state before the first deploy (packages stay), for `deploys/reset.py`.

What `kubeadm reset` leaves it says itself (kubernetes/kubernetes cmd/kubeadm/app/cmd/phases/reset/
cleanupnode.go, "The reset process does not clean CNI configuration ... iptables rules or IPVS
tables ... kubeconfig files"): those, and what this deploy added, are removed here too.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, deploy

from deploys import ops, schema
from deploys.control_plane import AUDIT_DIR, ENCRYPTION_DIR
from deploys.facts import ADDONS, DONE, Owned
from deploys.ops import ETCD_DATA
from deploys.model import Cluster
from deploys.schema import Key

KEYS: dict[str, Key] = {
    # The cluster's name: `deploys/reset.py` tears the cluster down only with it.
    "confirm_reset": Key(None, schema.optional(schema.DNS_NAME, "no reset")),
}
DEFAULTS = schema.defaults(KEYS)
RESET_LOG = "/var/log/kubeadm-reset.log"
OWNS = Owned()  # removes what the other components own
# Files this deploy wrote that a fresh host does not have (packages and their own files stay).
OURS = (
    DONE,
    ADDONS,
    "/etc/kubernetes/kubeadm-config.yaml",
    "/etc/kubernetes/kubeadm-join.yaml",
    "/etc/default/kubelet",
    "/etc/keepalived/keepalived.conf",
    "/etc/keepalived/vrrp-auth.conf",
    "/etc/haproxy/stats.env",
    "/etc/systemd/system/haproxy.service.d/kubeadm-pyinfra.conf",
    ENCRYPTION_DIR,  # the Secrets encryption keys
    AUDIT_DIR,
)
# Left by the CNI (Calico) and kube-proxy, which kubeadm reset does not clean.
CNI_LEFTOVERS = ("/etc/cni/net.d", "/var/lib/calico", "/var/run/calico", "/var/lib/cni")
CNI_LINKS = ("vxlan.calico", "tunl0", "vxlan-v6.calico")


def confirmed(cluster: Cluster) -> bool:
    """Whether the data confirms tearing down this cluster (confirm_reset = its name)."""
    return cluster.setting("confirm_reset") == cluster.name


def node_script() -> str:
    """The shell script that tears one node down; safe to run again on a node already torn down."""
    steps = [
        "systemctl stop kubelet 2>/dev/null || true",
        # The whole cluster goes: no etcd member removal (it would wait for a quorum that is going away).
        f"if command -v kubeadm >/dev/null; then kubeadm reset -f --skip-phases=remove-etcd-member"
        f" >>{RESET_LOG} 2>&1 || {{ tail -n 20 {RESET_LOG} >&2; exit 1; }}; fi",
        # kubeadm empties the etcd data directory in the phase skipped above (phases/reset/removeetcdmember.go)
        f"find {ETCD_DATA} -mindepth 1 -delete 2>/dev/null || true",
        "for unit in keepalived haproxy; do systemctl disable --now $unit 2>/dev/null || true; done",
        "rm -rf " + " ".join(OURS + CNI_LEFTOVERS),
        *(f"ip link delete {link} 2>/dev/null || true" for link in CNI_LINKS),
        # Only the chains Kubernetes and Calico made: other firewall rules of the host stay.
        "for t in iptables ip6tables; do command -v $t-save >/dev/null || continue;"
        " $t-save | grep -vE '(KUBE-|cali-|cali:)' | $t-restore; done",
        "systemctl daemon-reload",
    ]
    return "; ".join(steps)


@deploy("Teardown", data_defaults=DEFAULTS)
def teardown(cluster: Cluster) -> None:
    """Ensure this node holds nothing of the cluster: kubeadm reset, our files, CNI leftovers, HA services."""
    node = cluster.node(host.name)
    ops.torn_down(
        name="kubeadm reset, cluster files and CNI leftovers removed",
        command=StringCommand(node_script()),
    )
    ops.on(
        node.name == cluster.first_control_plane.name,
        ops.local_file_removed,
        name=f"Admin kubeconfig {cluster.kubeconfig_path} removed",
        path=cluster.kubeconfig_path,
    )


DEPLOY = None  # not part of the cluster deploy: deploys/reset.py runs `teardown`
