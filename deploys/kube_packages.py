"""Kubernetes packages: the pkgs.k8s.io repository of the chosen minor release, pinned and held."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import context, ops, schema
from deploys.facts import Owned, node_state
from deploys.model import Cluster, VersionSkewError
from deploys.schema import Key

KEYS: dict[str, Key] = {
    "kube_apt_repo_url": Key("https://pkgs.k8s.io/core:/stable:/v{minor}/deb/", schema.url("minor")),
    "kube_apt_key_url": Key(None, schema.optional(schema.url("minor"), "the repository URL + 'Release.key'")),
}
DEFAULTS = schema.defaults(KEYS)
KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.asc"
SOURCE = "/etc/apt/sources.list.d/kubernetes.list"
KUBELET_DEFAULTS = "/etc/default/kubelet"
PACKAGES = ("kubelet", "kubeadm", "kubectl")
JOINED = "/etc/kubernetes/kubelet.conf"
OWNS = Owned(files=(KEYRING, SOURCE, KUBELET_DEFAULTS), packages=(*PACKAGES, "cri-tools"), services=("kubelet",))


def repo_url(cluster: Cluster) -> str:
    """The repository URL for the cluster's minor release."""
    url = str(cluster.setting("kube_apt_repo_url")).replace("{minor}", cluster.kube_minor)
    return url if url.endswith("/") else url + "/"


def key_url(cluster: Cluster) -> str:
    """The repository signing key URL."""
    explicit = cluster.setting("kube_apt_key_url")
    return str(explicit).replace("{minor}", cluster.kube_minor) if explicit else repo_url(cluster) + "Release.key"


def version_change(cluster: Cluster) -> str | None:
    """Why this run must not touch the node's Kubernetes packages, if it must not.

    A joined node whose kubeadm is at another version than `kube_version` needs
    `kubeadm upgrade`, in order, node by node: re-pinning the packages here would leave
    kubelets newer than the API server (version skew policy).
    """
    state = node_state(host)
    installed = state.packages.get("kubeadm", ("", False))[0]
    if not installed or installed == "?" or not state.has(JOINED) or installed == cluster.kube_package_version:
        return None
    return (
        f"kubeadm {installed} is installed on this joined node but kube_version is {cluster.kube_version}: "
        "a running cluster changes version with `pyinfra -y INVENTORY deploys/upgrade.py`"
    )


@deploy("Kubernetes packages", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure kubelet, kubeadm, kubectl and crictl are installed at the pinned version, held, kubelet enabled."""
    node = cluster.node(host.name)
    refused = version_change(cluster)
    # Found while planning: the run stops before any host is changed (a host in the run only to
    # make join credentials has no package changed here: see context.Run.credentials_only).
    if refused and host.name not in context.of(host.state).credentials_only:
        raise VersionSkewError(f"{host.name}: {refused}")
    source = ops.file(
        name="Kubernetes package repository",
        dest=SOURCE,
        content=f"deb [signed-by={KEYRING}] {repo_url(cluster)} /\n",
    )
    # Fetched again when the repository changes and once a week: pkgs.k8s.io rotated its key
    # in 2024-11, and hosts that never refreshed it stopped getting packages.
    key = ops.download(
        name="Kubernetes repository key",
        url=key_url(cluster),
        dest=KEYRING,
        refresh_stale=True,
        refresh=[source],
    )
    ops.packages(
        name=f"kubelet, kubeadm, kubectl {cluster.kube_package_version}, cri-tools, held",
        wanted={
            **{package: cluster.kube_package_version for package in PACKAGES},
            "cri-tools": cluster.cri_tools_package_version,
        },
        hold=True,
        sources_changed=[key, source],
        source=SOURCE,
    )
    ops.file(
        name="kubelet uses the node IP",
        dest=KUBELET_DEFAULTS,
        content=f"KUBELET_EXTRA_ARGS=--node-ip={node.node_ip}\n",
        mode="600",  # the kubelet service's configuration: CIS 4.1.1 asks 600 (kube-bench cfg/cis-1.12/node.yaml)
    )
    ops.service(name="kubelet enabled", service_name="kubelet", running=False)


DEPLOY = install  # run by deploys/cluster.py, in components.COMPONENTS order
