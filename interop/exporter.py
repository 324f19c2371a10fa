"""Our inventory -> a kubespray inventory directory that kubespray v2.31.0 accepts.

Writes `inventory.ini` (or `hosts.yaml`) with kube_control_plane, kube_node (plus the control
planes when they are schedulable), etcd (= the control planes), an empty calico_rr and k8s_cluster
(their parent), each host with ansible_host, ip, access_ip and its SSH settings (user, port, key,
password, become); `group_vars/k8s_cluster/k8s-cluster.yml` (kube_version "X.Y.Z", subnets,
containerd, Calico, cluster name, DNS domain, API port, image repository, kube-proxy in iptables mode
like ours, extra certificate SANs); `group_vars/k8s_cluster/k8s-net-calico.yml` (encapsulation and,
when kubespray has it, the Calico version); `group_vars/all/all.yml` (etcd_deployment_type: host and,
with a shared endpoint, loadbalancer_apiserver with the local per-node proxy disabled). Before
writing, the result goes through kubespray's own inventory checks (`interop.kubespray_release`).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyinfra.api import State
from pyinfra.context import ctx_state

from deploys import components, model, rules
from deploys.model import ClusterConfigError
from interop import kubespray_release
from interop.report import Finding, KubesprayError, Report, format_findings

REPO = Path(__file__).resolve().parent.parent
FORMATS = {"ini": "inventory.ini", "yaml": "hosts.yaml"}
K8S_CLUSTER_FILE = Path("group_vars/k8s_cluster/k8s-cluster.yml")
CALICO_FILE = Path("group_vars/k8s_cluster/k8s-net-calico.yml")
ALL_FILE = Path("group_vars/all/all.yml")
KUBESPRAY_GROUPS = ("kube_control_plane", "kube_node", "etcd", "calico_rr")
# Our keys the export carries over (the rest is compared with the defaults and reported).
EXPORTED_KEYS = (
    "cluster_name", "kube_version", "pod_cidr", "service_cidr", "dns_domain", "image_repository", "apiserver_port",
    "vip", "control_plane_endpoint", "api_load_balancer", "api_lb_port", "calico_encapsulation", "node_network",
    "kubeconfig_path", "secrets_dir", "control_plane_schedulable", "apiserver_cert_sans", "calico_version",
    "containerd_version", "runc_version", "cni_plugins_version",
)  # fmt: skip
PINNED = (("containerd", "containerd_version"), ("runc", "runc_version"), ("CNI plugins", "cni_plugins_version"))
# Our SSH / privilege keys -> Ansible's connection variables (the rest is named in a warning, never its value).
CONNECTION_KEYS = {
    "ssh_user": "ansible_user",
    "ssh_port": "ansible_port",
    "ssh_key": "ansible_ssh_private_key_file",
    "ssh_password": "ansible_password",
    "_sudo": "ansible_become",
    "_sudo_user": "ansible_become_user",
    "_sudo_password": "ansible_become_password",
}
CALICO_MODES = {  # calico_encapsulation -> (calico_ipip_mode, calico_vxlan_mode)
    "IPIP": ("Always", "Never"),
    "IPIPCrossSubnet": ("CrossSubnet", "Never"),
    "VXLAN": ("Never", "Always"),
    "VXLANCrossSubnet": ("Never", "CrossSubnet"),
    "None": ("Never", "Never"),
}


@dataclass
class KubesprayHost:
    """One exported host: its kubespray name, role and host variables."""

    name: str
    role: str
    vars: dict[str, Any]


@dataclass
class Exported:
    """What an export wrote, and what it could not carry over."""

    directory: Path
    files: list[Path]
    warnings: list[Finding]


def load_cluster(path: str | Path, group_data: Sequence[str | Path] = ()) -> tuple[Any, model.Cluster]:
    """Our inventory file with its group data (as `pyinfra` loads it, no host contacted) and its model."""
    from pyinfra_cli.inventory import make_inventory

    inventory_path = Path(path)
    if not inventory_path.is_file():
        raise KubesprayError(f"{inventory_path}: no such inventory file")
    with ctx_state.use(State()):
        inventory = make_inventory(
            str(inventory_path), cwd=str(REPO), group_data_directories=[str(Path(d)) for d in group_data]
        )
    try:
        return inventory, model.build(inventory, components.defaults(), write_secrets=False)
    except ClusterConfigError as exc:
        raise KubesprayError(f"{inventory_path}: not exported, the cluster is invalid:\n{exc}") from None


def export_inventory(
    path: str | Path, out: str | Path, fmt: str = "ini", group_data: Sequence[str | Path] = (), force: bool = False
) -> Exported:
    """Write the kubespray inventory directory OUT for our inventory PATH."""
    if fmt not in FORMATS:
        raise KubesprayError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    inventory, cluster = load_cluster(path, group_data)
    report = Report()
    hosts = kubespray_hosts(inventory, cluster, report)
    k8s_cluster, calico, all_vars = group_vars(cluster, report)
    _report_unexported(inventory, cluster, report)
    _kubespray_accepts(hosts, cluster, k8s_cluster, calico, all_vars, f"{path}: not exported")
    directory = Path(out)
    contents = {
        Path(FORMATS[fmt]): (render_ini if fmt == "ini" else render_yaml)(
            hosts, str(path), cluster.control_plane_schedulable
        ),
        K8S_CLUSTER_FILE: _yaml_file(k8s_cluster, str(path)),
        CALICO_FILE: _yaml_file(calico, str(path)),
        ALL_FILE: _yaml_file(all_vars, str(path)),
    }
    files = _write(directory, contents, fmt, force)
    return Exported(directory, files, report.warnings)


# -------------------------------------------------------------------- hosts


def kubespray_hosts(inventory: Any, cluster: model.Cluster, report: Report) -> list[KubesprayHost]:
    """Every node as a kubespray host named by its node name, control planes first."""
    hosts = [
        KubesprayHost(node.node_name, node.role, _host_vars(inventory.get_host(node.name), node, report))
        for node in cluster.nodes
    ]
    if any("ansible_password" in h.vars or "ansible_become_password" in h.vars for h in hosts):
        report.warning(
            "key 'ssh_password'",
            "written in plain text into the kubespray inventory, as it is in ours; consider ansible-vault there",
        )
    return hosts


def _host_vars(host: Any, node: model.Node, report: Report) -> dict[str, Any]:
    """ansible_host (the SSH address), ip and access_ip (the node IP), and the SSH and privilege settings."""
    address = host.data.get("ssh_hostname")
    if not address:
        if node.name.startswith("@"):
            report.warning(
                f"host {node.name!r}", f"no SSH address (a connector host): ansible_host = node_ip {node.node_ip}"
            )
            address = node.node_ip
        else:
            address = node.name.split("@")[-1]
    result: dict[str, Any] = {"ansible_host": str(address), "ip": node.node_ip, "access_ip": node.node_ip}
    data = host.data.dict()
    for ours, theirs in CONNECTION_KEYS.items():
        value = data.get(ours)
        if value in (None, "", False):
            continue
        result[theirs] = int(value) if ours == "ssh_port" else True if ours == "_sudo" else str(value)
    unexported = sorted(
        key
        for key, value in data.items()
        if (key.startswith("ssh_") or key.startswith("_")) and key not in CONNECTION_KEYS and key != "ssh_hostname"
        and value not in (None, "", False)
    )  # fmt: skip
    if unexported:
        report.warning(
            f"host {node.name!r}", f"connection setting(s) with no kubespray inventory variable, not exported: "
            f"{', '.join(unexported)}"
        )  # fmt: skip
    return result


# --------------------------------------------------------------- group vars


def group_vars(cluster: model.Cluster, report: Report) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(k8s_cluster/k8s-cluster.yml, k8s_cluster/k8s-net-calico.yml, all/all.yml) for the cluster."""
    if not kubespray_release.kube_version_supported(cluster.kube_version):
        raise KubesprayError(
            f"kube_version {cluster.kube_version}: kubespray {kubespray_release.RELEASE}, its newest release, installs "
            f"only {kubespray_release.supported_kube_versions()} (roles/kubespray_defaults/vars/main/checksums.yml); "
            "set kube_version to one of those (and supported here) to export"
        )
    k8s_cluster: dict[str, Any] = {
        "kube_version": cluster.kube_version,  # X.Y.Z: kubespray 2.28+ refuses "vX.Y.Z"
        "kube_network_plugin": "calico",
        "container_manager": "containerd",
        "kube_pods_subnet": cluster.pod_cidr,
        "kube_service_addresses": cluster.service_cidr,
        "kube_apiserver_port": cluster.apiserver_port,
        "cluster_name": cluster.name,
        "dns_domain": cluster.dns_domain,
        "kube_image_repo": cluster.image_repository,
        "kube_proxy_mode": "iptables",
    }
    if cluster.extra_cert_sans:
        k8s_cluster["supplementary_addresses_in_ssl_keys"] = list(cluster.extra_cert_sans)
    ipip, vxlan = CALICO_MODES[str(cluster.setting("calico_encapsulation"))]
    calico: dict[str, Any] = {"calico_ipip_mode": ipip, "calico_vxlan_mode": vxlan}
    if vxlan == "Never":
        calico["calico_network_backend"] = "bird"  # kubespray's IPIP and BGP modes need bird (docs/CNI/calico.md)
    calico_version = str(cluster.setting("calico_version")).removeprefix("v")
    if kubespray_release.calico_version_supported(calico_version):
        calico["calico_version"] = calico_version
    else:
        report.warning(
            "key 'calico_version'",
            f"{cluster.setting('calico_version')} is not one kubespray {kubespray_release.RELEASE} installs; not "
            f"exported, kubespray installs its default {kubespray_release.DEFAULTS['calico_version']}",
        )
    pinned = [f"{name} {cluster.settings[key]}" for name, key in PINNED if cluster.settings.get(key)]
    if pinned:
        report.warning(
            "keys '*_version'",
            f"{', '.join(pinned)} not exported: kubespray installs the releases it pins (containerd "
            f"{kubespray_release.DEFAULTS['containerd_version']} in {kubespray_release.RELEASE})",
        )
    all_vars: dict[str, Any] = {"etcd_deployment_type": "host"}
    all_vars.update(_load_balancer(cluster, report))
    return k8s_cluster, calico, all_vars


def _load_balancer(cluster: model.Cluster, report: Report) -> dict[str, Any]:
    """loadbalancer_apiserver for a shared endpoint (VIP or external); nothing for one control plane.

    kubespray v2.31.0 reads loadbalancer_apiserver.address for the kubeconfig it writes
    (roles/kubernetes/client/tasks/main.yml) and the certificate; a DNS name is its address too
    (apiserver_loadbalancer_domain_name defaults to it: roles/kubespray_defaults/defaults/main/main.yml).
    """
    lone = f"{cluster.first_control_plane.node_ip}:{cluster.apiserver_port}"
    if cluster.load_balancer is None and cluster.endpoint == lone:
        return {}
    if cluster.keepalived:
        report.warning(
            "key 'vip'",
            f"kubespray does not run keepalived or HAProxy: {cluster.endpoint} must answer before kubespray's "
            "kubeadm init (our keepalived + HAProxy, or a load balancer of yours, forwarding to port "
            f"{cluster.apiserver_port} of every control plane)",
        )
    host, port = cluster.endpoint_host, cluster.endpoint_port
    result: dict[str, Any] = {}
    if not rules.is_ip(host):
        result["apiserver_loadbalancer_domain_name"] = host
    result["loadbalancer_apiserver"] = {"address": host, "port": port}
    result["loadbalancer_apiserver_localhost"] = False
    return result


def _report_unexported(inventory: Any, cluster: model.Cluster, report: Report) -> None:
    """Warn about every data key set away from its default that kubespray has no place for."""
    defaults = components.defaults()
    first = inventory.get_host(cluster.nodes[0].name)
    for key, default in sorted(defaults.items()):
        if key in EXPORTED_KEYS or key in model.HOST_KEYS:
            continue
        value = first.data.get(key, default)
        if value != default:
            report.warning(f"key {key!r}", f"{value!r} has no kubespray equivalent; not exported")
    derived = str(rules.default_node_network(cluster.first_control_plane.node_ip))
    if cluster.node_network != derived:
        report.warning("key 'node_network'", f"{cluster.node_network!r} has no kubespray equivalent; not exported")
    for node in cluster.nodes:
        if node.keepalived_interface:
            report.warning(f"host {node.name!r}", "keepalived_interface has no kubespray equivalent; not exported")
    if not cluster.workers and not cluster.control_plane_schedulable:
        report.warning("group 'kube_node'", "empty: kubespray expects at least one worker")


def _kubespray_accepts(
    hosts: list[KubesprayHost],
    cluster: model.Cluster,
    k8s_cluster: dict[str, Any],
    calico: dict[str, Any],
    all_vars: dict[str, Any],
    what: str,
) -> None:
    """Run kubespray v2.31.0's inventory checks on what would be written; refuse an export it would stop on."""
    groups = _groups(hosts, cluster.control_plane_schedulable)
    hostvars = {h.name: {**all_vars, **k8s_cluster, **calico, **h.vars} for h in hosts}
    failures = kubespray_release.check_inventory(hostvars, groups)
    if failures:
        raise KubesprayError(
            format_findings(what, [Finding("error", f"kubespray {kubespray_release.RELEASE}", f) for f in failures])
        )


# ----------------------------------------------------------------- rendering


def _header(source: str) -> str:
    return f"# kubespray inventory exported by kubeadm-pyinfra from {source} (python -m interop.kubespray export).\n"


def render_ini(hosts: list[KubesprayHost], source: str, schedulable: bool = False) -> str:
    """inventory.ini: every host with its variables under [all], then the groups by name."""
    lines = [_header(source).rstrip("\n"), "", "[all]"]
    lines += [" ".join([h.name] + [f"{k}={_ini_value(v)}" for k, v in h.vars.items()]) for h in hosts]
    for group, members in _groups(hosts, schedulable).items():
        lines += ["", f"[{group}]", *members]
    lines += ["", "[k8s_cluster:children]", "kube_control_plane", "kube_node", "calico_rr", ""]
    return "\n".join(lines)


def _ini_value(value: Any) -> str:
    """A host variable as Ansible's INI parser reads it back with its type: booleans as True/False."""
    text = str(value)
    return text if text and all(c not in text for c in " \t'\"#=\\") else shlex.quote(text)


def render_yaml(hosts: list[KubesprayHost], source: str, schedulable: bool = False) -> str:
    """hosts.yaml: all.hosts with their variables, then the groups as children of all."""
    children: dict[str, Any] = {
        group: {"hosts": {name: None for name in members}} for group, members in _groups(hosts, schedulable).items()
    }
    children["k8s_cluster"] = {"children": {"kube_control_plane": None, "kube_node": None, "calico_rr": None}}
    document = {"all": {"hosts": {h.name: dict(h.vars) for h in hosts}, "children": children}}
    return _header(source) + yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _groups(hosts: list[KubesprayHost], schedulable: bool) -> dict[str, list[str]]:
    """kubespray group -> member names: etcd is exactly the control planes; calico_rr is empty; schedulable
    control planes are in kube_node too (kubespray then drops their NoSchedule taint)."""
    cps = [h.name for h in hosts if h.role == model.CONTROL_PLANE_GROUP]
    workers = [h.name for h in hosts if h.role == model.WORKER_GROUP]
    nodes = (cps if schedulable else []) + workers
    return {"kube_control_plane": cps, "kube_node": nodes, "etcd": cps, "calico_rr": []}


class _Dumper(yaml.SafeDumper):
    """YAML with empty values for None (`node1:`), as kubespray's samples write them."""


_Dumper.add_representer(type(None), lambda dumper, _: dumper.represent_scalar("tag:yaml.org,2002:null", ""))


def _yaml_file(data: dict[str, Any], source: str) -> str:
    return "---\n" + _header(source) + yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _write(directory: Path, contents: dict[Path, str], fmt: str, force: bool) -> list[Path]:
    """Write the files; existing ones (or the other format's inventory file) need --force."""
    other = [directory / name for key, name in FORMATS.items() if key != fmt]
    existing = [directory / rel for rel in contents if (directory / rel).exists()] + [p for p in other if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise KubesprayError(f"{directory}: would overwrite {names}; pass --force to replace them")
    for path in other:
        if path.exists():
            path.unlink()  # Ansible would read both inventory files
    written = []
    for rel, text in contents.items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
