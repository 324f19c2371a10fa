"""The cluster model: inventory + data in, one validated `Cluster` out.

Every validation error of the project lives here. The model is built before any
host is contacted (see `check_before_connect`) and again, from the same inputs,
by `deploys/cluster.py`; deploy modules read only the model.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from pyinfra.api.exceptions import PyinfraError

from deploys import credentials

CONTROL_PLANE_GROUP = "control_plane"
WORKER_GROUP = "workers"

# Cluster-wide defaults. Component modules declare their own keys beside their
# deploy; `deploys/cluster.py` merges them into the one table the model reads.
DEFAULTS: dict[str, Any] = {
    "cluster_name": "kubernetes",
    "kube_version": "1.37.1",
    "kube_deb_revision": "1.1",
    "pod_cidr": "10.244.0.0/16",
    "service_cidr": "10.96.0.0/12",
    "dns_domain": "cluster.local",
    "image_repository": "registry.k8s.io",
    "vip": None,
    "control_plane_endpoint": None,
    "api_load_balancer": "keepalived",
    "api_lb_port": 16443,
    "apiserver_port": 6443,
    "node_network": None,
    "kubeconfig_path": None,
    "secrets_dir": None,
    "control_plane_schedulable": False,  # True: no NoSchedule taint on control planes (they run workloads)
    "apiserver_cert_sans": [],  # extra DNS names / IPs in the API server certificate
}

# Per-host keys: allowed to differ between hosts.
HOST_KEYS = ("node_ip", "node_name", "keepalived_interface")



@dataclass(frozen=True)
class Release:
    """What one supported Kubernetes minor release needs (sources in the README's version table)."""

    patch: str  # the newest patch this project pins by default
    pause: str  # kubeadm constants.go PauseVersion
    etcd: str  # kubeadm constants.go SupportedEtcdVersion
    containerd: tuple[str, ...]  # lowest supported patch of each supported containerd line


# Supported Kubernetes minor releases. Patches: kubernetes.io/releases/1.3x (newest released and
# verifiable on 2026-12-01: 1.35.9, 1.36.4, 1.37.1). containerd: containerd/containerd RELEASES.md
# "Kubernetes Support" (v2.3.4): 1.35 -> 2.2.0+, 2.1.5+, 1.7.28+; 1.36 -> 2.3.0+, 2.2.0+; 1.37 has no row
# yet, so it keeps 1.36's; 2.3 (the LTS line, released after 1.35's row was written) is allowed for 1.35.
RELEASES: dict[str, Release] = {
    "1.35": Release("1.35.9", "3.10.1", "3.6.6-0", ("2.3.0", "2.2.0", "2.1.5", "1.7.28")),
    "1.36": Release("1.36.4", "3.10.2", "3.6.8-0", ("2.3.0", "2.2.0")),
    "1.37": Release("1.37.1", "3.10.2", "3.7.0-0", ("2.3.0", "2.2.0")),
}
# v1beta4 is accepted by 1.35-1.37; 1.36 removed v1beta3 (kubernetes/kubernetes PR #136016).
KUBEADM_API_VERSION = "kubeadm.k8s.io/v1beta4"
JOIN_TOKEN_TTL = "2h"  # bootstrap tokens this deploy makes (kubeadm's default is 24h)

# Pinned SHA-256 of the release archives (kubernetes-sigs/kubespray master 2026-08-21,
# roles/kubespray_defaults/vars/main/checksums.yml): (artifact, version, arch) -> digest.
CHECKSUMS: dict[tuple[str, str, str], str] = {
    ("containerd", "2.3.4", "amd64"): "9d68969855fbf676cdb8ed758e420fb048d61f984f61de3e53eddfebe484d168",
    ("containerd", "2.3.4", "arm64"): "a985fbb7e18fc0362d31a055338f5d7b0e087a3e27f14c70d1c5965399a29f95",
    ("containerd", "2.2.7", "amd64"): "91cd216ea26a1b8b512219d3f205375c967e7b7de4dae571bc3dd16bfacd34b5",
    ("containerd", "2.2.7", "arm64"): "84eb0a161e20ad45465202fa2d6d93b3d9b74666c363e9908706d590a86e2618",
    ("containerd", "1.7.34", "amd64"): "640f989745020ea4897ad0a3d7d977863a7279d3f2e132792fc62c25a45bda50",
    ("containerd", "1.7.34", "arm64"): "824cbd16af3bdfc1b1836338350630ae1b6a58c7466636a4bed10549790090ab",
    ("runc", "1.4.3", "amd64"): "f6ae8efc0fa40079e1475e97cbe9d1bd3f106a28d6af78a11d9f1bd565515e60",
    ("runc", "1.4.3", "arm64"): "633301e2e32f8a5ad54031aab4901eb00308bec677dd15faa2751e8f9dab5ca4",
    ("runc", "1.3.6", "amd64"): "3f3921dbbee7723e9868f97e88e51ffc910206e3ba55646e74d93d24ea76023c",
    ("runc", "1.3.6", "arm64"): "6be27a061ef89bb14c6cb495405bba80f46cea213b8f79378a6086b1bac6b747",
}
ARTIFACTS = ("containerd", "runc")
LOAD_BALANCERS = ("keepalived", "external")
CALICO_ENCAPSULATIONS = ("IPIP", "IPIPCrossSubnet", "VXLAN", "VXLANCrossSubnet", "None")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
_PLAIN_VERSION = re.compile(r"^\d+\.\d+\.\d+$")
_CALICO_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
_NODE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


class ClusterConfigError(PyinfraError):
    """The inventory or its data describe no valid cluster; the message says where and why."""


class VersionSkewError(PyinfraError):
    """The data asks for another Kubernetes version than a running node has: that is an upgrade."""


@dataclass(frozen=True)
class Node:
    """One inventory host as the cluster sees it."""

    name: str  # inventory name
    node_name: str  # Kubernetes node name
    role: str  # "control_plane" or "worker"
    node_ip: str
    index: int  # position within its group, from 0
    keepalived_interface: str | None = None

    @property
    def is_control_plane(self) -> bool:
        return self.role == CONTROL_PLANE_GROUP


@dataclass(frozen=True)
class Cluster:
    """Everything the deploys need, validated."""

    name: str
    kube_version: str  # "1.34.2"
    kube_deb_revision: str
    pod_cidr: str
    service_cidr: str
    dns_domain: str
    image_repository: str
    nodes: tuple[Node, ...]
    endpoint_host: str
    endpoint_port: int
    apiserver_port: int
    api_lb_port: int
    load_balancer: str | None  # "keepalived", "external" or None (one control plane)
    vip: str | None
    node_network: str
    kubeconfig_path: str
    secrets_dir: str
    control_plane_schedulable: bool
    extra_cert_sans: tuple[str, ...]
    settings: Mapping[str, Any]  # validated component keys (haproxy_*, keepalived_*, calico_*, ...)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def kube_minor(self) -> str:
        return ".".join(self.kube_version.split(".")[:2])

    @property
    def kube_package_version(self) -> str:
        return f"{self.kube_version}-{self.kube_deb_revision}"

    @property
    def cri_tools_package_version(self) -> str:
        """cri-tools of the same minor, as every pkgs.k8s.io minor repository carries it (X.Y.0-1.1)."""
        return f"{self.kube_minor}.0-1.1"

    @property
    def kubeadm_api_version(self) -> str:
        return KUBEADM_API_VERSION

    @property
    def release(self) -> Release:
        return RELEASES[self.kube_minor]

    @property
    def pause_image(self) -> str:
        return f"{self.image_repository}/pause:{self.release.pause}"

    @property
    def apiserver_cert_sans(self) -> list[str]:
        """The API server certificate's extra SANs: the endpoint, every control plane, the user's."""
        sans = [self.endpoint_host, *(n.node_ip for n in self.control_planes), *self.extra_cert_sans]
        return list(dict.fromkeys(sans))

    def checksum(self, artifact: str, arch: str) -> str:
        """The SHA-256 of ARTIFACT's release archive for ARCH: the data's, else the pinned one."""
        explicit = self.settings.get(f"{artifact}_sha256")
        if explicit:
            return str(explicit)
        version = str(self.settings[f"{artifact}_version"])
        try:
            return CHECKSUMS[(artifact, version, arch)]
        except KeyError:
            raise ClusterConfigError(
                f"key '{artifact}_sha256': no pinned digest for {artifact} {version} on {arch}; set it"
            ) from None

    @property
    def endpoint(self) -> str:
        return f"{self.endpoint_host}:{self.endpoint_port}"

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_control_plane)

    @property
    def first_control_plane(self) -> Node:
        return self.control_planes[0]

    @property
    def keepalived(self) -> bool:
        return self.load_balancer == "keepalived"

    def node(self, name: str) -> Node:
        """The node for an inventory host name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def setting(self, key: str) -> Any:
        return self.settings[key]


# ---------------------------------------------------------------- building


def build(inventory: Any, defaults: Mapping[str, Any], *, write_secrets: bool = True) -> Cluster:
    """Build and validate the cluster model from a pyinfra inventory and merged defaults."""
    errors: list[str] = []
    hosts = _hosts_by_role(inventory, errors)
    if not any(role == CONTROL_PLANE_GROUP for _, role in hosts):
        raise ClusterConfigError(_format(errors))

    table = {**DEFAULTS, **defaults}
    values = _cluster_values(hosts, table, errors)
    nodes = _nodes(hosts, errors)
    if not any(n.is_control_plane for n in nodes):
        raise ClusterConfigError(_format(errors))

    _check_versions(values, errors)
    network = _check_network(values, nodes, errors)
    endpoint = _endpoint(values, nodes, errors)
    _check_settings(values, errors)
    if errors:
        raise ClusterConfigError(_format(errors))

    ha = len([n for n in nodes if n.is_control_plane]) > 1
    load_balancer = values["api_load_balancer"] if ha else None
    name = values["cluster_name"]
    secrets_dir = values["secrets_dir"] or str(Path.home() / ".config" / "kubeadm-pyinfra" / name)
    kubeconfig = values["kubeconfig_path"] or str(Path.home() / ".kube" / f"{name}.conf")
    cluster_secrets: dict[str, str] = {}
    if load_balancer == "keepalived":
        cluster_secrets = credentials.load_or_create(
            os.path.expanduser(secrets_dir), credentials.CLUSTER_SECRETS, write=write_secrets
        )
    component_keys = set(table) - set(DEFAULTS) - set(HOST_KEYS)
    return Cluster(
        name=name,
        kube_version=values["kube_version"].lstrip("v"),
        kube_deb_revision=str(values["kube_deb_revision"]),
        pod_cidr=str(ipaddress.ip_network(values["pod_cidr"])),
        service_cidr=str(ipaddress.ip_network(values["service_cidr"])),
        dns_domain=values["dns_domain"],
        image_repository=values["image_repository"].rstrip("/"),
        nodes=tuple(nodes),
        endpoint_host=endpoint[0],
        endpoint_port=endpoint[1],
        apiserver_port=int(values["apiserver_port"]),
        api_lb_port=int(values["api_lb_port"]),
        load_balancer=load_balancer,
        vip=values["vip"] if ha else None,
        node_network=str(network),
        kubeconfig_path=os.path.expanduser(kubeconfig),
        secrets_dir=os.path.expanduser(secrets_dir),
        control_plane_schedulable=bool(values["control_plane_schedulable"]),
        extra_cert_sans=tuple(str(v) for v in values["apiserver_cert_sans"]),
        settings={key: values[key] for key in sorted(component_keys)},
        secrets=cluster_secrets,
    )


def _format(errors: list[str]) -> str:
    lines = "\n".join(f"  - {e}" for e in errors)
    return f"invalid cluster inventory/data ({len(errors)} problem(s)):\n{lines}"


def _group(inventory: Any, name: str) -> list[Any]:
    try:
        return list(inventory.get_group(name))
    except Exception:  # pyinfra raises NoGroupError for an unknown group
        return []


def _hosts_by_role(inventory: Any, errors: list[str]) -> list[tuple[Any, str]]:
    """Every inventory host with its role; group membership errors are collected."""
    control_planes = _group(inventory, CONTROL_PLANE_GROUP)
    workers = _group(inventory, WORKER_GROUP)
    if not control_planes:
        errors.append(
            f"group {CONTROL_PLANE_GROUP!r} is empty: a cluster needs 1 or 3 (an odd number) "
            "of control planes"
        )
    elif len({h.name for h in control_planes}) % 2 == 0:
        names = ", ".join(sorted({h.name for h in control_planes}))
        errors.append(
            f"group {CONTROL_PLANE_GROUP!r} has {len({h.name for h in control_planes})} hosts "
            f"({names}): stacked etcd needs an odd number (1, 3, 5)"
        )
    cp_names = {h.name for h in control_planes}
    worker_names = {h.name for h in workers}
    for host in inventory:
        in_cp, in_w = host.name in cp_names, host.name in worker_names
        if in_cp and in_w:
            errors.append(
                f"host {host.name!r}: in both {CONTROL_PLANE_GROUP!r} and {WORKER_GROUP!r}; "
                "expected exactly one"
            )
        elif not in_cp and not in_w:
            errors.append(
                f"host {host.name!r}: in neither {CONTROL_PLANE_GROUP!r} nor {WORKER_GROUP!r}; "
                "expected exactly one"
            )
    unique: dict[str, Any] = {}
    for host in control_planes:
        unique.setdefault(host.name, (host, CONTROL_PLANE_GROUP))
    for host in workers:
        unique.setdefault(host.name, (host, WORKER_GROUP))
    return list(unique.values())


def _cluster_values(
    hosts: list[tuple[Any, str]], table: Mapping[str, Any], errors: list[str]
) -> dict[str, Any]:
    """Cluster-wide keys: the same value on every host, else an error naming both hosts."""
    values: dict[str, Any] = {}
    source: dict[str, str] = {}
    for host, _role in hosts:
        for key, default in table.items():
            if key in HOST_KEYS:
                continue
            value = host.data.get(key, default)
            if key not in values:
                values[key], source[key] = value, host.name
            elif value != values[key]:
                errors.append(
                    f"key {key!r}: {values[key]!r} on host {source[key]!r} but {value!r} on host "
                    f"{host.name!r}; a cluster-wide key must be the same on every host"
                )
    return values


def _address_of(host: Any) -> str:
    return str(host.data.get("ssh_hostname") or host.name)


def _nodes(hosts: list[tuple[Any, str]], errors: list[str]) -> list[Node]:
    """Per-host values: node IP (default: the SSH address) and node name, both unique."""
    nodes: list[Node] = []
    counters = {CONTROL_PLANE_GROUP: 0, WORKER_GROUP: 0}
    by_ip: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for host, role in hosts:
        raw_ip = host.data.get("node_ip") or _address_of(host)
        try:
            ip = ipaddress.IPv4Address(str(raw_ip).split("@")[-1])
        except ValueError:
            errors.append(
                f"host {host.name!r}: node_ip {raw_ip!r} is not an IPv4 address; set 'node_ip' "
                "(the address the cluster uses) in the host's data"
            )
            continue
        node_name = str(host.data.get("node_name") or _bare_name(host.name)).lower()
        if not _NODE_NAME.match(node_name) or _looks_like_ip(node_name):
            node_name_hint = "set 'node_name' (lower-case DNS name) in the host's data"
            if _looks_like_ip(node_name):
                node_name = f"node-{str(ip).replace('.', '-')}"
            else:
                errors.append(f"host {host.name!r}: node name {node_name!r} is invalid; {node_name_hint}")
                continue
        if str(ip) in by_ip:
            errors.append(
                f"host {host.name!r}: node_ip {ip} is also used by host {by_ip[str(ip)]!r}; "
                "node IPs must be unique"
            )
        if node_name in by_name:
            errors.append(
                f"host {host.name!r}: node name {node_name!r} is also used by host "
                f"{by_name[node_name]!r}; node names must be unique"
            )
        by_ip[str(ip)], by_name[node_name] = host.name, node_name
        nodes.append(
            Node(
                name=host.name,
                node_name=node_name,
                role=role,
                node_ip=str(ip),
                index=counters[role],
                keepalived_interface=host.data.get("keepalived_interface"),
            )
        )
        counters[role] += 1
    return nodes


def _bare_name(name: str) -> str:
    """An inventory name without a connector prefix ("@vagrant/node1" -> "node1") or SSH user."""
    if name.startswith("@"):
        name = name.split("/", 1)[-1]
    return name.split("@")[-1]


def _looks_like_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_versions(values: Mapping[str, Any], errors: list[str]) -> None:
    """kube_version is a supported X.Y.Z; the pinned containerd supports its minor; digests are known."""
    version = str(values["kube_version"])
    match = _VERSION.match(version)
    release: Release | None = None
    if not match:
        errors.append(f"key 'kube_version': {version!r} is malformed; expected X.Y.Z, e.g. '{DEFAULTS['kube_version']}'")
    else:
        minor = f"{match.group(1)}.{match.group(2)}"
        release = RELEASES.get(minor)
        if release is None:
            supported = ", ".join(RELEASES)
            errors.append(
                f"key 'kube_version': {version!r} is not supported; supported minor releases: {supported}"
            )
    if not re.match(r"^[0-9][0-9A-Za-z.+~]*$", str(values["kube_deb_revision"])):
        errors.append(f"key 'kube_deb_revision': {values['kube_deb_revision']!r} is malformed; expected e.g. '1.1'")
    for artifact in ARTIFACTS:
        key = f"{artifact}_version"
        if key not in values:
            continue
        if not isinstance(values[key], str) or not _PLAIN_VERSION.match(values[key]):
            errors.append(f"key {key!r}: {values[key]!r} is malformed; expected X.Y.Z, e.g. '2.3.4'")
            continue
        digest = values.get(f"{artifact}_sha256")
        if digest is not None and not (isinstance(digest, str) and re.match(r"^[0-9a-f]{64}$", digest)):
            errors.append(f"key '{artifact}_sha256': {digest!r} is not a SHA-256 (64 lower-case hex digits)")
        elif digest is None and not any(k[:2] == (artifact, values[key]) for k in CHECKSUMS):
            errors.append(
                f"key '{artifact}_sha256' is required: {artifact} {values[key]} has no pinned digest "
                "(set the release archive's SHA-256)"
            )
    containerd = values.get("containerd_version")
    if release and isinstance(containerd, str) and _PLAIN_VERSION.match(containerd):
        if not _containerd_supported(containerd, release) and values.get("allow_unsupported_containerd") is not True:
            lines = ", ".join(f"{v}+" for v in release.containerd)
            errors.append(
                f"key 'containerd_version': {containerd} does not support Kubernetes {version}; "
                f"supported for {'.'.join(version.split('.')[:2])}: {lines} (containerd RELEASES.md)"
            )


def _containerd_supported(version: str, release: Release) -> bool:
    """Whether containerd VERSION is at or above the lowest supported patch of its own line."""
    parts = tuple(int(p) for p in version.split("."))
    for lowest in release.containerd:
        low = tuple(int(p) for p in lowest.split("."))
        if parts[:2] == low[:2] and parts >= low:
            return True
    return False


def _network(values: Mapping[str, Any], key: str, errors: list[str]) -> ipaddress.IPv4Network | None:
    raw = values.get(key)
    try:
        return ipaddress.IPv4Network(str(raw), strict=True)
    except ValueError as exc:
        errors.append(f"key {key!r}: {raw!r} is not an IPv4 network in CIDR form ({exc})")
        return None


def _check_network(
    values: Mapping[str, Any], nodes: list[Node], errors: list[str]
) -> ipaddress.IPv4Network:
    """Pod, service and node networks must not overlap; control planes share one subnet."""
    pod = _network(values, "pod_cidr", errors)
    service = _network(values, "service_cidr", errors)
    control_planes = [n for n in nodes if n.is_control_plane]
    if values.get("node_network"):
        node_net = _network(values, "node_network", errors) or ipaddress.IPv4Network("0.0.0.0/32")
    else:
        node_net = ipaddress.IPv4Network(f"{control_planes[0].node_ip}/24", strict=False)
    # Only keepalived needs one subnet (the VIP moves between the control planes); an external
    # load balancer reaches control planes in any subnet (e.g. one per availability zone).
    shared_subnet = len(control_planes) > 1 and values.get("api_load_balancer") == "keepalived"
    for cp in control_planes if shared_subnet or values.get("node_network") else ():
        if ipaddress.IPv4Address(cp.node_ip) not in node_net:
            errors.append(
                f"host {cp.name!r}: node_ip {cp.node_ip} is outside node_network {node_net}; "
                "control planes must share one subnet (set 'node_network')"
            )
    if pod and service and pod.overlaps(service):
        errors.append(f"keys 'pod_cidr' {pod} and 'service_cidr' {service} overlap; they must be disjoint")
    for key, net in (("pod_cidr", pod), ("service_cidr", service)):
        if net is None:
            continue
        if net.overlaps(node_net):
            errors.append(f"key {key!r}: {net} overlaps the node network {node_net}")
        for node in nodes:
            if ipaddress.IPv4Address(node.node_ip) in net:
                errors.append(f"key {key!r}: {net} contains node_ip {node.node_ip} of host {node.name!r}")
    return node_net


def _endpoint(
    values: Mapping[str, Any], nodes: list[Node], errors: list[str]
) -> tuple[str, int]:
    """The control-plane endpoint: VIP:16443 (HA), an explicit endpoint, or the lone control plane."""
    control_planes = [n for n in nodes if n.is_control_plane]
    ha = len(control_planes) > 1
    for key in ("api_lb_port", "apiserver_port"):
        if not isinstance(values[key], int) or not 0 < values[key] < 65536:
            errors.append(f"key {key!r}: {values[key]!r} is not a TCP port (1-65535)")
    if values["api_load_balancer"] not in LOAD_BALANCERS:
        errors.append(
            f"key 'api_load_balancer': {values['api_load_balancer']!r}; expected one of {LOAD_BALANCERS}"
        )
    vip, explicit = values.get("vip"), values.get("control_plane_endpoint")
    if vip:
        _check_vip(str(vip), values, nodes, errors)
    if explicit:
        host, _, port = str(explicit).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            errors.append(
                f"key 'control_plane_endpoint': {explicit!r}; expected HOST:PORT, e.g. 'api.example.com:16443'"
            )
            return "", 0
        return host, int(port)
    if ha:
        if values["api_load_balancer"] == "external":
            errors.append(
                "key 'control_plane_endpoint' is required with api_load_balancer 'external' "
                f"and {len(control_planes)} control planes (the load balancer's HOST:PORT)"
            )
        elif not vip:
            names = ", ".join(n.name for n in control_planes)
            errors.append(
                f"{len(control_planes)} control planes ({names}) need a shared endpoint: set 'vip' "
                "(keepalived + HAProxy on the control planes) or 'control_plane_endpoint'"
            )
        return str(vip or ""), int(values["api_lb_port"]) if isinstance(values["api_lb_port"], int) else 0
    if not control_planes:
        return "", 0
    return control_planes[0].node_ip, int(values["apiserver_port"]) if isinstance(values["apiserver_port"], int) else 0


def _check_vip(vip: str, values: Mapping[str, Any], nodes: list[Node], errors: list[str]) -> None:
    try:
        address = ipaddress.IPv4Address(vip)
    except ValueError:
        errors.append(f"key 'vip': {vip!r} is not an IPv4 address")
        return
    for node in nodes:
        if node.node_ip == vip:
            errors.append(f"key 'vip': {vip} is the node_ip of host {node.name!r}; the VIP must be unused")
    control_planes = [n for n in nodes if n.is_control_plane]
    if not control_planes:
        return
    if values.get("node_network"):
        try:
            net = ipaddress.IPv4Network(str(values["node_network"]))
        except ValueError:
            return
    else:
        net = ipaddress.IPv4Network(f"{control_planes[0].node_ip}/24", strict=False)
    if address not in net or address in (net.network_address, net.broadcast_address):
        errors.append(
            f"key 'vip': {vip} is outside the control planes' subnet {net}; keepalived can only "
            "hold an address of the control planes' own network"
        )


def _check_settings(values: Mapping[str, Any], errors: list[str]) -> None:
    """Component keys with a fixed shape."""
    checks: dict[str, tuple[Any, str]] = {
        "keepalived_router_id": (lambda v: isinstance(v, int) and 1 <= v <= 255, "an integer 1-255"),
        "keepalived_unicast": (lambda v: isinstance(v, bool), "true or false"),
        "haproxy_stats_port": (lambda v: isinstance(v, int) and 0 < v < 65536, "a TCP port"),
        "calico_encapsulation": (lambda v: v in CALICO_ENCAPSULATIONS, f"one of {CALICO_ENCAPSULATIONS}"),
        "calico_version": (lambda v: isinstance(v, str) and bool(_CALICO_VERSION.match(v)), "vX.Y.Z, e.g. 'v3.30.3'"),
        "kube_apt_repo_url": (_is_url, "an http(s) URL ('{minor}' is replaced by e.g. '1.34')"),
        "calico_operator_manifest_url": (_is_url, "an http(s) URL ('{version}' is replaced by calico_version)"),
        "kube_apt_key_url": (lambda v: v is None or _is_url(v), "an http(s) URL or None"),
        "containerd_download_url": (_is_url, "an http(s) URL ('{version}', '{arch}' are filled in)"),
        "runc_download_url": (_is_url, "an http(s) URL ('{version}', '{arch}' are filled in)"),
        "allow_unsupported_containerd": (lambda v: isinstance(v, bool), "true or false"),
        "allow_cgroup_v1": (lambda v: isinstance(v, bool), "true or false"),
        "calico_crds_manifest_url": (_is_url, "an http(s) URL ('{version}' is replaced by calico_version)"),
        "registry_mirror": (lambda v: v is None or _is_url(v), "an http(s) URL ('{registry}' optional) or None"),
        "control_plane_schedulable": (lambda v: isinstance(v, bool), "true or false"),
        "apiserver_cert_sans": (
            lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) and _is_san(x) for x in v),
            "a list of DNS names or IP addresses",
        ),
    }
    for key, (ok, expected) in checks.items():
        if key in values and not ok(values[key]):
            errors.append(f"key {key!r}: {values[key]!r} is invalid; expected {expected}")


def _is_san(value: str) -> bool:
    """A DNS name (wildcards allowed in the first label) or an IP address."""
    return _looks_like_ip(value) or bool(_NODE_NAME.match(value.removeprefix("*.")))


def _is_url(value: Any) -> bool:
    return isinstance(value, str) and bool(re.match(r"^https?://[^\s]+$", value))


# ------------------------------------------------------------ before connect


def check_before_connect(defaults_factory: Callable[[], Mapping[str, Any]]) -> None:
    """Validate the inventory as soon as pyinfra has it, so bad input touches no host.

    Called from `group_data/all.py`, which pyinfra's CLI loads with every inventory
    before it connects: the state's `init` (inventory ready, no connection yet) is
    wrapped to build the model first and stop the run on error.
    """
    from pyinfra.context import ctx_state

    if not ctx_state.isset():
        return
    state = ctx_state.get()
    if getattr(state, "_cluster_model_check", False):
        return
    original_init = state.init

    def init(inventory: Any, config: Any, *args: Any, **kwargs: Any) -> None:
        original_init(inventory, config, *args, **kwargs)
        try:
            build(inventory, defaults_factory())
        except ClusterConfigError as exc:
            import click

            click.secho(f"--> {exc}\n--> no host was contacted", fg="red", err=True)
            raise SystemExit(2) from None

    state.init = init
    state._cluster_model_check = True


def merged(defaults: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """One defaults table from the components' DEFAULTS; a key declared twice is a bug."""
    table: dict[str, Any] = {}
    for part in defaults:
        for key, value in part.items():
            if key in table:
                raise ValueError(f"data key {key!r} is declared by two components")
            table[key] = value
    return table
