"""kubespray inventory -> our cluster: each host with its role and data, validated by deploys.model.

What maps (kubespray -> ours): kube_control_plane (kube-master, kube_master) -> control_plane;
kube_node (kube-node) -> workers; ip, else access_ip, else ansible_host -> node_ip;
ansible_host -> ssh_hostname; ansible_user -> ssh_user (+ `_sudo` when not root: kubespray
always becomes root); ansible_port -> ssh_port; ansible_ssh_private_key_file -> ssh_key;
kube_override_hostname -> node_name; kube_version (leading "v" stripped) -> kube_version;
kube_pods_subnet -> pod_cidr; kube_service_addresses -> service_cidr; cluster_name ->
cluster_name (and dns_domain, as in kubespray, unless dns_domain is set); dns_domain;
kube_apiserver_port -> apiserver_port; kube_image_repo -> image_repository; calico_version;
calico_ipip_mode/calico_vxlan_mode -> calico_encapsulation; loadbalancer_apiserver (and
kube-vip) -> vip + api_lb_port or control_plane_endpoint (see `_api_endpoint`).

Errors (the cluster would break or silently differ): unknown group, host in no node group,
host only in calico_rr, missing or non-IPv4 address, etcd on a host that is not a control
plane, container_manager other than containerd, kube_network_plugin other than calico, several
control planes without loadbalancer_apiserver, a template that cannot be evaluated, a
vault-encrypted value we need. Warnings (ignored or adapted; the cluster works): control
plane also in kube_node (it keeps its NoSchedule taint), calico_rr role, a control plane
outside etcd (it runs a stacked member anyway), bastion/no_floating hosts, kube_version unset,
kube_proxy_mode other than iptables, enabled add-ons, dual stack, every other variable.
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

from deploys import components, model
from deploys.model import ClusterConfigError
from interop import ansible_inventory
from interop.ansible_inventory import AnsibleInventory, Vaulted
from interop.report import Finding, KubesprayError, Report

CONTROL_PLANE_GROUPS = ("kube_control_plane", "kube-master", "kube_master")
NODE_GROUPS = ("kube_node", "kube-node")
ETCD_GROUPS = ("etcd",)
CLUSTER_GROUPS = ("k8s_cluster", "k8s-cluster")
ROUTE_REFLECTOR_GROUPS = ("calico_rr", "calico-rr")
IGNORED_GROUPS = ("bastion", "no_floating", "no-floating")  # kubespray's, but no cluster role
BUILTIN_GROUPS = ("all", "ungrouped")
KNOWN_GROUPS = (
    CONTROL_PLANE_GROUPS
    + NODE_GROUPS
    + ETCD_GROUPS
    + CLUSTER_GROUPS
    + ROUTE_REFLECTOR_GROUPS
    + IGNORED_GROUPS
    + BUILTIN_GROUPS
)
# kubespray's own defaults (roles/kubespray_defaults) for what an inventory may leave out.
KUBESPRAY_DEFAULTS: dict[str, Any] = {
    "kube_pods_subnet": "10.233.64.0/18",
    "kube_service_addresses": "10.233.0.0/18",
    "container_manager": "containerd",
    "kube_network_plugin": "calico",
    "kube_apiserver_port": 6443,
}
API_LB_MODES = ("auto", "vip", "external")
VIP_PORT = 16443  # our HAProxy's port when the kubespray one collides with the API servers'

HOST_VARIABLES = (
    "ip", "access_ip", "ansible_host", "ansible_ssh_host", "ansible_user", "ansible_ssh_user", "ansible_port",
    "ansible_ssh_port", "ansible_private_key_file", "ansible_ssh_private_key_file", "ansible_password",
    "ansible_ssh_pass", "ansible_ssh_password", "ansible_become", "ansible_become_password", "ansible_become_pass",
    "ansible_become_user", "kube_override_hostname", "etcd_member_name",
)  # fmt: skip
CLUSTER_VARIABLES = (
    "kube_version", "kube_pods_subnet", "kube_service_addresses", "cluster_name", "dns_domain", "kube_apiserver_port",
    "kube_image_repo", "calico_version", "calico_ipip_mode", "calico_vxlan_mode", "calico_network_backend",
    "container_manager", "kube_network_plugin", "kube_proxy_mode", "etcd_deployment_type", "etcd_kubeadm_enabled",
    "loadbalancer_apiserver", "loadbalancer_apiserver_localhost", "loadbalancer_apiserver_type",
    "loadbalancer_apiserver_port", "loadbalancer_apiserver_healthcheck_port", "apiserver_loadbalancer_domain_name",
    "kube_vip_enabled", "kube_vip_controlplane_enabled", "kube_vip_address", "kube_vip_arp_enabled",
    "enable_dual_stack_networks", "ipv6_stack", "ipv4_stack", "dns_mode",
)  # fmt: skip
_TRUE = ("true", "yes", "on", "1")


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
    _check_groups(source, report)
    roles = _roles(source, report)
    plans: list[tuple[HostPlan, _Vars]] = []
    for name, role in roles.items():
        variables = _Vars(source, name, report)
        plans.append((HostPlan(name, role, _host_data(variables), _cluster_data(variables)), variables))
    _api_endpoints(plans, api_lb, report)
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


# ------------------------------------------------------------------ groups


def _check_groups(source: AnsibleInventory, report: Report) -> None:
    """Every group must be one kubespray knows; an unknown one is most likely a typo."""
    for name in source.groups:
        if name in KNOWN_GROUPS:
            continue
        hosts = source.members(name)
        listed = f" (hosts: {', '.join(hosts)})" if hosts else " (empty)"
        close = difflib.get_close_matches(name, KNOWN_GROUPS, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        report.error(
            f"group {name!r}",
            f"unknown group{listed}; {hint}kubespray groups: kube_control_plane, kube_node, etcd, k8s_cluster, "
            "calico_rr (or the older kube-master, kube-node, k8s-cluster), bastion",
        )


def _in_any(source: AnsibleInventory, groups: tuple[str, ...]) -> list[str]:
    """Hosts of any of GROUPS, in inventory order of the groups."""
    result: list[str] = []
    for group in groups:
        result += [h for h in source.members(group) if h not in result]
    return result


def _roles(source: AnsibleInventory, report: Report) -> dict[str, str]:
    """Host -> role, control planes first (kubespray's first control plane inits the cluster)."""
    cps, nodes = _in_any(source, CONTROL_PLANE_GROUPS), _in_any(source, NODE_GROUPS)
    etcd, rrs = _in_any(source, ETCD_GROUPS), _in_any(source, ROUTE_REFLECTOR_GROUPS)
    ignored = _in_any(source, IGNORED_GROUPS)
    roles: dict[str, str] = {}
    for host in source.hosts:
        subject = f"host {host!r}"
        groups = [g for g in source.groups_of(host) if g not in BUILTIN_GROUPS]
        if host not in cps and host not in nodes:
            _no_role(subject, host, groups, rrs, ignored, report)
            continue
        if host in cps and host in nodes:
            report.warning(
                subject,
                "in both kube_control_plane and kube_node: it becomes a control plane only, which keeps kubeadm's "
                "NoSchedule taint (ordinary pods will not run on it)",
            )
        if host in rrs:
            report.warning(subject, "calico_rr role ignored: Calico runs its node-to-node mesh, no route reflectors")
        if host in etcd and host not in cps:
            report.error(
                subject,
                "in etcd but not a control plane: etcd runs stacked on the control planes here (no separate "
                "etcd hosts); remove it from etcd or make it a control plane",
            )
        if host in cps and etcd and host not in etcd:
            report.warning(subject, "control plane not in etcd: every control plane runs a stacked etcd member here")
    for host in cps:
        roles[host] = model.CONTROL_PLANE_GROUP
    for host in nodes:
        roles.setdefault(host, model.WORKER_GROUP)
    if cps and not etcd:
        report.warning("group 'etcd'", "missing or empty: etcd runs stacked on the control planes, as kubeadm does")
    return roles


def _no_role(subject: str, host: str, groups: list[str], rrs: list[str], ignored: list[str], report: Report) -> None:
    """Report a host that is neither a control plane nor a worker."""
    if host in ignored and host not in rrs:
        names = ", ".join(g for g in groups if g in IGNORED_GROUPS)
        report.warning(
            subject,
            f"in {names} only: not a cluster node, ignored (reach the nodes through a bastion with a ProxyJump "
            "in ~/.ssh/config)",
        )
    elif host in rrs:
        report.error(
            subject,
            "only in calico_rr: Calico route reflectors have no equivalent here (Calico's node-to-node mesh is "
            "used); add the host to kube_node or remove it",
        )
    elif not groups:
        report.error(subject, "in no group: add it to kube_control_plane (control plane) or kube_node (worker)")
    else:
        report.error(
            subject,
            f"in no node group (only in {', '.join(groups)}): add it to kube_control_plane (control plane) or "
            "kube_node (worker)",
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


def _is_ipv4(value: Any) -> bool:
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        return False
    return True


def _port(variables: _Vars, key: str, value: Any) -> int | None:
    """An integer port, or None after reporting a malformed one."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    variables.report.error(f"host {variables.host!r}", f"{key} = {value!r} is not a port number")
    return None


# ------------------------------------------------------------- host data


def _host_data(variables: _Vars) -> dict[str, Any]:
    """node_ip, SSH connection and node name of one host."""
    host, report = variables.host, variables.report
    subject = f"host {host!r}"
    data: dict[str, Any] = {}
    ssh_host = _alias(variables, "ansible_host", "ansible_ssh_host")
    candidates = [("ip", variables.get("ip")), ("access_ip", variables.get("access_ip")), ("ansible_host", ssh_host)]
    if _is_ipv4(host):
        candidates.append(("the host name", host))
    key, address = next(((k, v) for k, v in candidates if v not in (None, "")), ("", None))
    if address is None:
        report.error(subject, "no address: set ip (the node's cluster address), access_ip or ansible_host")
    elif not _is_ipv4(address):
        report.error(subject, f"{key} {address!r} is not an IPv4 address; set ip to the node's IPv4 address")
    else:
        data["node_ip"] = str(address)
    ip, access_ip = variables.get("ip"), variables.get("access_ip")
    if ip and access_ip and str(ip) != str(access_ip):
        report.warning(subject, f"access_ip {access_ip} ignored: the node uses ip {ip} for everything here")
    if ssh_host not in (None, ""):
        data["ssh_hostname"] = str(ssh_host)
    data.update(_connection(variables))
    node_name = variables.get("kube_override_hostname")
    if isinstance(node_name, str) and node_name.strip():
        data["node_name"] = node_name.strip()
    return data


def _connection(variables: _Vars) -> dict[str, Any]:
    """SSH user, port, key and passwords; a user other than root connects with sudo (kubespray's become)."""
    data: dict[str, Any] = {}
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
    return data


def _alias(variables: _Vars, *names: str) -> Any:
    """A connection variable with aliases: as in Ansible's SSH plugin, the last alias that is set wins."""
    found = [name for name in names if name in variables.raw]
    return variables.get(found[-1]) if found else None


# ----------------------------------------------------------- cluster data


def _cluster_data(variables: _Vars) -> dict[str, Any]:
    """The cluster-wide keys mapped from one host's variables."""
    data: dict[str, Any] = {}
    report = variables.report
    version = variables.get("kube_version")
    if version is None:
        report.warning(
            "key 'kube_version'",
            f"not set: kubespray's default depends on its release; using ours, {model.DEFAULTS['kube_version']}",
        )
    else:
        data["kube_version"] = str(version).strip().lstrip("v")
    data["pod_cidr"] = str(variables.get("kube_pods_subnet", KUBESPRAY_DEFAULTS["kube_pods_subnet"]))
    data["service_cidr"] = str(variables.get("kube_service_addresses", KUBESPRAY_DEFAULTS["kube_service_addresses"]))
    name, domain = variables.get("cluster_name"), variables.get("dns_domain")
    if name is not None:
        data["cluster_name"] = str(name)
    if domain is not None or name is not None:
        data["dns_domain"] = str(
            domain if domain is not None else name
        )  # kubespray: dns_domain defaults to cluster_name
    port = variables.get("kube_apiserver_port")
    number = None if port is None else _port(variables, "kube_apiserver_port", port)
    if number is not None:
        data["apiserver_port"] = number
    for theirs, ours in (("kube_image_repo", "image_repository"), ("calico_version", "calico_version")):
        if variables.get(theirs) is not None:
            data[ours] = str(variables.get(theirs))
    _runtime_and_network(variables, data)
    _unsupported_features(variables)
    return data


def _runtime_and_network(variables: _Vars, data: dict[str, Any]) -> None:
    """container_manager, kube_network_plugin and Calico's encapsulation."""
    report = variables.report
    runtime = str(variables.get("container_manager", "containerd"))
    if runtime != "containerd":
        report.error(
            "key 'container_manager'",
            f"{runtime!r} is not supported: the nodes run containerd here (kubespray's default); set "
            "container_manager: containerd",
        )
    plugin = str(variables.get("kube_network_plugin", "calico"))
    if plugin != "calico":
        report.error("key 'kube_network_plugin'", f"{plugin!r} is not supported: the pod network is Calico here")
    ipip, vxlan = variables.get("calico_ipip_mode"), variables.get("calico_vxlan_mode")
    if ipip is None and vxlan is None:
        return
    ipip, vxlan = str(ipip or "Never"), str(vxlan or "Never")
    if ipip != "Never" and vxlan != "Never":
        report.error("key 'calico_ipip_mode'", f"{ipip!r} with calico_vxlan_mode {vxlan!r}: Calico allows only one")
        return
    mode, kind = (vxlan, "VXLAN") if vxlan != "Never" else (ipip, "IPIP")
    if mode == "Never":
        data["calico_encapsulation"] = "None"
    elif mode in ("Always", "CrossSubnet"):
        data["calico_encapsulation"] = kind if mode == "Always" else f"{kind}CrossSubnet"
    else:
        report.error("key 'calico_ipip_mode'", f"mode {mode!r}: expected Always, CrossSubnet or Never")


def _unsupported_features(variables: _Vars) -> None:
    """kube-proxy mode, DNS, dual stack and add-ons: what kubespray would do and this deploy does not."""
    report = variables.report
    proxy = variables.peek("kube_proxy_mode")
    if proxy is not None and str(proxy) != "iptables":
        report.warning("key 'kube_proxy_mode'", f"{proxy!r} ignored: kube-proxy runs in iptables mode here")
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


def _api_endpoints(plans: list[tuple[HostPlan, _Vars]], mode: str, report: Report) -> None:
    """Map each host's loadbalancer_apiserver (or kube-vip) onto vip/api_lb_port or control_plane_endpoint."""
    cps = [plan.name for plan, _ in plans if plan.role == model.CONTROL_PLANE_GROUP]
    cp_ips = [plan.data["node_ip"] for plan, _ in plans if plan.name in cps and "node_ip" in plan.data]
    node_ips = {plan.data.get("node_ip") for plan, _ in plans}
    for plan, variables in plans:
        plan.cluster.update(_api_endpoint(variables, plan, cps, cp_ips, node_ips, mode, report))


def _api_endpoint(
    variables: _Vars, plan: HostPlan, cps: list[str], cp_ips: list[str], node_ips: set[Any], mode: str, report: Report
) -> dict[str, Any]:
    """Which endpoint: kube-vip -> our VIP; a free address in the control planes' subnet -> our VIP
    (keepalived + HAProxy); anything else (or a domain name) -> an external load balancer."""
    ha = len(cps) > 1
    lb = variables.get("loadbalancer_apiserver")
    kube_vip = _truthy(variables.get("kube_vip_enabled", False)) and variables.get("kube_vip_address")
    apiserver_port = plan.cluster.get("apiserver_port", KUBESPRAY_DEFAULTS["kube_apiserver_port"])
    if _truthy(variables.peek("loadbalancer_apiserver_localhost", False)):
        report.warning(
            "key 'loadbalancer_apiserver_localhost'",
            "ignored: nodes reach the API servers through the control-plane endpoint here, not a local proxy",
        )
    if lb is None and not kube_vip:
        if ha:
            report.error(
                "key 'loadbalancer_apiserver'",
                f"not set, but {len(cps)} control planes ({', '.join(cps)}) need one shared API endpoint: kubespray's "
                "per-node local proxy has no equivalent here. Set loadbalancer_apiserver: {address: <a free IP in "
                "the control planes' subnet>, port: 16443} (keepalived + HAProxy hold that VIP on the control "
                "planes) or the address and port of your own load balancer",
            )
        return {}
    if lb is not None and not isinstance(lb, dict):
        report.error("key 'loadbalancer_apiserver'", f"{lb!r}: expected a mapping with address and port")
        return {}
    lb = lb or {}
    address = lb.get("address", kube_vip or None)
    port = _port(variables, "loadbalancer_apiserver.port", lb.get("port", apiserver_port))
    domain = variables.get("apiserver_loadbalancer_domain_name")
    if port is None:
        return {}
    chosen = mode
    if mode == "auto":
        chosen = _auto_mode(address, port, domain, bool(kube_vip), ha, cp_ips, node_ips, apiserver_port)
    if chosen == "vip":
        return _vip(address, port, apiserver_port, bool(kube_vip), ha, mode, report)
    return _external(address, port, domain, report)


def _auto_mode(
    address: Any,
    port: int,
    domain: Any,
    kube_vip: bool,
    ha: bool,
    cp_ips: list[str],
    node_ips: set[Any],
    apiserver_port: int,
) -> str:
    """'vip' when the address can only be a VIP on the control planes, else 'external'."""
    if kube_vip:
        return "vip"
    if not ha or domain or not _is_ipv4(address) or not cp_ips or str(address) in node_ips or port == apiserver_port:
        return "external"
    subnet = ipaddress.IPv4Network(f"{cp_ips[0]}/24", strict=False)
    return "vip" if ipaddress.IPv4Address(str(address)) in subnet else "external"


def _vip(
    address: Any, port: int, apiserver_port: int, kube_vip: bool, ha: bool, mode: str, report: Report
) -> dict[str, Any]:
    """Our VIP: keepalived holds it on the control planes, HAProxy listens on api_lb_port."""
    subject = "key 'loadbalancer_apiserver'"
    if not _is_ipv4(address):
        report.error(subject, f"address {address!r} is not an IPv4 address; a VIP must be one")
        return {}
    if not ha:
        report.warning(subject, f"VIP {address} ignored: with one control plane the endpoint is its node IP")
        return {}
    if port == apiserver_port:
        report.warning(
            subject,
            f"the endpoint becomes {address}:{VIP_PORT}, not :{port}: HAProxy runs beside the API servers, which "
            f"already listen on {apiserver_port}",
        )
        port = VIP_PORT
    elif mode == "auto" and not kube_vip:
        report.warning(
            subject,
            f"{address}:{port} is a free address in the control planes' subnet: keepalived + HAProxy on the control "
            "planes will hold it as the VIP. If a load balancer of yours already serves it, import with "
            "--api-lb external (KUBESPRAY_API_LB=external)",
        )
    return {"vip": str(address), "api_lb_port": port, "api_load_balancer": "keepalived"}


def _external(address: Any, port: int, domain: Any, report: Report) -> dict[str, Any]:
    """An external load balancer (or DNS name) in front of the API servers."""
    host = domain or address
    if not host:
        report.error("key 'loadbalancer_apiserver'", "has no address (and apiserver_loadbalancer_domain_name is unset)")
        return {}
    if domain and address:
        report.warning(
            "key 'apiserver_loadbalancer_domain_name'",
            f"{domain!r} must resolve to {address} on every node and here (kubespray writes /etc/hosts entries; "
            "this deploy does not)",
        )
    return {"control_plane_endpoint": f"{host}:{port}", "api_load_balancer": "external"}
