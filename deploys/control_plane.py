"""Control-plane init: `kubeadm init` from a config file, once, on the first control plane.

Every control plane gets, before kubeadm init or join, the API server's Secrets encryption
config (one key set for the cluster, identical everywhere: kubernetes/website
content/en/docs/tasks/administer-cluster/encrypt-data.md, "the encryption configuration file
must be the same") and its audit policy (content/en/docs/tasks/debug/debug-cluster/audit.md,
log backend), both 0600 in 0700 directories; the kubeadm config wires them in with
apiServer.extraArgs and extraVolumes (content/en/docs/reference/config-api/kubeadm-config.v1beta4.md:
Arg {name, value}, HostPathMount {name, hostPath, mountPath, readOnly, pathType}), so joining
control planes get the same flags from the cluster's kubeadm-config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from pyinfra import host
from pyinfra.api import StringCommand, deploy

from deploys import credentials, ops, schema
from deploys.facts import Owned, node_state
from deploys.model import JOIN_TOKEN_TTL, Cluster, Node
from deploys.schema import Key
from deploys.templates import render

# Audit log rotation (kube-apiserver --audit-log-*), kubespray's defaults (roles/kubernetes/control-plane/
# defaults/main/main.yml: audit_log_maxage 30, audit_log_maxbackups 10, audit_log_maxsize 100).
KEYS: dict[str, Key] = {
    "audit_log_maxage": Key(30, schema.integer(1, 3650, "days")),
    "audit_log_maxbackup": Key(10, schema.integer(1, 1000, "files")),
    "audit_log_maxsize": Key(100, schema.integer(1, 10000, "megabytes")),
}
DEFAULTS = schema.defaults(KEYS)
KUBEADM_CONFIG = "/etc/kubernetes/kubeadm-config.yaml"
ENCRYPTION_DIR = "/etc/kubernetes/encryption"
ENCRYPTION_CONFIG = f"{ENCRYPTION_DIR}/config.yaml"
AUDIT_DIR = "/etc/kubernetes/audit"
AUDIT_POLICY = f"{AUDIT_DIR}/policy.yaml"
AUDIT_LOG_DIR = "/var/log/kubernetes/audit"
AUDIT_LOG = f"{AUDIT_LOG_DIR}/audit.log"
# Made before kubeadm starts the API server (the kubelet would make a hostPath folder 0755).
MAKE_AUDIT_LOG_DIR = f"install -d -m 700 {AUDIT_LOG_DIR}"
ADMIN_CONF = "/etc/kubernetes/admin.conf"
INIT_LOG = "/var/log/kubeadm-init.log"
INIT_STAMP = "kubeadm-init"
OWNS = Owned(files=(KUBEADM_CONFIG, ENCRYPTION_CONFIG, AUDIT_POLICY, ADMIN_CONF))
JOINED_STAMP = "kubeadm-join"  # join.JOIN_STAMP (join imports this module)
# What a kubeadm init or control-plane join that stopped half-way leaves (cmd/kubeadm/app/cmd/phases).
HALF_DONE = (
    "{ [ -e /etc/kubernetes/admin.conf ] || [ -e /etc/kubernetes/kubelet.conf ]"
    ' || [ -n "$(ls -A /etc/kubernetes/pki 2>/dev/null)" ] || [ -n "$(ls -A /etc/kubernetes/manifests 2>/dev/null)" ] || [ -n "$(ls -A /var/lib/etcd 2>/dev/null)" ]; }'
)


@dataclass(frozen=True)
class Volume:
    """A host directory mounted at the same path into the API server's static pod."""

    name: str
    path: str
    read_only: bool


# The directories are mounted, not the files: a file replaced by a new one (a new inode) stays
# visible, so the API server sees a rotated key (--encryption-provider-config-automatic-reload polls
# the file every minute: k8s.io/apiserver pkg/server/options/encryptionconfig/controller/controller.go,
# EncryptionConfigFileChangePollDuration).
APISERVER_VOLUMES = (
    Volume("encryption-config", ENCRYPTION_DIR, True),
    Volume("audit-policy", AUDIT_DIR, True),
    Volume("audit-log", AUDIT_LOG_DIR, False),
)


def apiserver_args(cluster: Cluster) -> list[tuple[str, str]]:
    """kube-apiserver flags for encryption at rest and auditing (kube-apiserver reference, Auditing docs)."""
    return [
        ("encryption-provider-config", ENCRYPTION_CONFIG),
        ("encryption-provider-config-automatic-reload", "true"),
        ("audit-policy-file", AUDIT_POLICY),
        ("audit-log-path", AUDIT_LOG),
        ("audit-log-maxage", str(cluster.setting("audit_log_maxage"))),
        ("audit-log-maxbackup", str(cluster.setting("audit_log_maxbackup"))),
        ("audit-log-maxsize", str(cluster.setting("audit_log_maxsize"))),
    ]


def kubeadm_config(cluster: Cluster, node: Node) -> str:
    """The first control plane's kubeadm InitConfiguration, ClusterConfiguration and KubeletConfiguration."""
    return render(
        "control_plane/kubeadm-config.yaml.j2",
        cluster=cluster,
        node=node,
        join_token_ttl=JOIN_TOKEN_TTL,
        apiserver_args=apiserver_args(cluster),
        apiserver_volumes=APISERVER_VOLUMES,
    )


def encryption_config(cluster: Cluster) -> str:
    """The EncryptionConfiguration with the cluster's keys (the same on every control plane)."""
    return render("control_plane/encryption-config.yaml.j2", keys=credentials.encryption_keys(cluster.secrets))


@deploy("Control-plane init", data_defaults=DEFAULTS)
def init(cluster: Cluster) -> None:
    """Ensure the cluster exists: API server encryption and audit files, the kubeadm config, `kubeadm init` once."""
    node = cluster.node(host.name)
    first = node.name == cluster.first_control_plane.name
    control_plane = node.is_control_plane
    # Before init and before any control plane joins: the API server starts with them.
    ops.on(
        control_plane,
        ops.file,
        name="API server Secrets encryption config (0600)",
        dest=ENCRYPTION_CONFIG,
        content=encryption_config(cluster),
        mode="600",
        dir_mode="700",
    )
    ops.on(
        control_plane,
        ops.file,
        name="API server audit policy (0600)",
        dest=AUDIT_POLICY,
        content=render("control_plane/audit-policy.yaml"),
        mode="600",
        dir_mode="700",
    )
    ops.on(
        first,
        ops.file,
        name="kubeadm configuration",
        dest=KUBEADM_CONFIG,
        content=lambda: kubeadm_config(cluster, node),
        mode="600",
    )
    ops.on(
        first,
        _kubeadm_init,
        name="kubeadm init (once per cluster)",
        others_hold_a_cluster=first and _others_hold_a_cluster(cluster),
    )


def _others_hold_a_cluster(cluster: Cluster) -> list[str]:
    """The other control planes that already joined or initialised a cluster (their stamps)."""
    found = []
    for other in cluster.control_planes[1:]:
        target = host.state.inventory.get_host(other.name)
        if target in host.state.failed_hosts or not target.connected:
            continue
        if {INIT_STAMP, JOINED_STAMP} & node_state(target).done:
            found.append(other.name)
    return found


@ops.operation()
def _kubeadm_init(others_hold_a_cluster: Sequence[str] = ()):
    """Ensure `kubeadm init` has succeeded once here (a stamp written after success).

    A fresh first control plane while others already hold the cluster is a control plane added back
    first in the inventory: initialising it would start a second cluster, so it is refused.
    """
    state = node_state(host)
    # A control plane that joined an existing cluster is first only because the one before it was
    # removed (deploys/remove.py): the cluster exists, it is never initialised again.
    if INIT_STAMP in state.done or JOINED_STAMP in state.done:
        return
    if others_hold_a_cluster:
        yield ops.fail(
            f"{', '.join(others_hold_a_cluster)} already hold(s) the cluster: a control plane added to it joins;"
            " list it after the existing control planes in the inventory (the first one initialises a cluster)"
        )
        return
    # The output holds a join token and the certificate key: it goes to a root-only log.
    yield StringCommand(
        ops.kubeadm_script(
            INIT_STAMP,
            f"{MAKE_AUDIT_LOG_DIR} && kubeadm init --config {KUBEADM_CONFIG} --upload-certs",
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


DEPLOY = init  # run by deploys/cluster.py, in components.COMPONENTS order
