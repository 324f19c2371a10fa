"""Our inventory -> a kubespray inventory directory.

Writes `inventory.ini` (or `hosts.yaml`) with kube_control_plane, kube_node, etcd (= the
control planes), an empty calico_rr and k8s_cluster (their parent), each host with
ansible_host, ip, access_ip and ansible_user; `group_vars/k8s_cluster/k8s-cluster.yml`
(kube_version "vX.Y.Z", subnets, containerd, Calico, cluster name, DNS domain, API port,
image repository, kube-proxy in iptables mode like ours); `group_vars/k8s_cluster/k8s-net-calico.yml`
(the encapsulation); `group_vars/all/all.yml` (etcd_deployment_type: host and, with a shared
endpoint, loadbalancer_apiserver with the local per-node proxy disabled).
"""

from __future__ import annotations

import ipaddress
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyinfra.api import State
from pyinfra.context import ctx_state

from deploys import components, model
from deploys.model import ClusterConfigError
from interop.report import Finding, KubesprayError, Report

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
    "kubeconfig_path", "secrets_dir",
)  # fmt: skip
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
    directory = Path(out)
    contents = {
        Path(FORMATS[fmt]): (render_ini if fmt == "ini" else render_yaml)(hosts, str(path)),
        K8S_CLUSTER_FILE: _yaml_file(k8s_cluster, str(path)),
        CALICO_FILE: _yaml_file(calico, str(path)),
        ALL_FILE: _yaml_file(all_vars, str(path)),
    }
    files = _write(directory, contents, fmt, force)
    return Exported(directory, files, report.warnings)


# -------------------------------------------------------------------- hosts


def kubespray_hosts(inventory: Any, cluster: model.Cluster, report: Report) -> list[KubesprayHost]:
    """Every node as a kubespray host named by its node name, control planes first."""
    return [
        KubesprayHost(node.node_name, node.role, _host_vars(inventory.get_host(node.name), node, report))
        for node in cluster.nodes
    ]


def _host_vars(host: Any, node: model.Node, report: Report) -> dict[str, Any]:
    """ansible_host (the SSH address), ip and access_ip (the node IP), and the SSH user, port and key."""
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
    for ours, theirs in (
        ("ssh_user", "ansible_user"),
        ("ssh_port", "ansible_port"),
        ("ssh_key", "ansible_ssh_private_key_file"),
    ):
        value = host.data.get(ours)
        if value not in (None, ""):
            result[theirs] = int(value) if ours == "ssh_port" else str(value)
    return result


# --------------------------------------------------------------- group vars


def group_vars(cluster: model.Cluster, report: Report) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(k8s_cluster/k8s-cluster.yml, k8s_cluster/k8s-net-calico.yml, all/all.yml) for the cluster."""
    k8s_cluster = {
        "kube_version": f"v{cluster.kube_version}",
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
    ipip, vxlan = CALICO_MODES[str(cluster.setting("calico_encapsulation"))]
    calico = {"calico_ipip_mode": ipip, "calico_vxlan_mode": vxlan}
    all_vars: dict[str, Any] = {"etcd_deployment_type": "host"}
    all_vars.update(_load_balancer(cluster, report))
    return k8s_cluster, calico, all_vars


def _load_balancer(cluster: model.Cluster, report: Report) -> dict[str, Any]:
    """loadbalancer_apiserver for a shared endpoint (VIP or external); nothing for one control plane."""
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
    if _is_ip(host):
        result["loadbalancer_apiserver"] = {"address": host, "port": port}
    else:
        result["apiserver_loadbalancer_domain_name"] = host
        result["loadbalancer_apiserver"] = {"port": port}
    result["loadbalancer_apiserver_localhost"] = False
    return result


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


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
    derived = str(ipaddress.IPv4Network(f"{cluster.first_control_plane.node_ip}/24", strict=False))
    if cluster.node_network != derived:
        report.warning("key 'node_network'", f"{cluster.node_network!r} has no kubespray equivalent; not exported")
    for node in cluster.nodes:
        if node.keepalived_interface:
            report.warning(f"host {node.name!r}", "keepalived_interface has no kubespray equivalent; not exported")
    if not cluster.workers:
        report.warning("group 'kube_node'", "empty: kubespray expects at least one worker")


# ----------------------------------------------------------------- rendering


def _header(source: str) -> str:
    return f"# kubespray inventory exported by kubeadm-pyinfra from {source} (python -m interop.kubespray export).\n"


def render_ini(hosts: list[KubesprayHost], source: str) -> str:
    """inventory.ini: every host with its variables under [all], then the groups by name."""
    lines = [_header(source).rstrip("\n"), "", "[all]"]
    lines += [" ".join([h.name] + [f"{k}={_ini_quote(v)}" for k, v in h.vars.items()]) for h in hosts]
    for group, members in _groups(hosts).items():
        lines += ["", f"[{group}]", *members]
    lines += ["", "[k8s_cluster:children]", "kube_control_plane", "kube_node", "calico_rr", ""]
    return "\n".join(lines)


def _ini_quote(value: Any) -> str:
    text = str(value)
    return text if text and all(c not in text for c in " \t'\"#=\\") else shlex.quote(text)


def render_yaml(hosts: list[KubesprayHost], source: str) -> str:
    """hosts.yaml: all.hosts with their variables, then the groups as children of all."""
    children: dict[str, Any] = {
        group: {"hosts": {name: None for name in members}} for group, members in _groups(hosts).items()
    }
    children["k8s_cluster"] = {"children": {"kube_control_plane": None, "kube_node": None, "calico_rr": None}}
    document = {"all": {"hosts": {h.name: dict(h.vars) for h in hosts}, "children": children}}
    return _header(source) + yaml.dump(document, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def _groups(hosts: list[KubesprayHost]) -> dict[str, list[str]]:
    """kubespray group -> member names: etcd is exactly the control planes; calico_rr is empty."""
    cps = [h.name for h in hosts if h.role == model.CONTROL_PLANE_GROUP]
    workers = [h.name for h in hosts if h.role == model.WORKER_GROUP]
    return {"kube_control_plane": cps, "kube_node": workers, "etcd": cps, "calico_rr": []}


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
