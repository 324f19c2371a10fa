"""etcd's client tools (etcdctl, etcdutl) on the control planes, for backup and restore.

kubeadm runs etcd only inside its static pod (registry.k8s.io/etcd): a host has no etcdctl. They are
installed the way kubespray installs them (roles/etcdctl_etcdutl, roles/download): upstream's release
archive etcd-v<version>-linux-<arch>.tar.gz (etcd-io/etcd releases; members etcd-v<version>-linux-<arch>/
{etcd,etcdctl,etcdutl}), checked against a pinned SHA-256, the two client binaries into /usr/local/bin.
The version is the etcd kubeadm runs for the cluster's minor (model.RELEASES, kubeadm constants.go
SupportedEtcdVersion); the URL is a mirror knob like containerd's.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import FactBase, deploy

from deploys import ops, schema
from deploys.facts import Owned, node_state
from deploys.model import Cluster, ClusterConfigError
from deploys.schema import Key

KEYS: dict[str, Key] = {
    "etcd_version": Key(None, schema.optional(schema.STRING_VERSION, "the etcd kubeadm runs for kube_version")),
    "etcd_download_url": Key(
        "https://github.com/etcd-io/etcd/releases/download/v{version}/etcd-v{version}-linux-{arch}.tar.gz",
        schema.url("version", "arch", file=True),
    ),
    "etcd_sha256": Key(None, schema.optional(schema.SHA256, "the pinned digest for the version and architecture")),
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # etcdctl/etcdutl, installed by the day-2 entries that need them
DEPLOY = None  # not part of the cluster deploy: backup and restore run `install`
# kubernetes-sigs/kubespray master 2026-08-21, roles/kubespray_defaults/vars/main/checksums.yml
# (etcd_binary_checksums): (version, arch) -> SHA-256 of etcd-v<version>-linux-<arch>.tar.gz.
CHECKSUMS: dict[tuple[str, str], str] = {
    ("3.6.6", "amd64"): "887afaa4a99f22d802ccdfbe65730a5e79aa5c9ce2c8799c67e9d804c50ecedb",
    ("3.6.6", "arm64"): "8a15f5427c111ff4692753682374970fb68878401d946c2c28bdad6857db652f",
    ("3.6.8", "amd64"): "cf9cfe91a4856cb90eed9c99e6aee4b708db2c7888b88a6f116281f04b0ea693",
    ("3.6.8", "arm64"): "438f56a700d17ce761510a3e63e6fa5c1d587b2dd4d7a22c179c09a649366760",
}
BIN = "/usr/local/bin"
ETCDCTL = f"{BIN}/etcdctl"
ETCDUTL = f"{BIN}/etcdutl"
PKI = "/etc/kubernetes/pki"
# The local member, as kubeadm's etcd serves it (phases/etcd/local.go: --listen-client-urls
# https://127.0.0.1:2379,..., --listen-metrics-urls http://127.0.0.1:2381), with the client
# certificate kubeadm makes for its health checks (certs/certlist.go KubeadmCertEtcdHealthcheck).
ENDPOINT = "https://127.0.0.1:2379"
HEALTH_URL = "http://127.0.0.1:2381/health"
CLIENT_TLS = (
    f"--cacert={PKI}/etcd/ca.crt --cert={PKI}/etcd/healthcheck-client.crt --key={PKI}/etcd/healthcheck-client.key"
)
ETCDCTL_LOCAL = f"ETCDCTL_API=3 {ETCDCTL} --endpoints={ENDPOINT} {CLIENT_TLS}"
# Archive members: the two client tools (etcd itself runs in the static pod).
INSTALL = (
    'src=$(mktemp -d); trap \'rm -rf "$src"\' EXIT; tar -xzf "$1" -C "$src" --strip-components=1; '
    f"for b in etcdctl etcdutl; do install -m 755 \"$src/$b\" {BIN}/.$b.new; mv -f {BIN}/.$b.new {BIN}/$b; done"
)


def version(cluster: Cluster) -> str:
    """The etcd version of the tools: the data's, else the one kubeadm runs for the cluster's minor."""
    return str(cluster.setting("etcd_version") or cluster.release.etcd.split("-")[0])


def checksum(cluster: Cluster, arch: str) -> str:
    """The archive's SHA-256 for ARCH: the data's, else the pinned one (ClusterConfigError when none)."""
    explicit = cluster.setting("etcd_sha256")
    if explicit:
        return str(explicit)
    try:
        return CHECKSUMS[(version(cluster), arch)]
    except KeyError:
        raise ClusterConfigError(
            f"key 'etcd_sha256': no pinned digest for etcd {version(cluster)} on {arch}; set it (the SHA-256 of "
            f"{download_url(cluster, arch)})"
        ) from None


def download_url(cluster: Cluster, arch: str) -> str:
    """The release archive's URL for ARCH."""
    template = str(cluster.setting("etcd_download_url"))
    return template.replace("{version}", version(cluster)).replace("{arch}", arch)


@deploy("etcd tools", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure the pinned etcdctl and etcdutl are in /usr/local/bin of every control plane."""
    node = cluster.node(host.name)
    arch = node_state(host).arch
    ops.on(
        node.is_control_plane,
        ops.artifact,
        name=f"etcdctl and etcdutl {version(cluster)} installed",
        stamp=f"etcd-{version(cluster)}",
        url=download_url(cluster, arch),
        sha256=checksum(cluster, arch),
        install=INSTALL,
    )


class Health(FactBase):
    """Whether the host's etcd member answers healthy on its metrics listener (a member without quorum does not)."""

    def command(self) -> str:
        return f"curl -s --max-time 3 {HEALTH_URL} || true"

    def process(self, output: list[str]) -> bool:
        return '"health":"true"' in "".join(output).replace(" ", "")
