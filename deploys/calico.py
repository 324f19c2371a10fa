"""Calico through the tigera-operator: the pinned operator manifest, then an Installation."""

from __future__ import annotations

import hashlib

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops
from deploys.facts import ADDONS
from deploys.model import Cluster
from deploys.templates import render

DEFAULTS: dict[str, object] = {
    "calico_version": "v3.30.3",
    "calico_encapsulation": "VXLANCrossSubnet",
    "calico_operator_manifest_url": (
        "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/tigera-operator.yaml"
    ),
    "calico_registry": None,  # image registry mirror for Calico's images; None = upstream
    "calico_interface": None,  # node address autodetection by interface regex; None = the node IP
}


def manifest_url(cluster: Cluster) -> str:
    """The operator manifest URL of the pinned Calico version."""
    return str(cluster.setting("calico_operator_manifest_url")).format(version=cluster.setting("calico_version"))


def installation(cluster: Cluster) -> str:
    """The rendered Installation (and APIServer) resources."""
    return render("calico/installation.yaml.j2", cluster=cluster)


@deploy("Calico", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure the tigera-operator and Calico's Installation are applied, from the first control plane."""
    node = cluster.node(host.name)
    first = ops.only(node.name == cluster.first_control_plane.name)
    version = cluster.setting("calico_version")
    operator_path = f"{ADDONS}/tigera-operator-{version}.yaml"
    ops.download(
        name=f"tigera-operator {version} manifest",
        node_ip=node.node_ip,
        url=manifest_url(cluster),
        dest=operator_path,
        _if=first,
    )
    ops.kubectl_apply(
        name="tigera-operator applied",
        node_ip=node.node_ip,
        path=operator_path,
        stamp=f"tigera-operator-{version}",
        server_side=True,
        wait_crd="installations.operator.tigera.io",
        _if=first,
    )
    content = installation(cluster)
    ops.file(
        name="Calico Installation resource",
        node_ip=node.node_ip,
        dest=f"{ADDONS}/calico-installation.yaml",
        content=content,
        _if=first,
    )
    ops.kubectl_apply(
        name="Calico Installation applied",
        node_ip=node.node_ip,
        path=f"{ADDONS}/calico-installation.yaml",
        stamp="calico-installation-" + hashlib.sha256(content.encode()).hexdigest()[:12],
        _if=first,
    )
