"""The cluster model: inventory + data in, one validated `Cluster` out.

Every validation error of the project lives here. The model is built before any
host is contacted (see deploys/context.py, `before_connect`) and again, from the same inputs,
by `deploys/cluster.py`; deploy modules read only the model. Every key's type is
declared beside its default (`deploys.schema.Key`), and every value is parsed
against it before anything else: no value reaches a shell, a template or a local
path unchecked, and a key nobody declared is a typo.

`build` reads the inventory (`Source`, checked by `SOURCE_RULES`), parses every value
to its type (`parse` -> `Parsed`, checked by `NODE_RULES`), then runs `CLUSTER_RULES`
on the typed values. A rule is a small function that takes one of those and returns
its problems (each naming the host or key); all problems of a step are reported
together. Rules shared with cloud/ and interop/ live in `deploys.rules`.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, NoReturn

from pyinfra.api.exceptions import PyinfraError

from deploys import credentials, rules, schema
from deploys.schema import HOST, Key

CONTROL_PLANE_GROUP = "control_plane"
WORKER_GROUP = "workers"
LOAD_BALANCERS = ("keepalived", "external")
CALICO_ENCAPSULATIONS = ("IPIP", "IPIPCrossSubnet", "VXLAN", "VXLANCrossSubnet", "None")
EXIT_INVALID = 2  # the exit status of every run stopped for invalid input

# The model's own keys. Component modules declare theirs beside their deploy;
# `deploys.components` merges them into the one table the model reads.
KEYS: dict[str, Key] = {
    "cluster_name": Key("kubernetes", schema.DNS_NAME),
    "kube_version": Key("1.37.1", schema.KUBE_VERSION),
    "kube_deb_revision": Key("1.1", schema.DEB_REVISION),
    "pod_cidr": Key("10.244.0.0/16", schema.CIDR),
    "service_cidr": Key("10.96.0.0/12", schema.CIDR),
    "dns_domain": Key("cluster.local", schema.DNS_NAME),
    "image_repository": Key("registry.k8s.io", schema.REGISTRY),
    "vip": Key(None, schema.optional(schema.IPV4, "no VIP")),
    "control_plane_endpoint": Key(None, schema.optional(schema.HOST_PORT, "derived")),
    "api_load_balancer": Key("keepalived", schema.enum(LOAD_BALANCERS)),
    "api_lb_port": Key(16443, schema.PORT),
    "apiserver_port": Key(6443, schema.PORT),
    "node_network": Key(None, schema.optional(schema.CIDR, "the /24 around the first control plane")),
    "kubeconfig_path": Key(None, schema.optional(schema.LOCAL_PATH, "~/.kube/CLUSTER.conf")),
    "secrets_dir": Key(None, schema.optional(schema.LOCAL_PATH, "~/.config/kubeadm-pyinfra/CLUSTER")),
    "control_plane_schedulable": Key(False, schema.BOOL),  # True: no NoSchedule taint on control planes
    "apiserver_cert_sans": Key([], schema.SANS),  # extra DNS names / IPs in the API server certificate
    # Per host (allowed to differ between hosts).
    "node_ip": Key(None, schema.optional(schema.IPV4, "the SSH address"), HOST),
    "node_name": Key(None, schema.optional(schema.DNS_NAME, "the inventory name"), HOST),
    "keepalived_interface": Key(None, schema.optional(schema.INTERFACE, "the interface holding node_ip"), HOST),
}
DEFAULTS: dict[str, Any] = schema.defaults(KEYS)
HOST_KEYS = tuple(name for name, key in KEYS.items() if key.scope == HOST)


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


def key_table(defaults: Mapping[str, Any]) -> dict[str, Key]:
    """Every declared key (model and components) with DEFAULTS' values as its defaults."""
    from deploys import components  # components imports this module: resolved at call time

    table = dict(components.schema())
    unknown = sorted(set(defaults) - set(table))
    if unknown:
        raise ValueError(f"defaults for undeclared keys {unknown}: declare them in a component's KEYS")
    return {name: Key(defaults.get(name, key.default), key.type, key.scope) for name, key in table.items()}


def build(inventory: Any, defaults: Mapping[str, Any], *, write_secrets: bool = True) -> Cluster:
    """Build and validate the cluster model from a pyinfra inventory and merged defaults.

    Three steps, each reporting all its problems together: the inventory's groups and keys
    (`SOURCE_RULES`), every value parsed to its declared type (`parse`; then `NODE_RULES` on the
    nodes that parsed), and the cluster's rules on the typed values (`CLUSTER_RULES`). Each step
    runs only on what the one before accepted. Nothing is written (the secrets file included)
    until the whole model is valid.
    """
    source = Source.read(inventory, key_table(defaults))
    errors = [error for rule in SOURCE_RULES for error in rule(source)]
    if not source.control_planes:
        raise ClusterConfigError(_format(errors))

    parsed, problems = parse(source)
    problems += [error for rule in NODE_RULES for error in rule(parsed)]
    errors += problems
    if problems or not parsed.control_planes:
        raise ClusterConfigError(_format(errors))  # typed values only from here on

    errors += [error for rule in CLUSTER_RULES for error in rule(parsed)]
    if errors:
        raise ClusterConfigError(_format(errors))
    return _assemble(parsed, source.keys, write_secrets)


def _assemble(parsed: Parsed, keys: Mapping[str, Key], write_secrets: bool) -> Cluster:
    """The Cluster of valid PARSED values, with its secrets (made and written if WRITE_SECRETS)."""
    values = parsed.values
    host, port = endpoint(parsed)
    load_balancer = values["api_load_balancer"] if parsed.ha else None
    name = values["cluster_name"]
    secrets_dir = os.path.expanduser(values["secrets_dir"] or f"~/.config/kubeadm-pyinfra/{name}")
    kubeconfig = os.path.expanduser(values["kubeconfig_path"] or f"~/.kube/{name}.conf")
    try:
        cluster_secrets = credentials.load_or_create(
            secrets_dir, credentials.wanted(keepalived=load_balancer == "keepalived"), write=write_secrets
        )
    except ValueError as exc:
        raise ClusterConfigError(_format([str(exc)])) from None
    component_keys = {k for k in keys if k not in KEYS}
    return Cluster(
        name=name,
        kube_version=values["kube_version"].lstrip("v"),
        kube_deb_revision=values["kube_deb_revision"],
        pod_cidr=values["pod_cidr"],
        service_cidr=values["service_cidr"],
        dns_domain=values["dns_domain"],
        image_repository=values["image_repository"].rstrip("/"),
        nodes=parsed.nodes,
        endpoint_host=host,
        endpoint_port=port,
        apiserver_port=values["apiserver_port"],
        api_lb_port=values["api_lb_port"],
        load_balancer=load_balancer,
        vip=values["vip"] if parsed.ha else None,
        node_network=str(node_network(parsed).net),
        kubeconfig_path=kubeconfig,
        secrets_dir=secrets_dir,
        control_plane_schedulable=values["control_plane_schedulable"],
        extra_cert_sans=tuple(values["apiserver_cert_sans"]),
        settings={key: values[key] for key in sorted(component_keys)},
        secrets=cluster_secrets,
    )


def _format(errors: list[str]) -> str:
    lines = "\n".join(f"  - {e}" for e in dict.fromkeys(errors))
    return f"invalid cluster inventory/data ({len(dict.fromkeys(errors))} problem(s)):\n{lines}"


def show(value: Any, limit: int = 60) -> str:
    """VALUE's repr, trimmed to LIMIT characters (a hostile value stays readable and short)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f"{len(value)} characters" if isinstance(value, str) else f"{len(text)} characters shown"
    return f"{text[:limit]}... ({size})"


# ------------------------------------------------------------ the inventory as read


def _group(inventory: Any, name: str) -> list[Any]:
    try:
        return list(inventory.get_group(name))
    except Exception:  # pyinfra raises NoGroupError for an unknown group
        return []


@dataclass(frozen=True)
class Source:
    """The inventory as read, before any value is parsed: its groups and the declared keys."""

    inventory: Any
    keys: Mapping[str, Key]
    control_planes: tuple[Any, ...]  # group control_plane's hosts
    workers: tuple[Any, ...]  # group workers' hosts

    @classmethod
    def read(cls, inventory: Any, keys: Mapping[str, Key]) -> Source:
        return cls(inventory, keys, tuple(_group(inventory, CONTROL_PLANE_GROUP)), tuple(_group(inventory, WORKER_GROUP)))

    @property
    def hosts(self) -> list[tuple[Any, str]]:
        """Every grouped host once, with its role: control planes first (a host in both is one)."""
        unique: dict[str, tuple[Any, str]] = {}
        for host in self.control_planes:
            unique.setdefault(host.name, (host, CONTROL_PLANE_GROUP))
        for host in self.workers:
            unique.setdefault(host.name, (host, WORKER_GROUP))
        return list(unique.values())

    def origin(self, host: Any, key: str) -> str:
        """Where HOST's value of KEY comes from, in the user's terms."""
        return _origin(self.inventory, host, key)


def _origin(inventory: Any, host: Any, key: str) -> str:
    """Where HOST's value of KEY comes from, in the user's terms."""
    if key in _safe(lambda: inventory.get_override_data()):
        return "--data on the command line"
    if key in _safe(lambda: inventory.get_host_data(host.name)):
        return "its entry in the inventory"
    for group in reversed(list(getattr(host, "groups", ()) or ())):
        if key in _safe(lambda: inventory.get_group_data(group)):
            return f"group data {group!r}"
    if key in _safe(lambda: inventory.get_data()):
        return "the inventory's data for all hosts"
    return "the defaults"


def _safe(read: Callable[[], Any]) -> Mapping[str, Any]:
    try:
        data = read()
    except Exception:  # an Inventory without that layer
        return {}
    return data if isinstance(data, Mapping) else {}


# Rules on the inventory as read: each takes the Source and returns its problems.


def check_control_plane_count(source: Source) -> list[str]:
    """Group control_plane holds an odd number of hosts (rules.odd_control_plane_count)."""
    names = sorted({h.name for h in source.control_planes})
    if not names:
        return [
            f"group {CONTROL_PLANE_GROUP!r} is empty: a cluster needs 1 or 3 (an odd number) of control planes"
        ]
    # allow_even_control_planes (deploys/removal.py) keeps a cluster between removal and replacement.
    allowed = all(h.data.get("allow_even_control_planes") is True for h in source.control_planes)
    if not rules.odd_control_plane_count(len(names)) and not allowed:
        return [
            f"group {CONTROL_PLANE_GROUP!r} has {len(names)} hosts ({', '.join(names)}): "
            "stacked etcd needs an odd number (1, 3, 5); while a control plane is being replaced, "
            "say so with `--data allow_even_control_planes=true`"
        ]
    return []


def check_group_membership(source: Source) -> list[str]:
    """Every inventory host is in exactly one of control_plane and workers."""
    cp_names = {h.name for h in source.control_planes}
    worker_names = {h.name for h in source.workers}
    errors: list[str] = []
    for host in source.inventory:
        in_cp, in_w = host.name in cp_names, host.name in worker_names
        if in_cp == in_w:
            errors.append(
                f"host {host.name!r}: in {'both' if in_cp else 'neither'} {CONTROL_PLANE_GROUP!r} "
                f"{'and' if in_cp else 'nor'} {WORKER_GROUP!r}; expected exactly one"
            )
    return errors


def check_unknown_keys(source: Source) -> list[str]:
    """Every data key is declared here or belongs to pyinfra (schema.FOREIGN_KEYS); else a typo.

    A name starting with '_' that is close to none of pyinfra's own ('_sudo'...) is a group data
    file's helper (pyinfra 3.10 keeps every name but '__'-prefixed and imported ones as data).
    """
    keys = source.keys
    known = [*keys, *schema.FOREIGN_KEYS]
    errors: list[str] = []
    for host in source.inventory:
        for key in sorted(host.data.dict()):
            if key in keys or key in schema.FOREIGN_KEYS:
                continue
            candidates = [k for k in known if k.startswith("_")] if key.startswith("_") else known
            close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
            if key.startswith("_") and not close:
                continue
            suggestion = f"; did you mean {close[0]!r}?" if close else "; see the README's data reference"
            origin = source.origin(host, key)
            where = f"host {host.name!r}" if origin == "its entry in the inventory" else origin
            errors.append(f"{where}: unknown key {key!r}{suggestion}")
    return errors


SOURCE_RULES: tuple[Callable[[Source], list[str]], ...] = (
    check_control_plane_count,
    check_group_membership,
    check_unknown_keys,
)


# ------------------------------------------------------------ parsing: every value typed


@dataclass(frozen=True)
class Parsed:
    """The inventory's values, each of its declared type: what the node and cluster rules read."""

    values: Mapping[str, Any]  # every cluster-wide key (typed once parsing found no problem)
    nodes: tuple[Node, ...]  # the hosts whose per-host values parsed
    named_by: Mapping[str, str] = field(default_factory=dict)  # inventory name -> how its node name was found

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def ha(self) -> bool:
        """More than one control plane: the API needs a shared endpoint."""
        return len(self.control_planes) > 1


def parse(source: Source) -> tuple[Parsed, list[str]]:
    """Every cluster-wide and per-host value parsed to its declared type, with the problems found."""
    hosts = source.hosts
    values, errors = parse_cluster_values(source, hosts)
    nodes: list[Node] = []
    named_by: dict[str, str] = {}
    counters = {CONTROL_PLANE_GROUP: 0, WORKER_GROUP: 0}
    for host, role in hosts:
        parsed = parse_node(source, host, role, counters[role])
        errors += parsed.errors
        if parsed.node is not None:
            nodes.append(parsed.node)
            named_by[host.name] = parsed.named_by
            counters[role] += 1
    return Parsed(values, tuple(nodes), named_by), errors


def parse_cluster_values(source: Source, hosts: list[tuple[Any, str]]) -> tuple[dict[str, Any], list[str]]:
    """Cluster-wide keys: typed, and the same value on every host, else an error naming key, host and value."""
    values: dict[str, Any] = {}
    first_host: dict[str, Any] = {}
    errors: list[str] = []
    for host, _role in hosts:
        for key, spec in source.keys.items():
            if spec.scope == HOST:
                continue
            value = host.data.get(key, spec.default)
            if key not in first_host:
                values[key], first_host[key] = value, host
                problem = spec.type.problem(value)
                if problem:
                    errors.append(
                        f"key {key!r} = {show(value)} on host {host.name!r} (from {source.origin(host, key)}): "
                        f"{problem}"
                    )
            elif value != values[key]:
                first = first_host[key]
                errors.append(
                    f"key {key!r}: {show(values[key])} on host {first.name!r} but {show(value)} on host "
                    f"{host.name!r} (from {source.origin(host, key)}); a cluster-wide key must be the same on "
                    "every host: set it once in group data, not per host"
                )
    return values, errors


@dataclass(frozen=True)
class ParsedNode:
    """One host's per-host values: its Node if they all parsed, and the problems found."""

    node: Node | None
    named_by: str = ""
    errors: tuple[str, ...] = ()


def parse_node(source: Source, host: Any, role: str, index: int) -> ParsedNode:
    """HOST's node: its keepalived_interface, node IP and node name, each typed."""
    errors: list[str] = []
    interface = host.data.get("keepalived_interface")
    problem = source.keys["keepalived_interface"].type.problem(interface)
    if problem:
        errors.append(
            f"host {host.name!r}: key 'keepalived_interface' = {show(interface)} "
            f"(from {source.origin(host, 'keepalived_interface')}): {problem}"
        )
    ip, ip_error = parse_node_ip(source, host)
    errors += ip_error
    named, name_error = parse_node_name(source, host, ip) if ip else (None, [])
    errors += name_error
    if ip is None or named is None or problem:
        return ParsedNode(None, errors=tuple(errors))
    node_name, how = named
    node = Node(
        name=host.name, node_name=node_name, role=role, node_ip=ip, index=index, keepalived_interface=interface
    )
    return ParsedNode(node, how, tuple(errors))


def _address_of(host: Any) -> str:
    return str(host.data.get("ssh_hostname") or host.name)


def parse_node_ip(source: Source, host: Any) -> tuple[str | None, list[str]]:
    """HOST's node IP: its typed node_ip, else its SSH address (refused when unusable: rules.unusable_address)."""
    explicit = host.data.get("node_ip")
    if explicit is not None:
        problem = source.keys["node_ip"].type.problem(explicit)
        if problem:
            return None, [
                f"host {host.name!r}: key 'node_ip' = {show(explicit)} (from {source.origin(host, 'node_ip')}): "
                f"{problem}"
            ]
        reason = rules.unusable_address(explicit)
        if reason:
            return None, [f"host {host.name!r}: node_ip {explicit} is {reason}"]
        return str(explicit), []
    address = _address_of(host).split("@")[-1]
    if not schema.IPV4.valid(address):
        return None, [
            f"host {host.name!r}: no 'node_ip' set and its SSH address {show(address)} is not an IPv4 "
            "address; set 'node_ip' (the address the cluster uses) in the host's data"
        ]
    reason = rules.unusable_address(address)
    if reason:
        return None, [
            f"host {host.name!r}: no 'node_ip' set, so it would be its SSH address {address}, {reason}; "
            "set 'node_ip' (the address the cluster uses) in the host's data"
        ]
    return address, []


def parse_node_name(source: Source, host: Any, ip: str) -> tuple[tuple[str, str] | None, list[str]]:
    """HOST's Kubernetes node name and where it comes from: node_name, else its inventory name lower-cased."""
    explicit = host.data.get("node_name")
    if explicit is not None:
        problem = source.keys["node_name"].type.problem(explicit)
        if problem:
            return None, [
                f"host {host.name!r}: key 'node_name' = {show(explicit)} "
                f"(from {source.origin(host, 'node_name')}): {problem}"
            ]
        return (explicit, "its node_name"), []
    bare = _bare_name(host.name)
    if rules.is_ip(bare):
        return (f"node-{ip.replace('.', '-')}", f"derived from its node_ip, as its inventory name {bare!r} is an address"), []
    derived = bare.lower()
    how = "its inventory name" + (" lower-cased, as the kubelet does" if derived != bare else "")
    if not schema.is_dns_subdomain(derived) or rules.is_ip(derived):
        return None, [
            f"host {host.name!r}: {how} gives the node name {show(derived)}, which is no DNS-1123 name "
            "(lower-case letters, digits, '-' and '.'); set 'node_name' in the host's data"
        ]
    return (derived, how), []


def _bare_name(name: str) -> str:
    """An inventory name without a connector prefix ("@vagrant/node1" -> "node1") or SSH user."""
    if name.startswith("@"):
        name = name.split("/", 1)[-1]
    return name.split("@")[-1]


# ------------------------------------------------------------ rules on the parsed nodes


def check_unique_node_ips(parsed: Parsed) -> list[str]:
    """No two hosts share a node IP."""
    by_ip: dict[str, str] = {}
    errors: list[str] = []
    for node in parsed.nodes:
        if node.node_ip in by_ip:
            errors.append(
                f"host {node.name!r}: node_ip {node.node_ip} is also used by host {by_ip[node.node_ip]!r}; "
                "node IPs must be unique"
            )
        by_ip[node.node_ip] = node.name
    return errors


def check_unique_node_names(parsed: Parsed) -> list[str]:
    """No two hosts share a Kubernetes node name."""
    by_name: dict[str, str] = {}
    errors: list[str] = []
    for node in parsed.nodes:
        if node.node_name in by_name:
            how = parsed.named_by.get(node.name, "its node_name")
            errors.append(
                f"host {node.name!r}: node name {node.node_name!r} ({how}) is also used by host "
                f"{by_name[node.node_name]!r}; node names must be unique: set 'node_name'"
            )
        by_name[node.node_name] = node.name
    return errors


NODE_RULES: tuple[Callable[[Parsed], list[str]], ...] = (check_unique_node_ips, check_unique_node_names)


# ------------------------------------------------------------ rules on the typed cluster values


def check_kube_version(parsed: Parsed) -> list[str]:
    """kube_version's minor is one of RELEASES."""
    values = parsed.values
    if _release(values) is None:
        supported = ", ".join(RELEASES)
        return [
            f"key 'kube_version': {values['kube_version']!r} is not supported; supported minor releases: {supported}"
        ]
    return []


def _release(values: Mapping[str, Any]) -> Release | None:
    return RELEASES.get(values["kube_version"].lstrip("v").rsplit(".", 1)[0])


def check_pinned_digests(parsed: Parsed) -> list[str]:
    """Every downloaded artifact's version has a pinned digest, or the data gives one."""
    values = parsed.values
    errors: list[str] = []
    for artifact in ARTIFACTS:
        key = f"{artifact}_version"
        if key not in values:
            continue
        if values.get(f"{artifact}_sha256") is None and not any(k[:2] == (artifact, values[key]) for k in CHECKSUMS):
            errors.append(
                f"key '{artifact}_sha256' is required: {artifact} {values[key]} has no pinned digest "
                "(set the release archive's SHA-256)"
            )
    return errors


def check_containerd_supports_kube(parsed: Parsed) -> list[str]:
    """The pinned containerd supports kube_version's minor (containerd RELEASES.md), unless allowed."""
    values = parsed.values
    release = _release(values)
    containerd = values.get("containerd_version")
    allowed = values.get("allow_unsupported_containerd") is True  # a build RELEASES.md does not list, knowingly
    if release and containerd and not allowed and not _containerd_supported(containerd, release):
        version = values["kube_version"].lstrip("v")
        lines = ", ".join(f"{v}+" for v in release.containerd)
        return [
            f"key 'containerd_version': {containerd} does not support Kubernetes {version}; "
            f"supported for {version.rsplit('.', 1)[0]}: {lines} (containerd RELEASES.md); "
            "allow_unsupported_containerd = True accepts it"
        ]
    return []


def containerd_supports(version: str, kube_version: str) -> bool:
    """Whether containerd VERSION supports Kubernetes KUBE_VERSION's minor (RELEASES; False for an unknown minor)."""
    release = RELEASES.get(".".join(kube_version.lstrip("v").split(".")[:2]))
    return release is not None and _containerd_supported(version, release)


def _containerd_supported(version: str, release: Release) -> bool:
    """Whether containerd VERSION is at or above the lowest supported patch of its own line."""
    parts = tuple(int(p) for p in version.split("."))
    for lowest in release.containerd:
        low = tuple(int(p) for p in lowest.split("."))
        if parts[:2] == low[:2] and parts >= low:
            return True
    return False


@dataclass(frozen=True)
class NodeNetwork:
    """The control planes' network: node_network, or (derived) the /24 around the first control plane."""

    net: ipaddress.IPv4Network
    derived_from: Node | None  # the first control plane when node_network is not set

    def __str__(self) -> str:
        if self.derived_from is None:
            return f"node_network {self.net}"
        first = self.derived_from
        return (
            f"{self.net} (node_network is not set: taken as the /{rules.DEFAULT_NODE_PREFIX} around the first "
            f"control plane {first.name!r}, {first.node_ip}; set 'node_network' to your subnet)"
        )


def node_network(parsed: Parsed) -> NodeNetwork:
    """node_network, else the default around the first control plane (rules.default_node_network)."""
    if parsed.values["node_network"]:
        return NodeNetwork(ipaddress.IPv4Network(parsed.values["node_network"]), None)
    first = parsed.control_planes[0]
    return NodeNetwork(rules.default_node_network(first.node_ip), first)


def check_control_planes_share_subnet(parsed: Parsed) -> list[str]:
    """With keepalived (the VIP moves between them) or a node_network, control planes are inside it.

    An external load balancer reaches control planes in any subnet (e.g. one per availability zone).
    """
    values = parsed.values
    network = node_network(parsed)
    shared_subnet = parsed.ha and values["api_load_balancer"] == "keepalived"
    if not (shared_subnet or values["node_network"]):
        return []
    return [
        f"host {cp.name!r}: node_ip {cp.node_ip} is outside {network}; control planes must share one subnet"
        for cp in parsed.control_planes
        if ipaddress.IPv4Address(cp.node_ip) not in network.net
    ]


def check_pod_and_service_disjoint(parsed: Parsed) -> list[str]:
    """pod_cidr and service_cidr do not overlap."""
    pod = ipaddress.IPv4Network(parsed.values["pod_cidr"])
    service = ipaddress.IPv4Network(parsed.values["service_cidr"])
    if pod.overlaps(service):
        return [f"keys 'pod_cidr' {pod} and 'service_cidr' {service} overlap; they must be disjoint"]
    return []


def check_cluster_networks_clear_of_nodes(parsed: Parsed) -> list[str]:
    """pod_cidr and service_cidr overlap neither the node network nor any node's IP."""
    network = node_network(parsed)
    errors: list[str] = []
    for key in ("pod_cidr", "service_cidr"):
        net = ipaddress.IPv4Network(parsed.values[key])
        if net.overlaps(network.net):
            errors.append(f"key {key!r}: {net} overlaps the node network {network}")
        for node in parsed.nodes:
            if ipaddress.IPv4Address(node.node_ip) in net:
                errors.append(f"key {key!r}: {net} contains node_ip {node.node_ip} of host {node.name!r}")
    return errors


def endpoint(parsed: Parsed) -> tuple[str, int]:
    """The control-plane endpoint: an explicit endpoint, VIP:api_lb_port (HA), or the lone control plane."""
    values = parsed.values
    explicit = values["control_plane_endpoint"]
    if explicit:
        host, _, port = explicit.rpartition(":")
        return host, int(port)
    if parsed.ha:
        return values["vip"] or "", values["api_lb_port"]
    return parsed.control_planes[0].node_ip, values["apiserver_port"]


def check_shared_endpoint(parsed: Parsed) -> list[str]:
    """Several control planes need a shared endpoint: the VIP (keepalived) or control_plane_endpoint."""
    values = parsed.values
    if values["control_plane_endpoint"] or not parsed.ha:
        return []
    control_planes = parsed.control_planes
    if values["api_load_balancer"] == "external":
        return [
            "key 'control_plane_endpoint' is required with api_load_balancer 'external' "
            f"and {len(control_planes)} control planes (the load balancer's HOST:PORT)"
        ]
    if not values["vip"]:
        names = ", ".join(n.name for n in control_planes)
        return [
            f"{len(control_planes)} control planes ({names}) need a shared endpoint: set 'vip' "
            "(keepalived + HAProxy on the control planes) or 'control_plane_endpoint'"
        ]
    return []


def check_vip_unused(parsed: Parsed) -> list[str]:
    """The VIP is no node's IP."""
    vip = parsed.values["vip"]
    used = {node.node_ip: node.name for node in parsed.nodes}
    if vip and vip in used:
        return [f"key 'vip': {vip} is the node_ip of host {used[vip]!r}; the VIP must be unused"]
    return []


def check_vip_in_subnet(parsed: Parsed) -> list[str]:
    """The VIP is a host address (neither network nor broadcast) of the control planes' own subnet."""
    vip = parsed.values["vip"]
    if not vip:
        return []
    address = ipaddress.IPv4Address(vip)
    network = node_network(parsed)
    net = network.net
    used = {node.node_ip for node in parsed.nodes}
    # the highest of the subnet's last 16 host addresses that is free (net.hosts() without listing a /8)
    last = int(net.broadcast_address) - (1 if net.prefixlen < 31 else 0)
    first = int(net.network_address) + (1 if net.prefixlen < 31 else 0)
    candidates = (str(ipaddress.IPv4Address(a)) for a in range(last, max(first, last - 15) - 1, -1))
    free = next((a for a in candidates if a not in used), None)
    example = f", e.g. {free}" if free else ""
    for special, what in ((net.network_address, "network"), (net.broadcast_address, "broadcast")):
        if address == special and net.prefixlen < 31:
            return [
                f"key 'vip': {vip} is the {what} address of the control planes' subnet {network}, not a "
                f"host address; the VIP must be a free address inside it{example}"
            ]
    if address not in net:
        return [
            f"key 'vip': {vip} is outside the control planes' subnet {network}; keepalived can only "
            f"hold an address of the control planes' own network{example}"
        ]
    return []


CLUSTER_RULES: tuple[Callable[[Parsed], list[str]], ...] = (
    check_kube_version,
    check_pinned_digests,
    check_containerd_supports_kube,
    check_control_planes_share_subnet,
    check_pod_and_service_disjoint,
    check_cluster_networks_clear_of_nodes,
    check_vip_unused,
    check_vip_in_subnet,
    check_shared_endpoint,
)


# ------------------------------------------------------------ before connect


def stop(message: str, contacted: bool) -> NoReturn:
    """Print MESSAGE as pyinfra prints errors (no traceback) and end the run with EXIT_INVALID."""
    import click

    after = "hosts were contacted, but nothing was changed" if contacted else "no host was contacted"
    click.secho(f"--> {message}\n--> {after}", fg="red", err=True)
    raise SystemExit(EXIT_INVALID)


def skipped_group_data(inventory: Any, folder: Path) -> list[Path]:
    """This repository's group data files for the inventory's groups, when pyinfra did not load them.

    pyinfra 3.10 reads group_data/ from the current directory and from the inventory's own
    directory only (pyinfra_cli/inventory.py, make_inventory_from_files); group_data/all.py
    has the run checked before connecting (context.Run.checked), so an unchecked run did not load this folder.
    """
    groups = set(getattr(inventory, "groups", {}) or {}) | {"all"}
    return sorted(path for path in folder.glob("*.py") if path.stem in groups and path.stem != "all")


def merged(parts: Iterable[Mapping[str, Key]]) -> dict[str, Key]:
    """One key table from the components' KEYS; a key declared twice is a bug."""
    table: dict[str, Key] = {}
    for part in parts:
        for name, key in part.items():
            if name in table:
                raise ValueError(f"data key {name!r} is declared by two components")
            table[name] = key
    return table
