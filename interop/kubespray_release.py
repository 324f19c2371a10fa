"""The kubespray release the interop targets: what it accepts, what it does by default, its inventory checks.

Target: kubespray v2.31.0, its newest release tag (2026-04-24). Every value below is read from
kubernetes-sigs/kubespray at that tag:

- roles/kubespray_defaults/vars/main/checksums.yml: the Kubernetes versions it can install (keys of
  kubeadm_checksums, kubelet_checksums and kubectl_checksums; amd64 and arm64 list the same) and the
  Calico versions (calico_crds_checksums.no_arch); the newest of each is its default.
- roles/kubespray_defaults/defaults/main/{main,download}.yml, roles/network_plugin/calico_defaults/
  defaults/main.yml, roles/kubernetes/control-plane/defaults/main/main.yml: the defaults in `DEFAULTS`.
- roles/validate_inventory/tasks/main.yml (run by playbooks/boilerplate.yml before anything else),
  roles/kubernetes/preinstall/tasks/0040-verify-settings.yml ("Stop if bad hostname") and
  roles/network_plugin/calico/tasks/check.yml: the asserts `check_inventory` re-implements, those that
  depend on the inventory alone (the others need facts from the hosts).
- roles/dynamic_groups/tasks/main.yml: the old group names it still maps (`LEGACY_GROUPS`).

kube_version is written X.Y.Z: kubespray 2.28.0 dropped the leading "v" (its checksums are keyed
"1.32.5"; "v1.32.5" fails with "Kubernetes vv1.32.5 is not supported"). `HISTORY` lists what each
release since then accepts.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any

from deploys import rules

RELEASE = "v2.31.0"
# minor -> newest patch: every patch from .0 up to it is in the checksums (amd64 = arm64).
KUBE_VERSIONS = {"1.33": 11, "1.34": 7, "1.35": 4}
CALICO_VERSIONS = {"3.29": 7, "3.30": 7, "3.31": 5}
# Kubernetes versions of each release that writes X.Y.Z (roles/kubespray_defaults/vars/main/checksums.yml
# at each tag): for the documentation and for messages.
HISTORY = {
    "v2.28.0": "1.30.0-1.30.13, 1.31.0-1.31.9, 1.32.0-1.32.5",
    "v2.28.1": "1.30.0-1.30.14, 1.31.0-1.31.12, 1.32.0-1.32.8",
    "v2.29.0": "1.31.0-1.31.13, 1.32.0-1.32.9, 1.33.0-1.33.5",
    "v2.29.1": "1.31.0-1.31.14, 1.32.0-1.32.10, 1.33.0-1.33.7",
    "v2.30.0": "1.32.0-1.32.11, 1.33.0-1.33.7, 1.34.0-1.34.3",
    "v2.31.0": "1.33.0-1.33.11, 1.34.0-1.34.7, 1.35.0-1.35.4",
}
# kubespray's defaults for what an inventory may leave out (only those the interop reads or checks).
DEFAULTS: dict[str, Any] = {
    "kube_version": "1.35.4",  # the newest in the checksums
    "kube_version_min_required": "1.33.0",  # the oldest
    "calico_version": "3.31.5",
    "containerd_min_version_required": "1.3.7",
    "containerd_version": "2.2.3",
    "image_arch": "amd64",
    "cluster_name": "cluster.local",
    "kube_proxy_mode": "ipvs",
    "kube_network_plugin": "calico",
    "container_manager": "containerd",
    "etcd_deployment_type": "host",
    "kube_pods_subnet": "10.233.64.0/18",
    "kube_service_addresses": "10.233.0.0/18",
    "kube_network_node_prefix": 24,
    "kube_apiserver_port": 6443,
    "kube_image_repo": "registry.k8s.io",
    "dns_mode": "coredns",
    "cert_management": "script",
    "resolvconf_mode": "host_resolvconf",
    "calico_ipip_mode": "Never",
    "calico_vxlan_mode": "Always",
    "calico_network_backend": "vxlan",
    "calico_pool_name": "default-pool",
    "ipv4_stack": True,
    "ipv6_stack": False,  # = enable_dual_stack_networks | default(false)
    "ignore_assert_errors": False,
    "download_run_once": False,
    "download_always_pull": False,
    "download_localhost": False,
    "helm_enabled": False,
    "openstack_lbaas_enabled": False,
    "kata_containers_enabled": False,
    "gvisor_enabled": False,
    "kube_external_ca_mode": False,
    "auto_renew_certificates": False,
    "cloud_provider": "",
    "external_cloud_provider": "",
    "kubelet_max_pods": 110,
}
REMOVED_VARIABLES = ("kubelet_static_pod_path",)  # validate_inventory "Fail if removed variables are used"
LEGACY_GROUPS = {"kube-master": "kube_control_plane", "kube-node": "kube_node", "calico-rr": "calico_rr",
                 "no-floating": "no_floating"}  # fmt: skip
_HOSTNAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")  # 0040-verify-settings
_POOL_NAME = re.compile(r"^[a-zA-Z0-9-_\\.]{2,63}$")  # calico/tasks/check.yml, as Ansible's `match` reads it
_MODES = ("Always", "CrossSubnet", "Never")


def _listed(table: Mapping[str, int], version: str) -> bool:
    """Whether X.Y.Z is a key of the checksums (every patch .0..newest of a listed minor)."""
    match = re.fullmatch(r"(\d+\.\d+)\.(\d+)", version)
    return bool(match) and match.group(1) in table and int(match.group(2)) <= table[match.group(1)]


def kube_version_supported(version: str) -> bool:
    """Whether kubespray v2.31.0 installs Kubernetes VERSION (X.Y.Z, no "v")."""
    return _listed(KUBE_VERSIONS, version)


def calico_version_supported(version: str) -> bool:
    """Whether kubespray v2.31.0 installs Calico VERSION (X.Y.Z, no "v")."""
    return _listed(CALICO_VERSIONS, version)


def supported_kube_versions() -> str:
    """'1.33.0-1.33.11, ...' for messages."""
    return HISTORY[RELEASE]


def _version(value: Any) -> tuple[int, ...] | None:
    """Ansible's `version` test on X.Y.Z; None where it would fail (a "v" prefix, not a string)."""
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)*", value):
        return None
    return tuple(int(p) for p in value.split("."))


def _network(value: Any) -> ipaddress.IPv4Network | None:
    """`value | ansible.utils.ipaddr('net')`: a network with a prefix (not a single address), else None."""
    try:
        net = ipaddress.IPv4Network(str(value), strict=False)
    except ValueError:
        return None
    return net if "/" in str(value) and net.prefixlen < 32 else None


def kubespray_groups(groups: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Group -> hosts after kubespray's dynamic_groups role: old names mapped, k8s_cluster the union."""
    result = {name: list(hosts) for name, hosts in groups.items()}
    for old, new in LEGACY_GROUPS.items():
        for host in groups.get(old, []):
            result.setdefault(new, [])
            if host not in result[new]:
                result[new].append(host)
    members = [h for g in ("kube_node", "kube_control_plane", "calico_rr") for h in result.get(g, [])]
    cluster = result.setdefault("k8s_cluster", [])
    cluster += [h for h in dict.fromkeys(members) if h not in cluster]
    return result


def check_inventory(hostvars: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Sequence[str]]) -> list[str]:
    """The failures kubespray v2.31.0's inventory asserts would stop on (empty: it goes on).

    HOSTVARS are the inventory's variables per host (as `ansible-inventory --list` gives them, templates
    taken literally), GROUPS each group's hosts with children expanded. Asserts that kubespray runs once
    are run for every host here: stricter, never laxer.
    """
    groups = kubespray_groups(groups)
    failures: list[str] = []
    for host in hostvars:
        values = {**DEFAULTS, **hostvars[host]}
        names = [g for g, members in groups.items() if host in members]
        for message in _inventory_asserts(values, groups, names) + _calico_asserts(values, groups, names, host):
            failure = f"host {host!r}: {message}"
            if failure not in failures:
                failures.append(failure)
        in_play = "k8s_cluster" in names or "etcd" in names  # preinstall runs on k8s_cluster:etcd
        if in_play and not _HOSTNAME.match(host) and values["ignore_assert_errors"] is not True:
            failures.append(
                f"host {host!r}: Hostname must consist of lower case alphanumeric characters, '.' or '-', and must "
                "start and end with an alphanumeric character"
            )
    return failures


def _inventory_asserts(values: Mapping[str, Any], groups: Mapping[str, Sequence[str]], names: list[str]) -> list[str]:
    """roles/validate_inventory/tasks/main.yml, in its order; `guarded`: those skipped by ignore_assert_errors."""
    failed: list[str] = []
    guarded: list[str] = []
    removed = [v for v in REMOVED_VARIABLES if v in values]
    if removed:
        failed.append(f"Removed variables present: {', '.join(removed)}")
    if not groups.get("kube_control_plane"):
        guarded.append("Stop if kube_control_plane group is empty")
    if not groups.get("etcd") and values["etcd_deployment_type"] != "kubeadm":
        guarded.append("Group 'etcd' cannot be empty in external etcd mode")
    version, minimum = _version(values["kube_version"]), _version(values["kube_version_min_required"])
    if version is None or minimum is None or version < minimum:
        guarded.append(
            "The current release of Kubespray only support newer version of Kubernetes than "
            f"{values['kube_version_min_required']} - You are trying to apply {values['kube_version']}"
        )
    for key in ("download_run_once", "download_always_pull", "helm_enabled", "openstack_lbaas_enabled"):
        if not isinstance(values[key], bool):
            guarded.append(f"Stop if known booleans are set as strings: {key} = {values[key]!r}")
    if len(groups.get("etcd", groups.get("kube_control_plane", []))) % 2 == 0:
        guarded.append("Stop if even number of etcd hosts")
    plugin = values["kube_network_plugin"]
    ipv4 = values["ipv4_stack"] is True
    addresses = 2 ** (32 - int(values["kube_network_node_prefix"])) - 2
    too_many = int(values["kubelet_max_pods"]) > addresses
    if "k8s_cluster" in names and plugin not in ("calico", "none") and ipv4 and too_many:
        guarded.append("Do not schedule more pods on a node than inet addresses are available.")
    if values["cloud_provider"] and values["cloud_provider"] != "external":
        guarded.append(f"Check cloud_provider value: {values['cloud_provider']!r}")
    providers = ("hcloud", "huaweicloud", "oci", "openstack", "vsphere", "manual")
    if values["cloud_provider"] == "external" and values["external_cloud_provider"] not in providers:
        guarded.append(f"Check external_cloud_provider value: {values['external_cloud_provider']!r}")
    if ipv4:
        failed += _subnet_asserts(values, groups, plugin)
    if values["ipv6_stack"] is True:
        failed.append("ipv6_stack: the IPv6 checks are not re-implemented here (exports are IPv4 only)")
    failed += _choice_asserts(values)
    return failed + (guarded if values["ignore_assert_errors"] is not True else [])


def _subnet_asserts(values: Mapping[str, Any], groups: Mapping[str, Sequence[str]], plugin: str) -> list[str]:
    """kube_service_addresses and kube_pods_subnet: networks, not colliding, big enough for the nodes."""
    failed = []
    services, pods = _network(values["kube_service_addresses"]), _network(values["kube_pods_subnet"])
    if services is None:
        failed.append(f"kube_service_addresses = '{values['kube_service_addresses']}' is not a valid network range")
    if pods is None:
        failed.append(f"kube_pods_subnet = '{values['kube_pods_subnet']}' is not a valid network range")
    # `kube_pods_subnet | ansible.utils.ipaddr(kube_service_addresses)` is the pod network when it lies inside it.
    if pods and services and pods.subnet_of(services):
        failed.append("kube_pods_subnet cannot be the same network segment as kube_service_addresses")
    node_count = len(groups.get("k8s_cluster", []))
    if pods and plugin != "calico" and 2 ** (int(values["kube_network_node_prefix"]) - pods.prefixlen) < node_count:
        failed.append("Not enough ipv4 IPs are available for the desired node count.")
    return failed


def _choice_asserts(values: Mapping[str, Any]) -> list[str]:
    """"Stop if unsupported options selected", and the asserts that follow it."""
    failed = []
    choices = (
        values["kube_network_plugin"]
        in ("calico", "flannel", "cloud", "cilium", "cni", "kube-ovn", "kube-router", "macvlan", "custom_cni", "none"),
        values["dns_mode"] in ("coredns", "coredns_dual", "manual", "none"),
        values["kube_proxy_mode"] in ("iptables", "ipvs", "nftables"),
        values["cert_management"] in ("script", "none"),
        values["resolvconf_mode"] in ("docker_dns", "host_resolvconf", "none"),
        values["etcd_deployment_type"] in ("host", "docker", "kubeadm"),
        values["etcd_deployment_type"] in ("host", "kubeadm") or values["container_manager"] == "docker",
        values["container_manager"] in ("docker", "crio", "containerd"),
    )
    if not all(choices):
        failed.append("The selected choice is not supported")
    if values["download_localhost"] and not values["download_run_once"]:
        failed.append("download_localhost requires enable download_run_once")
    if values["kata_containers_enabled"] and values["container_manager"] == "docker":
        failed.append("kata_containers_enabled support only for containerd and crio-o")
    if values["gvisor_enabled"] and values["container_manager"] != "containerd":
        failed.append("gvisor_enabled support only compatible with containerd")
    containerd = values["containerd_version"]
    if containerd not in ("latest", "edge", "stable") and values["container_manager"] == "containerd":
        have, need = _version(containerd), _version(values["containerd_min_version_required"])
        if have is None or need is None or have < need:
            failed.append(f"containerd_version is too low. Minimum version {values['containerd_min_version_required']}")
    if values["kube_external_ca_mode"] and values["auto_renew_certificates"] and values["ignore_assert_errors"] is not True:
        failed.append("Variable auto_renew_certificates must be disabled when CA are managed externally")
    version = values["kube_version"]
    if not (isinstance(version, str) and kube_version_supported(version)) or values["image_arch"] not in (
        "amd64",
        "arm64",
    ):
        failed.append(
            f"Kubernetes v{version} is not supported for {values['image_arch']}. Please check "
            "roles/kubespray_defaults/vars/main/checksums.yml for supported versions."
        )
    return failed


def _calico_asserts(
    values: Mapping[str, Any], groups: Mapping[str, Sequence[str]], names: list[str], host: str
) -> list[str]:
    """roles/network_plugin/calico/tasks/check.yml: the asserts on inventory variables (Calico only)."""
    if values["kube_network_plugin"] != "calico":
        return []
    failed = [
        f"'{legacy}' configuration variable is deprecated"
        for legacy in ("ipip", "ipip_mode", "calcio_ipam_autoallocateblocks")
        if legacy in values
    ]
    version = values["calico_version"]
    if not (isinstance(version, str) and calico_version_supported(version)):
        failed.append(f"Calico version not supported {version}")
    first = (groups.get("kube_control_plane") or [None])[0]
    if groups.get("calico_rr") and host == first and not rules.is_ipv4(values.get("cluster_id")):
        failed.append("A unique cluster_id is required if using calico_rr, and it must be a valid IPv4 address")
    if "calico_rr" in names and "k8s_cluster" not in names:
        failed.append("calico_rr must be a child group of k8s_cluster group")
    if not _POOL_NAME.match(str(values["calico_pool_name"])):
        failed.append("calico_pool_name contains invalid characters")
    if values["calico_network_backend"] not in ("bird", "vxlan", "none"):
        failed.append("calico network backend is not 'bird', 'vxlan' or 'none'")
    ipip, vxlan = values["calico_ipip_mode"], values["calico_vxlan_mode"]
    if ipip not in _MODES or vxlan not in _MODES:
        failed.append("calico inter host encapsulation mode is not 'Always', 'CrossSubnet' or 'Never'")
    elif ipip != "Never" and vxlan != "Never":
        failed.append("IP in IP and VXLAN mode is mutualy exclusive modes")
    return failed
