"""Kubernetes packages: the pkgs.k8s.io repository of the chosen minor release, pinned and held."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops
from deploys.facts import watch
from deploys.model import Cluster

DEFAULTS: dict[str, object] = {
    "kube_apt_repo_url": "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/",
    "kube_apt_key_url": None,  # None = the repository URL + "Release.key"
}
KEYRING = watch("/etc/apt/keyrings/kubernetes-apt-keyring.asc")
SOURCE = watch("/etc/apt/sources.list.d/kubernetes.list")
KUBELET_DEFAULTS = watch("/etc/default/kubelet")
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
    key = ops.download(name="Kubernetes repository key", node_ip=node.node_ip, url=key_url(cluster), dest=KEYRING)
    source = ops.file(
        name="Kubernetes package repository",
        node_ip=node.node_ip,
        dest=SOURCE,
        content=f"deb [signed-by={KEYRING}] {repo_url(cluster)} /\n",
    )
    ops.packages(
        name=f"kubelet, kubeadm, kubectl {cluster.kube_package_version}, held",
        node_ip=node.node_ip,
        wanted={package: cluster.kube_package_version for package in PACKAGES},
        hold=True,
        sources_changed=[key, source],
    )
    ops.file(
        name="kubelet uses the node IP",
        node_ip=node.node_ip,
        dest=KUBELET_DEFAULTS,
        content=f"KUBELET_EXTRA_ARGS=--node-ip={node.node_ip}\n",
    )
    ops.service(name="kubelet enabled", node_ip=node.node_ip, service_name="kubelet", running=False)
