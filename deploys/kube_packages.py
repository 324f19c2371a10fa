"""Kubernetes packages: the pkgs.k8s.io repository of the chosen minor release, pinned and held."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import ops
from deploys.model import Cluster

DEFAULTS: dict[str, object] = {
    "kube_apt_repo_url": "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/",
    "kube_apt_key_url": None,  # None = the repository URL + "Release.key"
}
KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.asc"
SOURCE = "/etc/apt/sources.list.d/kubernetes.list"
PACKAGES = ("kubelet", "kubeadm", "kubectl")


def repo_url(cluster: Cluster) -> str:
    """The repository URL for the cluster's minor release."""
    url = str(cluster.setting("kube_apt_repo_url")).format(minor=cluster.kube_minor)
    return url if url.endswith("/") else url + "/"


def key_url(cluster: Cluster) -> str:
    """The repository signing key URL."""
    explicit = cluster.setting("kube_apt_key_url")
    return str(explicit).format(minor=cluster.kube_minor) if explicit else repo_url(cluster) + "Release.key"


@deploy("Kubernetes packages", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure kubelet, kubeadm and kubectl are installed at the pinned version, held, kubelet enabled."""
    node = cluster.node(host.name)
    key = files.download(
        name="Kubernetes repository key",
        src=key_url(cluster),
        dest=KEYRING,
        mode="644",
    )
    source = files.put(
        name="Kubernetes package repository",
        src=StringIO(f"deb [signed-by={KEYRING}] {repo_url(cluster)} /\n"),
        dest=SOURCE,
        mode="644",
    )
    ops.packages(
        name=f"kubelet, kubeadm, kubectl {cluster.kube_package_version}, held",
        node_ip=node.node_ip,
        wanted={package: cluster.kube_package_version for package in PACKAGES},
        hold=True,
        sources_changed=[key, source],
    )
    files.put(
        name="kubelet uses the node IP",
        src=StringIO(f"KUBELET_EXTRA_ARGS=--node-ip={node.node_ip}\n"),
        dest="/etc/default/kubelet",
        mode="644",
    )
    ops.service(name="kubelet enabled", node_ip=node.node_ip, service_name="kubelet", running=False)
