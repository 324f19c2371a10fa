"""Calico through the tigera-operator: its CRDs, the pinned operator manifest, then an Installation.

Calico >= 3.30 ships the operator's CRDs apart, in manifests/operator-crds.yaml, and
tigera-operator.yaml holds none (projectcalico/calico v3.30.3 and v3.31.7, manifests/); older
releases carry them in tigera-operator.yaml. The CRDs are applied server-side (2.6 MB: too big
for client-side apply's last-applied annotation), then the operator, then every CRD the
Installation and APIServer use must be established before they are applied.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Callable

from pyinfra import host
from pyinfra.api import deploy

from deploys import context, ops, schema
from deploys.facts import ADDONS, NodeState, Owned, node_state
from deploys.model import CALICO_ENCAPSULATIONS, Cluster, VersionSkewError
from deploys.schema import Key
from deploys.templates import render



def _encapsulation_hint(value: object) -> str | None:
    """None (the Python value) is not the string "None" Calico takes for no encapsulation."""
    if value is None:
        return 'None (the Python value) is no encapsulation name; to turn encapsulation off write the string "None"'
    lower = {e.lower(): e for e in CALICO_ENCAPSULATIONS}
    if isinstance(value, str) and value not in CALICO_ENCAPSULATIONS and value.lower() in lower:
        return f"Calico's names are case-sensitive: write {lower[value.lower()]!r}"
    return None


KEYS: dict[str, Key] = {
    "calico_version": Key("v3.31.7", schema.CALICO_VERSION),
    "calico_encapsulation": Key("VXLANCrossSubnet", schema.enum(CALICO_ENCAPSULATIONS, _encapsulation_hint)),
    "calico_operator_manifest_url": Key(
        "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/tigera-operator.yaml",
        schema.url("version"),
    ),
    "calico_crds_manifest_url": Key(
        "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/operator-crds.yaml",
        schema.url("version"),
    ),
    # Image registry mirror for Calico's images (Installation spec.registry).
    "calico_registry": Key(None, schema.optional(schema.REGISTRY, "upstream")),
    # Node address autodetection by interface regex (nodeAddressAutodetectionV4.interface).
    "calico_interface": Key(None, schema.optional(schema.INTERFACE_REGEX, "the kubelet's node IP")),
}
DEFAULTS = schema.defaults(KEYS)
# The custom resources this deploy applies, by the CRD that defines each.
CRDS = ("installations.operator.tigera.io", "apiservers.operator.tigera.io")
OWNS = Owned(files=(f"{ADDONS}/*.yaml",))  # the manifests; applied stamps are read apart
OPERATOR_STAMP = "tigera-operator-"  # + the version: the operator manifest applied (ADDONS/*.applied)
_CALICO = re.compile(r"v\d+\.\d+\.\d+")


def separate_crds(version: str) -> bool:
    """Whether this Calico release ships its operator CRDs in operator-crds.yaml (3.30 and later)."""
    major, minor = (int(part) for part in version.lstrip("v").split(".")[:2])
    return (major, minor) >= (3, 30)


def manifest_url(cluster: Cluster, key: str = "calico_operator_manifest_url") -> str:
    """A manifest URL (operator or CRDs) of the pinned Calico version."""
    return str(cluster.setting(key)).replace("{version}", cluster.setting("calico_version"))


def installation(cluster: Cluster) -> str:
    """The rendered Installation (and APIServer) resources."""
    return render("calico/installation.yaml.j2", cluster=cluster)


def running_version(state: NodeState) -> str | None:
    """The newest Calico whose tigera-operator this deploy applied (the first control plane's stamps), or None."""
    found = [a.removeprefix(OPERATOR_STAMP) for a in state.applied if a.startswith(OPERATOR_STAMP)]
    found = [v for v in found if _CALICO.fullmatch(v)]
    return max(found, key=version_key) if found else None


def version_key(version: str) -> tuple[int, ...]:
    """'v3.31.7' -> (3, 31, 7), for comparing Calico versions."""
    return tuple(int(p) for p in version.lstrip("v").split("."))


def version_change(cluster: Cluster) -> str | None:
    """Why this run must not apply another Calico on this first control plane, if it must not.

    The operator rolls calico-node out itself, but only deploys/upgrade.py waits for that rollout
    (with a timeout, failing the run when it does not finish) and refuses a downgrade.
    """
    running = running_version(node_state(host))
    pinned = cluster.setting("calico_version")
    if running is None or running == pinned:
        return None
    return (
        f"Calico {running} runs on this cluster but calico_version is {pinned}: a running cluster "
        "changes Calico with `pyinfra -y INVENTORY deploys/upgrade.py`"
    )


def steps(cluster: Cluster, first: bool, label: str = "", go: Callable[[], bool] | None = None) -> None:
    """The pinned Calico's CRDs (3.30+), tigera-operator and Installation applied from the first control plane (FIRST: this host).

    LABEL prefixes the operations' names, GO is checked at execution (deploys/runtime_upgrade.py).
    """
    when: dict[str, Any] = {} if go is None else {"_if": go}
    version = cluster.setting("calico_version")
    if separate_crds(version):  # cluster-wide: the same operations on every host
        crds_path = f"{ADDONS}/calico-crds-{version}.yaml"
        ops.on(
            first,
            ops.download,
            name=f"{label}Calico {version} CRDs manifest",
            url=manifest_url(cluster, "calico_crds_manifest_url"),
            dest=crds_path,
            **when,
        )
        ops.on(
            first,
            ops.kubectl_apply,
            name=f"{label}Calico CRDs applied",
            path=crds_path,
            stamp=f"calico-crds-{version}",
            server_side=True,
            **when,
        )
    operator_path = f"{ADDONS}/tigera-operator-{version}.yaml"
    ops.on(
        first,
        ops.download,
        name=f"{label}tigera-operator {version} manifest",
        url=manifest_url(cluster),
        dest=operator_path,
        **when,
    )
    ops.on(
        first,
        ops.kubectl_apply,
        name=f"{label}tigera-operator applied",
        path=operator_path,
        stamp=f"{OPERATOR_STAMP}{version}",
        server_side=True,
        wait_crds=CRDS,
        **when,
    )
    content = installation(cluster)
    ops.on(
        first,
        ops.file,
        name=f"{label}Calico Installation resource",
        dest=f"{ADDONS}/calico-installation.yaml",
        content=content,
        **when,
    )
    ops.on(
        first,
        ops.kubectl_apply,
        name=f"{label}Calico Installation applied",
        path=f"{ADDONS}/calico-installation.yaml",
        stamp="calico-installation-" + hashlib.sha256(content.encode()).hexdigest()[:12],
        **when,
    )


@deploy("Calico", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure Calico's CRDs, the tigera-operator and the Installation are applied, from the first control plane."""
    node = cluster.node(host.name)
    first = node.name == cluster.first_control_plane.name
    refused = version_change(cluster) if first else None
    # Found while planning: the run stops before any host is changed (not on a host in the run
    # only to make join credentials: see context.Run.credentials_only).
    if refused and host.name not in context.of(host.state).credentials_only:
        raise VersionSkewError(f"{host.name}: {refused}")
    steps(cluster, first)


DEPLOY = install  # run by deploys/cluster.py, in components.COMPONENTS order
