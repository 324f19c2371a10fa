"""kubespray inventory -> our cluster: each host with its role and data, validated by deploys.model.

Maps what kubespray v2.31.0 (its newest release; `interop.kubespray_release`) would do with the
inventory, or says why not: what each kubespray variable becomes (mapped, ignored with a warning, or
refused) is the table in docs/kubespray.md. In short: kube_control_plane -> control_plane,
kube_node -> workers (a control plane also in kube_node makes control planes schedulable), hosts in
no kubespray node group are not part of the cluster, groups kubespray does not know are ignored;
node_ip is `ip`, else `access_ip`, else the SSH address, each fallback stated; cluster keys get
kubespray's defaults where the inventory leaves them out (Calico VXLAN, cluster.local, ...).
Errors: what would break the cluster or silently differ; warnings: what is ignored or adapted.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from pyinfra.api import Inventory

from deploys import components, model, rules
from deploys.model import ClusterConfigError
from interop import ansible_inventory, kubespray_release
from interop.ansible_inventory import AnsibleInventory, Vaulted
from interop.report import Finding, KubesprayError, Report

# Group names of kubespray v2.31.0 (docs/ansible/inventory.md; roles/dynamic_groups/tasks/main.yml maps
# the old hyphenated names). `k8s-cluster` is no longer mapped, but stays a harmless parent group.
CONTROL_PLANE_GROUPS = ("kube_control_plane", "kube-master")
NODE_GROUPS = ("kube_node", "kube-node")
ETCD_GROUPS = ("etcd",)
CLUSTER_GROUPS = ("k8s_cluster", "k8s-cluster")
ROUTE_REFLECTOR_GROUPS = ("calico_rr", "calico-rr")
BASTION_GROUPS = ("bastion",)
NO_ROLE_GROUPS = ("no_floating", "no-floating")  # kubespray's, for OpenStack floating IPs: no cluster role
BUILTIN_GROUPS = ("all", "ungrouped")
KNOWN_GROUPS = (
    CONTROL_PLANE_GROUPS + NODE_GROUPS + ETCD_GROUPS + CLUSTER_GROUPS + ROUTE_REFLECTOR_GROUPS + BASTION_GROUPS
    + NO_ROLE_GROUPS + BUILTIN_GROUPS
)  # fmt: skip
KUBESPRAY_DEFAULTS = kubespray_release.DEFAULTS
API_LB_MODES = ("auto", "vip", "external")
VIP_PORT = 16443  # our HAProxy's port when the kubespray one collides with the API servers'
CALICO_MODES = ("Always", "CrossSubnet", "Never")

HOST_VARIABLES = (
    "ip", "access_ip", "ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user", "ansible_port",
    "ansible_ssh_port", "ansible_private_key_file", "ansible_ssh_private_key_file", "ansible_password",
    "ansible_ssh_pass", "ansible_ssh_password", "ansible_become", "ansible_become_password", "ansible_become_pass",
    "ansible_become_user", "kube_override_hostname",
)  # fmt: skip
CLUSTER_VARIABLES = (
    "kube_version", "kube_pods_subnet", "kube_service_addresses", "cluster_name", "dns_domain", "kube_apiserver_port",
    "kube_image_repo", "calico_version", "calico_ipip_mode", "calico_vxlan_mode", "container_manager",
    "kube_network_plugin", "kube_proxy_mode", "etcd_deployment_type", "loadbalancer_apiserver",
    "loadbalancer_apiserver_localhost", "apiserver_loadbalancer_domain_name", "supplementary_addresses_in_ssl_keys",
    "kube_vip_enabled", "kube_vip_controlplane_enabled", "kube_vip_services_enabled", "kube_vip_address",
    "kube_vip_interface", "enable_dual_stack_networks", "ipv6_stack", "ipv4_stack", "dns_mode",
)  # fmt: skip
_TRUE = ("true", "yes", "on", "1")
_DNS_NAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")


@dataclass
class HostPlan:
    """One kubespray host that becomes a node: its role, host data and mapped cluster data."""

    name: str
    role: str  # model.CONTROL_PLANE_GROUP or model.WORKER_GROUP
    data: dict[str, Any] = field(default_factory=dict)  # node_ip, ssh_hostname, ssh_user, ...
    cluster: dict[str, Any] = field(default_factory=dict)  # kube_version, pod_cidr, vip, ...


@dataclass
class Imported:
    """A kubespray inventory as our cluster: hosts, cluster data, warnings and the validated model."""

    source: Path
    hosts: list[HostPlan]
    warnings: list[Finding]
    cluster: model.Cluster

    @property
    def control_planes(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, host data) of each control plane, in order."""
        return [(h.name, dict(h.data)) for h in self.hosts if h.role == model.CONTROL_PLANE_GROUP]

    @property
    def workers(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, host data) of each worker, in order."""
        return [(h.name, dict(h.data)) for h in self.hosts if h.role == model.WORKER_GROUP]

    @property
    def cluster_data(self) -> dict[str, Any]:
        """The mapped cluster-wide data (the same on every host: the model checked it)."""
        return dict(self.hosts[0].cluster) if self.hosts else {}


def import_inventory(path: str | Path, api_lb: str = "auto") -> Imported:
    """Read a kubespray inventory (file or directory) and map it onto a validated cluster."""
    if api_lb not in API_LB_MODES:
        raise KubesprayError(f"api_lb {api_lb!r}: expected one of {', '.join(API_LB_MODES)}")
    source = ansible_inventory.load(path)
    what = f"kubespray inventory {path}"
    report = Report()
    roles = _roles(source, report)
    plans: list[tuple[HostPlan, _Vars]] = []
    for name, role in roles.items():
        variables = _Vars(source, name, report)
        plans.append((HostPlan(name, role, _connection(variables), _cluster_data(variables)), variables))
    sans = _addresses(plans, report)
    _schedulable(plans, source, report)
    sans += _api_endpoints(plans, api_lb, report)
    _cert_sans(plans, sans, report)
    _report_ignored([variables.raw for _, variables in plans], report)
    hosts = [plan for plan, _ in plans]
    for skipped in source.skipped_files:
        report.warning(f"file {str(skipped)!r}", "encrypted with ansible-vault and skipped; its variables are not read")
    report.raise_errors(what)
    cluster = validate(hosts, what)
    return Imported(Path(path), hosts, report.warnings, cluster)


def validate(hosts: list[HostPlan], what: str) -> model.Cluster:
    """Build our cluster model from the mapped hosts: deploys.model does every check."""
    try:
        return model.build(pyinfra_inventory(hosts), components.defaults(), write_secrets=False)
    except KubesprayError:
        raise
    except ClusterConfigError as exc:
        raise KubesprayError(f"{what}: mapped, but the result is no valid cluster:\n{exc}") from None


def pyinfra_inventory(hosts: list[HostPlan]) -> Inventory:
    """A pyinfra Inventory (no host contacted): each host with its own host and cluster data."""
    cps = [h.name for h in hosts if h.role == model.CONTROL_PLANE_GROUP]
    workers = [h.name for h in hosts if h.role == model.WORKER_GROUP]
    return Inventory(
        ([(h.name, {**h.cluster, **h.data}) for h in hosts], {}),
        **{model.CONTROL_PLANE_GROUP: (cps, {}), model.WORKER_GROUP: (workers, {})},
    )


def _named(kind: str, names: list[str]) -> str:
    """"host 'a'" or "hosts 'a', 'b'": the subject of a finding about several hosts."""
    return f"{kind}{'s' if len(names) > 1 else ''} {', '.join(repr(n) for n in names)}"


# ------------------------------------------------------------------ groups


def _unknown_groups(source: AnsibleInventory, report: Report) -> None:
    """Groups kubespray does not know (other services' hosts, typos): ignored, all in one warning."""
    unknown = [name for name in source.groups if name not in KNOWN_GROUPS]
    if not unknown:
        return
    listed = []
    for name in unknown:
        hosts = source.members(name)
        part = f"{name} ({', '.join(hosts) if hosts else 'empty'})"
        close = difflib.get_close_matches(name, KNOWN_GROUPS[:-2], n=1, cutoff=0.8)
        listed.append(part + (f" - a typo of {close[0]!r}?" if close else ""))
    report.warning(
        _named("group", unknown),
        "not kubespray's: ignored, as kubespray ignores them (their variables still apply to their hosts): "
        f"{'; '.join(listed)}",
    )


def _in_any(source: AnsibleInventory, groups: tuple[str, ...]) -> list[str]:
    """Hosts of any of GROUPS, in inventory order of the groups."""
    result: list[str] = []
    for group in groups:
        result += [h for h in source.members(group) if h not in result]
    return result


def _roles(source: AnsibleInventory, report: Report) -> dict[str, str]:
    """Host -> role, control planes first (kubespray's first control plane inits the cluster)."""
    _unknown_groups(source, report)
    cps, nodes = _in_any(source, CONTROL_PLANE_GROUPS), _in_any(source, NODE_GROUPS)
    etcd, rrs = _in_any(source, ETCD_GROUPS), _in_any(source, ROUTE_REFLECTOR_GROUPS)
    bastions = [h for h in source.hosts if h == "bastion" or h in _in_any(source, BASTION_GROUPS)]
    parents = _in_any(source, CLUSTER_GROUPS)
    outside: list[str] = []
    for host in source.hosts:
        subject = f"host {host!r}"
        if host in cps or host in nodes:
            _node_groups(subject, host in cps, host in etcd, host in rrs, bool(etcd), report)
        elif host in etcd:
            report.error(subject, _ETCD_OUTSIDE + " (a dedicated etcd host); remove it from etcd")
        elif host in rrs:
            report.error(
                subject,
                "only in calico_rr: Calico route reflectors have no equivalent here (Calico's node-to-node mesh is "
                "used); add the host to kube_node or remove it",
            )
        elif host in bastions:
            _bastion(source, host, report)
        elif host in parents:
            report.error(
                subject,
                "in k8s_cluster but neither in kube_control_plane nor in kube_node: kubespray would install and join "
                "it without a node role; add it to kube_node (worker) or kube_control_plane",
            )
        else:
            outside.append(host)
    if outside:
        _outside(outside, report)
    if cps and not etcd:
        report.warning(
            "group 'etcd'",
            "missing or empty: etcd runs stacked on the control planes here, as kubeadm does (kubespray v2.31.0 "
            "itself stops here unless etcd_deployment_type is kubeadm)",
        )
    roles = {host: model.CONTROL_PLANE_GROUP for host in cps}
    for host in nodes:
        roles.setdefault(host, model.WORKER_GROUP)
    return roles


_ETCD_OUTSIDE = (
    "in etcd but not a control plane: etcd outside the control planes is not supported here (etcd runs stacked on "
    "every control plane, as kubeadm does)"
)


def _node_groups(subject: str, cp: bool, in_etcd: bool, rr: bool, any_etcd: bool, report: Report) -> None:
    """What a node's other groups mean: calico_rr, etcd membership."""
    if rr:
        report.warning(subject, "calico_rr role ignored: Calico runs its node-to-node mesh, no route reflectors")
    if in_etcd and not cp:
        report.error(subject, _ETCD_OUTSIDE + "; remove it from etcd or make it a control plane")
    if cp and any_etcd and not in_etcd:
        report.warning(subject, "control plane not in etcd: every control plane runs a stacked etcd member here")


def _bastion(source: AnsibleInventory, host: str, report: Report) -> None:
    """A bastion is the SSH jump host, not a node: say how pyinfra reaches the nodes through it."""
    variables = source.variables(host)
    address = variables.get("ansible_host") or host
    user = variables.get("ansible_user")
    port = variables.get("ansible_port")
    jump = f"{user}@{address}" if user else str(address)
    jump += f":{port}" if port else ""
    only_named = "" if host == "bastion" else " (kubespray itself only jumps through a host named 'bastion')"
    report.warning(
        f"host {host!r}",
        f"the SSH bastion, not a node{only_named}: kubespray reaches the nodes through it with an SSH ProxyCommand; "
        f"pyinfra follows your SSH config, so add `ProxyJump {jump}` to a `Host` entry for the nodes' addresses "
        "in ~/.ssh/config (or in a file named by ssh_config_file in the group data)",
    )


def _outside(hosts: list[str], report: Report) -> None:
    """Hosts in no kubespray node group: not part of the cluster, as for kubespray; one warning."""
    jumps = [h for h in hosts if "bastion" in h.lower() or "jump" in h.lower()]
    hint = (
        f"; if {', '.join(jumps)} is your SSH jump host, name it 'bastion' in a [bastion] group, as kubespray expects"
        if jumps
        else ""
    )
    report.warning(
        _named("host", hosts),
        "in no kubespray node group: not part of the cluster (kubespray leaves such hosts alone too); add a host to "
        f"kube_control_plane or kube_node to make it a node{hint}",
    )


# --------------------------------------------------------------- variables


class _Vars:
    """One host's kubespray variables (with kubespray's dynamic groups), templates evaluated on demand."""

    _env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701 - not HTML
    _env.filters["bool"] = lambda value: _truthy(value)

    def __init__(self, source: AnsibleInventory, host: str, report: Report) -> None:
        self.host = host
        self.report = report
        self.raw = source.variables(host, _dynamic_groups(source, host))
        groups = [g for g in source.groups_of(host) if g not in BUILTIN_GROUPS]
        self.context = {
            **self.raw,
            "inventory_hostname": host,
            "inventory_hostname_short": host.split(".")[0],
            "inventory_dir": str(source.sources[0].parent),
            "inventory_file": str(source.sources[0]),
            "group_names": sorted(groups),
            "groups": {name: source.members(name) for name in source.groups},
        }

    def get(self, key: str, default: Any = None) -> Any:
        """The evaluated value of KEY (DEFAULT when unset); an unusable value is reported, giving None."""
        if key not in self.raw:
            return default
        try:
            return self._render(self.raw[key], 0)
        except _Unusable as exc:
            self.report.error(f"host {self.host!r}", f"{key} = {self.raw[key]!r}: {exc}")
            return None

    def peek(self, key: str, default: Any = None) -> Any:
        """The evaluated value of KEY for a warning only: None, unreported, when it cannot be evaluated."""
        try:
            return self._render(self.raw[key], 0) if key in self.raw else default
        except _Unusable:
            return None

    def _render(self, value: Any, depth: int) -> Any:
        if isinstance(value, Vaulted):
            raise _Unusable("encrypted with ansible-vault; put the plain value in the inventory to import it")
        if isinstance(value, dict):
            return {k: self._render(v, depth) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v, depth) for v in value]
        if not isinstance(value, str) or ("{{" not in value and "{%" not in value):
            return value
        if depth > 10:
            raise _Unusable("template nesting too deep")
        try:
            rendered = self._env.from_string(value).render(self.context)
        except jinja2.TemplateError as exc:
            raise _Unusable(f"cannot evaluate this template here ({exc}); write the value itself") from None
        return self._render(_literal(rendered), depth + 1)


class _Unusable(Exception):
    """A variable whose value cannot be used (an unsupported template, a vaulted value)."""


def _dynamic_groups(source: AnsibleInventory, host: str) -> list[str]:
    """The groups kubespray's dynamic_groups role adds: new names for old ones, and k8s_cluster."""
    groups = set(source.groups_of(host))
    added = []
    for new, olds in (
        ("kube_control_plane", CONTROL_PLANE_GROUPS),
        ("kube_node", NODE_GROUPS),
        ("calico_rr", ROUTE_REFLECTOR_GROUPS),
    ):
        if groups & set(olds):
            added.append(new)
    if groups & set(CONTROL_PLANE_GROUPS + NODE_GROUPS + ROUTE_REFLECTOR_GROUPS):
        added.append("k8s_cluster")
    return added


def _literal(text: str) -> Any:
    """A rendered template's text as Ansible would type it: integers and booleans, else the string."""
    if re.fullmatch(r"-?\d+", text.strip()):
        return int(text)
    if text.strip() in ("True", "False"):
        return text.strip() == "True"
    return text


def _truthy(value: Any) -> bool:
    """Ansible's `bool`: true, yes, on, 1 (any case) are true."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in _TRUE


def _port(variables: _Vars, key: str, value: Any) -> int | None:
    """An integer port, or None after reporting a malformed one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    variables.report.error(f"host {variables.host!r}", f"{key} = {value!r} is not a port number")
    return None


# ------------------------------------------------------------- host data


def _addresses(plans: list[tuple[HostPlan, _Vars]], report: Report) -> list[str]:
    """node_ip of every host as kubespray's network_facts role picks it, each fallback stated once for all
    hosts it concerns; returns the control planes' other access_ip addresses (kubespray puts them in the API
    server certificate).

    kubespray v2.31.0 (roles/network_facts/tasks/main.yaml): main_ip = ip, else the host's default-route
    IPv4 (a fact found only when it connects; never ansible_host); main_access_ip = access_ip, else main_ip.
    The kubelet and the API server use main_ip, etcd and the nodes' proxies main_access_ip.
    """
    fallbacks: dict[str, list[str]] = {"access_ip": [], "ansible_host": [], "public": []}
    differing: list[str] = []
    sans: list[str] = []
    for plan, variables in plans:
        subject = f"host {plan.name!r}"
        ip, access_ip = variables.get("ip"), variables.get("access_ip")
        ssh_host = plan.data.get("ssh_hostname") or (plan.name if rules.is_ipv4(plan.name) else None)
        candidates = (("ip", ip), ("access_ip", access_ip), ("ansible_host", ssh_host))
        key, address = next(((k, v) for k, v in candidates if v not in (None, "")), ("", None))
        if address is None:
            report.error(subject, "no address: set ip (the node's cluster address), access_ip or ansible_host")
            continue
        if not rules.is_ipv4(address):
            report.error(subject, f"{key} {address!r} is not an IPv4 address; set ip to the node's IPv4 address")
            continue
        plan.data["node_ip"] = str(address)
        if key == "ansible_host":
            fallbacks["public" if ipaddress.IPv4Address(str(address)).is_global else "ansible_host"].append(plan.name)
        elif key == "access_ip":
            fallbacks["access_ip"].append(plan.name)
        if key == "ip" and access_ip not in (None, "") and str(access_ip) != str(ip):
            differing.append(plan.name)
            if plan.role == model.CONTROL_PLANE_GROUP:
                sans.append(str(access_ip))
    _address_warnings(fallbacks, differing, report)
    return sans


def _address_warnings(fallbacks: dict[str, list[str]], differing: list[str], report: Report) -> None:
    """One warning per kind of address choice, naming every host it concerns."""
    default_route = "kubespray would use the host's default-route IPv4, which is known only on the host"
    if fallbacks["access_ip"]:
        report.warning(
            _named("host", fallbacks["access_ip"]),
            "access_ip but no ip: kubespray would give the kubelet and API server the host's default-route IPv4 "
            "(known only on the host) and use access_ip between nodes; node_ip = access_ip here, for everything. "
            "Set ip if the default-route address differs",
        )
    if fallbacks["ansible_host"]:
        report.warning(
            _named("host", fallbacks["ansible_host"]),
            f"no ip or access_ip: {default_route}; node_ip = ansible_host (the SSH address) here. Set ip if the "
            "cluster should use another address",
        )
    if fallbacks["public"]:
        report.warning(
            _named("host", fallbacks["public"]),
            f"no ip or access_ip: {default_route}; node_ip = ansible_host here, a public address: cluster traffic "
            "(etcd, kubelet, pods) would use it. Set ip to the node's private address unless that is intended",
        )
    if differing:
        report.warning(
            _named("host", differing),
            "access_ip differs from ip: kubespray sends etcd and node-to-API traffic to access_ip; every node uses "
            "ip for everything here (the control planes' access_ip is added to the API server certificate, as "
            "kubespray does)",
        )


def _connection(variables: _Vars) -> dict[str, Any]:
    """SSH address, user, port, key and passwords, and the node name; a user other than root uses sudo
    (kubespray always becomes root)."""
    data: dict[str, Any] = {}
    ssh_host = _alias(variables, "ansible_host", "ansible_ssh_host")
    if ssh_host not in (None, ""):
        data["ssh_hostname"] = str(ssh_host)
    user = _alias(variables, "ansible_user", "ansible_ssh_user")
    if user not in (None, ""):
        data["ssh_user"] = str(user)
        if str(user) != "root":
            data["_sudo"] = True
    port = _alias(variables, "ansible_port", "ansible_ssh_port")
    if port is not None:
        number = _port(variables, "ansible_port", port)
        if number is not None:
            data["ssh_port"] = number
    for ours, theirs in (
        ("ssh_key", ("ansible_private_key_file", "ansible_ssh_private_key_file")),
        ("ssh_password", ("ansible_password", "ansible_ssh_pass", "ansible_ssh_password")),
        ("_sudo_password", ("ansible_become_password", "ansible_become_pass")),
    ):
        value = _alias(variables, *theirs)
        if value not in (None, ""):
            data[ours] = str(value)
    node_name = variables.get("kube_override_hostname")
    if isinstance(node_name, str) and node_name.strip():
        data["node_name"] = node_name.strip()
    return data


def _alias(variables: _Vars, *names: str) -> Any:
    """A connection variable with aliases: as in Ansible's SSH plugin, the last alias that is set wins."""
    found = [name for name in names if name in variables.raw]
    return variables.get(found[-1]) if found else None


def _schedulable(plans: list[tuple[HostPlan, _Vars]], source: AnsibleInventory, report: Report) -> None:
    """control_plane_schedulable: kubespray drops the NoSchedule taint of a control plane also in kube_node
    (v2.31.0 roles/kubernetes/control-plane/templates/kubeadm-config.v1beta4.yaml.j2: `taints: []`)."""
    nodes = _in_any(source, NODE_GROUPS)
    cps = [plan.name for plan, _ in plans if plan.role == model.CONTROL_PLANE_GROUP]
    both = [name for name in cps if name in nodes]
    if not both:
        return
    for plan, _ in plans:
        plan.cluster["control_plane_schedulable"] = True
    tainted = [name for name in cps if name not in nodes]
    if tainted:
        report.warning(
            _named("host", tainted),
            f"control plane not in kube_node, while {', '.join(both)} {'is' if len(both) == 1 else 'are'}: control "
            "planes are schedulable all together here (control_plane_schedulable), so workloads run here too "
            "(kubespray would keep the NoSchedule taint)",
        )


# ----------------------------------------------------------- cluster data


def _cluster_data(variables: _Vars) -> dict[str, Any]:
    """The cluster-wide keys mapped from one host's variables, kubespray's defaults where unset."""
    data: dict[str, Any] = {"kube_version": _kube_version(variables)}
    data["pod_cidr"] = str(variables.get("kube_pods_subnet", KUBESPRAY_DEFAULTS["kube_pods_subnet"]))
    data["service_cidr"] = str(variables.get("kube_service_addresses", KUBESPRAY_DEFAULTS["kube_service_addresses"]))
    data["cluster_name"] = str(variables.get("cluster_name", KUBESPRAY_DEFAULTS["cluster_name"]))
    data["dns_domain"] = str(variables.get("dns_domain", data["cluster_name"]))  # kubespray: "{{ cluster_name }}"
    port = variables.get("kube_apiserver_port")
    number = None if port is None else _port(variables, "kube_apiserver_port", port)
    if number is not None:
        data["apiserver_port"] = number
    image_repo = variables.get("kube_image_repo")
    if image_repo is not None:
        data["image_repository"] = str(image_repo)
    calico_version = variables.get("calico_version")
    if calico_version is not None:
        data["calico_version"] = "v" + str(calico_version).strip().lstrip("v")  # kubespray: "3.31.5"; ours "v3.31.5"
    _runtime_and_network(variables, data)
    _calico_encapsulation(variables, data)
    _unsupported_features(variables)
    return data


def _kube_version(variables: _Vars) -> str:
    """kube_version X.Y.Z; unset: kubespray v2.31.0's default (its newest), stated."""
    version = variables.get("kube_version")
    if version is None:
        default = KUBESPRAY_DEFAULTS["kube_version"]
        variables.report.warning(
            "key 'kube_version'",
            f"not set: kubespray {kubespray_release.RELEASE} installs its newest, {default}; so does this import "
            "(set kube_version to choose another)",
        )
        return default
    text = str(version).strip()
    if text.startswith("v"):
        variables.report.warning(
            "key 'kube_version'",
            f"{text!r} is the form of kubespray 2.27 and older (2.28 and later refuse it: \"Kubernetes v{text} is "
            f"not supported\"); read as {text[1:]}",
        )
    return text.removeprefix("v")


def _runtime_and_network(variables: _Vars, data: dict[str, Any]) -> None:
    """container_manager and kube_network_plugin must be what runs here; kube-proxy and etcd differences stated."""
    report = variables.report
    runtime = str(variables.get("container_manager", KUBESPRAY_DEFAULTS["container_manager"]))
    if runtime != "containerd":
        report.error(
            "key 'container_manager'",
            f"{runtime!r} is not supported: the nodes run containerd here (kubespray's default); set "
            "container_manager: containerd",
        )
    plugin = str(variables.get("kube_network_plugin", KUBESPRAY_DEFAULTS["kube_network_plugin"]))
    if plugin != "calico":
        report.error("key 'kube_network_plugin'", f"{plugin!r} is not supported: the pod network is Calico here")
    proxy = variables.peek("kube_proxy_mode", KUBESPRAY_DEFAULTS["kube_proxy_mode"])
    if str(proxy) != "iptables":
        given = "" if "kube_proxy_mode" in variables.raw else " (kubespray's default)"
        report.warning("key 'kube_proxy_mode'", f"{proxy!r}{given}: kube-proxy runs in iptables mode here (kubeadm's)")
    etcd = variables.peek("etcd_deployment_type", KUBESPRAY_DEFAULTS["etcd_deployment_type"])
    if str(etcd) != "kubeadm":
        given = "" if "etcd_deployment_type" in variables.raw else " (kubespray's default)"
        report.warning(
            "key 'etcd_deployment_type'",
            f"{etcd!r}{given}: etcd runs as kubeadm's static pods on the control planes here, not as a service",
        )


def _calico_encapsulation(variables: _Vars, data: dict[str, Any]) -> None:
    """calico_ipip_mode / calico_vxlan_mode -> calico_encapsulation, with kubespray's defaults (IPIP Never,
    VXLAN Always: roles/network_plugin/calico_defaults/defaults/main.yml) and its check (calico/tasks/check.yml)."""
    report = variables.report
    modes = {
        key: (str(variables.get(key)) if key in variables.raw else KUBESPRAY_DEFAULTS[key], key in variables.raw)
        for key in ("calico_ipip_mode", "calico_vxlan_mode")
    }
    for key, (mode, _) in modes.items():
        if mode not in CALICO_MODES:
            report.error(f"key {key!r}", f"{mode!r}: expected Always, CrossSubnet or Never (kubespray stops on it too)")
            return
    (ipip, ipip_set), (vxlan, vxlan_set) = modes["calico_ipip_mode"], modes["calico_vxlan_mode"]
    if ipip != "Never" and vxlan != "Never":
        default = "" if vxlan_set else " (kubespray's default when unset)"
        report.error(
            "key 'calico_ipip_mode'",
            f"{ipip!r} with calico_vxlan_mode {vxlan!r}{default}: Calico allows only one, and kubespray "
            f"{kubespray_release.RELEASE} stops on it too (roles/network_plugin/calico/tasks/check.yml); set "
            "calico_vxlan_mode: Never",
        )
        return
    if vxlan != "Never":
        data["calico_encapsulation"] = "VXLAN" if vxlan == "Always" else "VXLANCrossSubnet"
    elif ipip != "Never":
        data["calico_encapsulation"] = "IPIP" if ipip == "Always" else "IPIPCrossSubnet"
    else:
        data["calico_encapsulation"] = "None"
        backend = variables.peek("calico_network_backend", KUBESPRAY_DEFAULTS["calico_network_backend"])
        without = "" if backend == "bird" else f" (kubespray, with calico_network_backend {backend}, would run none)"
        report.warning(
            "key 'calico_vxlan_mode'",
            "Never, with calico_ipip_mode Never: no encapsulation; Calico's BGP routes the pod network here, as in "
            f"kubespray's BGP mode{without}",
        )
    if not ipip_set and not vxlan_set:
        return
    if ipip_set and not vxlan_set and vxlan != "Never":
        report.warning(
            "key 'calico_ipip_mode'",
            f"{ipip!r} alone: calico_vxlan_mode is kubespray's default, Always, so pods use VXLAN everywhere",
        )


def _unsupported_features(variables: _Vars) -> None:
    """DNS, dual stack and add-ons: what kubespray would do and this deploy does not."""
    report = variables.report
    dns = variables.peek("dns_mode")
    if dns is not None and str(dns) != "coredns":
        report.warning("key 'dns_mode'", f"{dns!r} ignored: the cluster DNS is kubeadm's CoreDNS here")
    if _truthy(variables.peek("enable_dual_stack_networks", False)) or _truthy(variables.peek("ipv6_stack", False)):
        report.warning("key 'enable_dual_stack_networks'", "ignored: the cluster is IPv4 only here")
    for key in sorted(variables.raw):
        if _is_feature_switch(key) and _truthy(variables.peek(key, False)) and _parents_on(variables, key):
            report.warning(f"key {key!r}", "true in kubespray, but this add-on/feature is not deployed here")


def _is_feature_switch(key: str) -> bool:
    """An add-on or feature switch (`*_enabled`, `enable_*`, Multus) that no mapping handles."""
    switch = key.endswith("_enabled") or key.startswith("enable_") or key == "kube_network_plugin_multus"
    return switch and key not in CLUSTER_VARIABLES


def _parents_on(variables: _Vars, key: str) -> bool:
    """False for `metallb_speaker_enabled` when `metallb_enabled` is false: the add-on is off anyway."""
    parts = key.removesuffix("_enabled").split("_")
    parents = [f"{'_'.join(parts[:n])}_enabled" for n in range(1, len(parts))]
    return all(_truthy(variables.peek(p, True)) for p in parents if p in variables.raw)


def _report_ignored(all_vars: list[dict[str, Any]], report: Report) -> None:
    """One warning naming every variable that has no equivalent here."""
    handled = set(HOST_VARIABLES) | set(CLUSTER_VARIABLES)
    keys = sorted({k for variables in all_vars for k in variables} - handled)
    keys = [k for k in keys if not _is_feature_switch(k)]  # reported by their value, when on
    if keys:
        report.warning(f"{len(keys)} variable(s)", f"no equivalent here, ignored: {', '.join(keys)}")


# ------------------------------------------------------------ API endpoint


def _api_endpoints(plans: list[tuple[HostPlan, _Vars]], mode: str, report: Report) -> list[str]:
    """Map each host's loadbalancer_apiserver (or kube-vip, or the load balancer's name) onto vip/api_lb_port
    or control_plane_endpoint; returns the addresses kubespray would also put in the API server certificate."""
    cps = [plan.name for plan, _ in plans if plan.role == model.CONTROL_PLANE_GROUP]
    cp_ips = [plan.data["node_ip"] for plan, _ in plans if plan.name in cps and "node_ip" in plan.data]
    node_ips = {plan.data.get("node_ip") for plan, _ in plans}
    sans: list[str] = []
    for plan, variables in plans:
        data, extra = _api_endpoint(variables, plan, len(cps), cp_ips, node_ips, mode)
        interface = data.pop("keepalived_interface", None)
        if interface:
            plan.data["keepalived_interface"] = interface
        plan.cluster.update(data)
        sans += [s for s in extra if s not in sans]
    return sans


def _kube_vip(variables: _Vars) -> str | None:
    """kube-vip's control-plane VIP (kube_vip_controlplane_enabled), or None; its Services mode is stated as
    not deployed (v2.31.0 docs/ingress/kube-vip.md; roles/kubernetes/node/defaults/main.yml)."""
    report = variables.report
    if not _truthy(variables.get("kube_vip_enabled", False)):
        return None
    address = variables.get("kube_vip_address")
    if _truthy(variables.get("kube_vip_services_enabled", False)):
        report.warning(
            "key 'kube_vip_services_enabled'", "kube-vip for Services of type LoadBalancer is not deployed here"
        )
    if not _truthy(variables.get("kube_vip_controlplane_enabled", False)):
        if address:
            report.warning(
                "key 'kube_vip_address'",
                f"{address} is not the API endpoint: kube_vip_controlplane_enabled is false (kube-vip serves "
                "Services only), so it is not used here",
            )
        return None
    if not address:
        report.error("key 'kube_vip_address'", "not set, but kube_vip_controlplane_enabled needs the VIP")
        return None
    return str(address)


def _api_endpoint(
    variables: _Vars, plan: HostPlan, n_cps: int, cp_ips: list[str], node_ips: set[Any], mode: str
) -> tuple[dict[str, Any], list[str]]:
    """(data, extra certificate names) for one host: kube-vip or a free address in the control planes'
    subnet -> our VIP (keepalived + HAProxy); anything else (or a name) -> an external load balancer."""
    report = variables.report
    ha = n_cps > 1
    lb = variables.get("loadbalancer_apiserver")
    domain = variables.get("apiserver_loadbalancer_domain_name")
    kube_vip = _kube_vip(variables)
    apiserver_port = plan.cluster.get("apiserver_port", KUBESPRAY_DEFAULTS["kube_apiserver_port"])
    if _truthy(variables.peek("loadbalancer_apiserver_localhost", False)):
        report.warning(
            "key 'loadbalancer_apiserver_localhost'",
            "ignored: nodes reach the API servers through the control-plane endpoint here, not a local proxy",
        )
    if lb is not None and not isinstance(lb, dict):
        report.error("key 'loadbalancer_apiserver'", f"{lb!r}: expected a mapping with address and port")
        return {}, []
    if lb is None and not kube_vip:
        return _no_load_balancer(domain, ha, n_cps, apiserver_port, report)
    lb = lb or {}
    address = lb.get("address", kube_vip)
    port = _port(variables, "loadbalancer_apiserver.port", lb.get("port", apiserver_port))
    if port is None:
        return {}, []
    extra = [str(kube_vip)] if kube_vip else []  # kubespray adds kube_vip_address to the certificate
    chosen, reason = mode, "as you chose (--api-lb)"
    if mode == "auto":
        chosen, reason = _auto_mode(address, port, domain, bool(kube_vip), ha, cp_ips, node_ips, apiserver_port)
    if chosen == "vip":
        data = _vip(address, port, apiserver_port, ha, reason, report)
        interface = variables.get("kube_vip_interface")
        if data and kube_vip and interface:
            data["keepalived_interface"] = str(interface)
        return data, extra
    if domain and address:
        extra.append(str(address))
    return _external(address, port, domain, reason, report), extra


def _no_load_balancer(
    domain: Any, ha: bool, n_cps: int, apiserver_port: int, report: Report
) -> tuple[dict[str, Any], list[str]]:
    """No loadbalancer_apiserver: kubespray puts a proxy on every node (loadbalancer_apiserver_localhost) and
    uses apiserver_loadbalancer_domain_name only as a certificate name. One control plane is its own endpoint;
    several need one: the load balancer's name when there is one (terraform/aws's NLB), else ask."""
    if not ha:
        return {}, [str(domain)] if domain else []
    if not domain:
        report.error(
            "key 'loadbalancer_apiserver'",
            f"not set, but {n_cps} control planes need one shared API endpoint (kubespray's proxy on every node has "
            "no equivalent here). Set loadbalancer_apiserver: {address: <a free IP in the control planes' subnet>, "
            "port: 16443} (keepalived + HAProxy hold that VIP on the control planes), or the address and port of "
            "your own load balancer, or apiserver_loadbalancer_domain_name: <its DNS name>",
        )
        return {}, []
    report.warning(
        "key 'apiserver_loadbalancer_domain_name'",
        f"{domain!r} without loadbalancer_apiserver: kubespray puts only this name in the API server certificate "
        f"and proxies on every node; here {domain}:{apiserver_port} becomes the shared endpoint (your load "
        "balancer: kubespray's contrib/terraform/aws NLB listens on aws_nlb_api_port, 6443 in its sample). If it "
        f"listens elsewhere, set loadbalancer_apiserver: {{port: N}}. {_resolves(domain, None)}",
    )
    return {"control_plane_endpoint": f"{domain}:{apiserver_port}", "api_load_balancer": "external"}, []


def _auto_mode(
    address: Any,
    port: int,
    domain: Any,
    kube_vip: bool,
    ha: bool,
    cp_ips: list[str],
    node_ips: set[Any],
    apiserver_port: int,
) -> tuple[str, str]:
    """('vip' or 'external', why): 'vip' when the address can only be a VIP on the control planes."""
    if kube_vip:
        return "vip", "kube-vip's control-plane VIP"
    if not ha:
        return "external", "one control plane"
    if domain:
        return "external", "apiserver_loadbalancer_domain_name names it"
    if not rules.is_ipv4(address) or not cp_ips:
        return "external", "not an IPv4 address"
    subnet = rules.default_node_network(cp_ips[0])
    if ipaddress.IPv4Address(str(address)) not in subnet:
        return "external", f"outside the control planes' subnet {subnet}"
    if str(address) in node_ips:
        return "external", "a node's own address, though in the control planes' subnet"
    if port == apiserver_port:
        return "external", (
            f"in the control planes' subnet, but on the API servers' own port {port}, where HAProxy cannot listen "
            f"beside them (with --api-lb vip keepalived holds it and HAProxy listens on {VIP_PORT})"
        )
    return "vip", f"a free address in the control planes' subnet {subnet}"


def _vip(address: Any, port: int, apiserver_port: int, ha: bool, reason: str, report: Report) -> dict[str, Any]:
    """Our VIP: keepalived holds it on the control planes, HAProxy listens on api_lb_port."""
    subject = "key 'loadbalancer_apiserver'"
    if not rules.is_ipv4(address):
        report.error(subject, f"address {address!r} is not an IPv4 address; a VIP must be one")
        return {}
    if not ha:
        report.warning(subject, f"VIP {address} ignored: with one control plane the endpoint is its node IP")
        return {}
    moved = ""
    if port == apiserver_port:
        moved = f" on port {VIP_PORT}, not {port} (the API servers already listen on {apiserver_port})"
        port = VIP_PORT
    report.warning(
        subject,
        f"{address} ({reason}) becomes the VIP: keepalived + HAProxy on the control planes hold it{moved}. If a load "
        "balancer of yours already serves it, import with --api-lb external (KUBESPRAY_API_LB=external)",
    )
    return {"vip": str(address), "api_lb_port": port, "api_load_balancer": "keepalived"}


def _external(address: Any, port: int, domain: Any, reason: str, report: Report) -> dict[str, Any]:
    """An external load balancer (or DNS name) in front of the API servers."""
    host = domain or address
    if not host:
        report.error("key 'loadbalancer_apiserver'", "has no address (and apiserver_loadbalancer_domain_name is unset)")
        return {}
    names = f" {_resolves(domain, address if address != domain else None)}" if domain else ""
    report.warning(
        "key 'loadbalancer_apiserver'",
        f"{host}:{port} ({reason}) is read as your own load balancer in front of the API servers "
        f"(control_plane_endpoint; kubespray deploys nothing at that address either).{names}",
    )
    return {"control_plane_endpoint": f"{host}:{port}", "api_load_balancer": "external"}


def _resolves(domain: Any, address: Any) -> str:
    """Where the load balancer's name must resolve: kubespray stopped writing /etc/hosts in v2.29.0
    (roles/kubernetes/preinstall/tasks/0090-etchosts.yml removed, kubespray PR #12382)."""
    target = f" to {address}" if address else ""
    return (
        f"{domain} must resolve{target} on every node and on this machine through your DNS (neither kubespray, "
        "since v2.29.0, nor this deploy writes /etc/hosts)"
    )


def _cert_sans(plans: list[tuple[HostPlan, _Vars]], extra: list[str], report: Report) -> None:
    """apiserver_cert_sans: supplementary_addresses_in_ssl_keys and what kubespray adds beside the endpoint
    (v2.31.0 roles/kubernetes/control-plane/tasks/kubeadm-setup.yml "aggregate all SANs")."""
    first = next((variables for plan, variables in plans if plan.role == model.CONTROL_PLANE_GROUP), None)
    if first is None:
        return
    given = first.get("supplementary_addresses_in_ssl_keys", [])
    if isinstance(given, str) or not isinstance(given, list):
        report.error("key 'supplementary_addresses_in_ssl_keys'", f"{given!r}: expected a list of IPs or DNS names")
        return
    sans: list[str] = []
    for value in [*given, *extra]:
        text = str(value).strip().lower()
        if not (rules.is_ip(text) or _DNS_NAME.match(text)):
            report.error(
                "key 'supplementary_addresses_in_ssl_keys'", f"{value!r} is neither an IP address nor a DNS name"
            )
        elif text not in sans:
            sans.append(text)
    cluster = plans[0][0].cluster
    endpoint_host = str(cluster.get("control_plane_endpoint", "")).rpartition(":")[0] or cluster.get("vip")
    cp_ips = {plan.data.get("node_ip") for plan, _ in plans if plan.role == model.CONTROL_PLANE_GROUP}
    implied = {endpoint_host} | cp_ips
    sans = [s for s in sans if s not in implied]  # the deploy puts the endpoint and control planes in anyway
    if sans:
        for plan, _ in plans:
            plan.cluster["apiserver_cert_sans"] = sans
