"""Issue 13: kubespray inventories written the way public ones are (fixtures/: kubespray v2.31.0's sample and
docs example, its terraform/aws output, a course homework, a production inventory shared with other services),
one section per point of the issue; and kubespray's own inventory checks, which every export must pass."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from interop import kubespray_release
from interop.exporter import export_inventory
from interop.importer import Imported, import_inventory
from interop.kubespray import write_pyinfra
from interop.report import KubesprayError
from tests.interop.helpers import FIXTURES, ansible_list, kubespray_failures, write_tree

AWS = FIXTURES / "terraform-aws"
AWS_CPS = [f"ip-10-250-{n}.eu-central-1.compute.internal" for n in ("193-11", "209-52", "194-77")]
NLB = "kubernetes-nlb-devtest-7c2ab1e6f3d94b1b.elb.eu-central-1.amazonaws.com"


def _text(imported: Imported) -> str:
    return "\n".join(str(w) for w in imported.warnings)


def _import(tmp_path: Path, files: dict[str, str]) -> Imported:
    return import_inventory(write_tree(tmp_path / "inventory" / "mycluster", files))


def _error(tmp_path: Path, files: dict[str, str]) -> str:
    with pytest.raises(KubesprayError) as caught:
        _import(tmp_path, files)
    return str(caught.value)


# ------------------------------------------- 1. kube_version as kubespray 2.28+ reads it


@pytest.fixture(scope="module")
def exported_listing(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The homework inventory imported, exported again, and read by the real ansible-inventory."""
    tmp = tmp_path_factory.mktemp("homework")
    files = write_pyinfra(import_inventory(FIXTURES / "homework"), tmp / "ours", "hw")
    export_inventory(files[0], tmp / "ks", "ini")
    return ansible_list(tmp / "ks", tmp)


def test_point1_exported_kube_version_passes_kubesprays_check(exported_listing: dict[str, Any]) -> None:
    assert kubespray_failures(exported_listing) == []
    assert {v["kube_version"] for v in exported_listing["_meta"]["hostvars"].values()} == {"1.35.4"}


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("v1.35.4", "Kubernetes vv1.35.4 is not supported for amd64"),  # the old export's form
        ("1.32.9", "only support newer version of Kubernetes than 1.33.0"),
        ("1.35.5", "Kubernetes v1.35.5 is not supported for amd64"),
    ],
)
def test_point1_kubesprays_check_refuses_what_v2_31_does_not_install(
    exported_listing: dict[str, Any], version: str, expected: str
) -> None:
    listing = copy.deepcopy(exported_listing)
    for variables in listing["_meta"]["hostvars"].values():
        variables["kube_version"] = version
    assert expected in "\n".join(kubespray_failures(listing))


def test_point1_the_releases_that_accept_the_form_are_listed() -> None:
    assert kubespray_release.RELEASE == "v2.31.0" and list(kubespray_release.HISTORY)[0] == "v2.28.0"
    assert kubespray_release.kube_version_supported("1.33.0") and kubespray_release.kube_version_supported("1.35.4")
    assert not kubespray_release.kube_version_supported("v1.35.4")
    assert not kubespray_release.kube_version_supported("1.36.0")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"etcd": ["node-1", "node-2"]}, "Stop if even number of etcd hosts"),
        ({"rename": "Node_1"}, "Hostname must consist of lower case alphanumeric characters"),
        ({"vars": {"calico_ipip_mode": "Always"}}, "IP in IP and VXLAN mode is mutualy exclusive modes"),
        ({"vars": {"kube_pods_subnet": "10.233.1.0/24"}}, "kube_pods_subnet cannot be the same network segment"),
        ({"vars": {"helm_enabled": "true"}}, "Stop if known booleans are set as strings: helm_enabled"),
        ({"vars": {"kube_proxy_mode": "userspace"}}, "The selected choice is not supported"),
        ({"vars": {"calico_version": "3.28.0"}}, "Calico version not supported 3.28.0"),
        ({"vars": {"kubelet_static_pod_path": "/x"}}, "Removed variables present: kubelet_static_pod_path"),
        ({"vars": {"ignore_assert_errors": True, "kube_version": "1.20.0"}}, "Kubernetes v1.20.0 is not supported"),
    ],
)
def test_kubesprays_checks_catch_what_kubespray_stops_on(
    exported_listing: dict[str, Any], change: dict[str, Any], expected: str
) -> None:
    """The re-implemented checks (roles/validate_inventory, preinstall 0040, calico check.yml at v2.31.0) can fail."""
    listing = copy.deepcopy(exported_listing)
    hostvars = listing["_meta"]["hostvars"]
    for variables in hostvars.values():
        variables.update(change.get("vars", {}))
    if "etcd" in change:
        listing["etcd"] = {"hosts": change["etcd"]}
    if "rename" in change:
        hostvars[change["rename"]] = hostvars.pop("node-1")
        for group in ("kube_control_plane", "kube_node", "etcd"):
            hosts = listing[group]["hosts"]
            listing[group] = {"hosts": [change["rename"] if h == "node-1" else h for h in hosts]}
    assert expected in "\n".join(kubespray_failures(listing))


# ------------------------------------------- 2. node IP: ip, else default route, never ansible_host silently


def test_point2_ip_is_the_node_ip_never_the_public_ansible_host() -> None:
    imported = import_inventory(FIXTURES / "sample")
    assert [(n.name, n.node_ip) for n in imported.cluster.nodes][:2] == [("node1", "10.3.0.1"), ("node2", "10.3.0.2")]
    assert dict(imported.control_planes)["node1"]["ssh_hostname"] == "95.54.0.12"
    assert "ansible_host" not in _text(imported)


def test_point2_without_ip_the_ssh_address_is_used_and_said_so() -> None:
    imported = import_inventory(AWS)
    assert imported.cluster.node(AWS_CPS[1]).node_ip == "10.250.209.52"
    warning = next(w for w in imported.warnings if "no ip or access_ip" in w.message)
    assert warning.subject.startswith(f"hosts {AWS_CPS[0]!r}, {AWS_CPS[1]!r}")  # one warning, every host named
    assert "kubespray would use the host's default-route IPv4" in warning.message
    assert "node_ip = ansible_host (the SSH address) here" in warning.message


def test_point2_a_public_ssh_address_is_called_out(tmp_path: Path) -> None:
    hosts = "[kube_control_plane]\nnode1 ansible_host=158.160.12.34\n[etcd]\nnode1\n[kube_node]\nnode1\n"
    imported = _import(tmp_path, {"inventory.ini": hosts})
    assert "host 'node1': no ip or access_ip" in _text(imported)
    assert "a public address: cluster traffic (etcd, kubelet, pods) would use it" in _text(imported)


def test_point2_with_only_access_ip_it_says_what_is_used(tmp_path: Path) -> None:
    hosts = (
        "[all]\nnode-1 ansible_host=158.160.12.34 access_ip=192.168.100.11\n"
        "node-2 ansible_host=158.160.12.35 access_ip=192.168.100.12\n"
        "[kube_control_plane]\nnode-1\n[etcd]\nnode-1\n[kube_node]\nnode-2\n"
    )
    imported = _import(tmp_path, {"inventory.ini": hosts})
    assert [n.node_ip for n in imported.cluster.nodes] == ["192.168.100.11", "192.168.100.12"]
    assert (
        "hosts 'node-1', 'node-2': access_ip but no ip: kubespray would give the kubelet and API server the host's "
        "default-route IPv4 (known only on the host) and use access_ip between nodes; node_ip = access_ip here, for "
        "everything"
    ) in _text(imported)


# ------------------------------------------- 3. control planes also in kube_node are schedulable


def test_point3_a_three_node_everything_cluster_has_schedulable_control_planes() -> None:
    imported = import_inventory(FIXTURES / "homework")
    assert imported.cluster.control_plane_schedulable is True
    assert imported.cluster_data["control_plane_schedulable"] is True
    assert [n.role for n in imported.cluster.nodes] == ["control_plane"] * 3
    assert "NoSchedule" not in _text(imported)


def test_point3_all_in_one(tmp_path: Path) -> None:
    hosts = "node1 ansible_host=192.168.56.10 ip=192.168.56.10\n[kube_control_plane]\nnode1\n[etcd]\nnode1\n"
    imported = _import(tmp_path, {"hosts.ini": hosts + "[kube_node]\nnode1\n"})
    assert (imported.cluster.control_plane_schedulable, len(imported.cluster.nodes)) == (True, 1)
    tainted = _import(tmp_path / "b", {"hosts.ini": hosts + "[kube_node]\n"})
    assert tainted.cluster.control_plane_schedulable is False  # production style keeps the taint


# ------------------------------------------- 4. other services' groups are ignored, in one warning


def test_point4_a_shared_inventory_imports_only_the_cluster() -> None:
    imported = import_inventory(FIXTURES / "production")
    assert [n.name.split(".")[0] for n in imported.cluster.nodes] == [
        "k8s-cp-01", "k8s-cp-02", "k8s-cp-03", "k8s-wk-01", "k8s-wk-02", "k8s-wk-03",
    ]  # fmt: skip
    groups = [w for w in imported.warnings if w.subject.startswith("groups ")]
    assert len(groups) == 1
    assert groups[0].subject == "groups 'cassandra', 'minio', 'monitoring', 'jumphosts'"
    assert "ignored, as kubespray ignores them" in groups[0].message
    outside = next(w for w in imported.warnings if "in no kubespray node group" in w.message)
    assert "'cass-01.dc1.example.net'" in outside.subject and "'minio-01.dc1.example.net'" in outside.subject
    assert "k8s-wk-03" not in outside.subject  # also in minio, but a node


def test_point4_a_typo_is_ignored_like_kubespray_does_but_pointed_out(tmp_path: Path) -> None:
    hosts = "[kube_control_plane]\ncp1 ip=10.1.0.11\n[etcd]\ncp1\n[kube_nodes]\nw1 ip=10.1.0.21\n"
    imported = _import(tmp_path, {"hosts": hosts})
    assert "kube_nodes (w1) - a typo of 'kube_node'?" in _text(imported)
    assert "host 'w1': in no kubespray node group: not part of the cluster" in _text(imported)
    assert [n.name for n in imported.cluster.nodes] == ["cp1"]


# ------------------------------------------- 5. terraform/aws: control planes across zones, the NLB's name


def test_point5_the_terraform_aws_layout_imports_with_the_nlb_as_endpoint() -> None:
    imported = import_inventory(AWS)
    cluster = imported.cluster
    assert [n.node_ip for n in cluster.control_planes] == ["10.250.193.11", "10.250.209.52", "10.250.194.77"]
    assert (cluster.load_balancer, cluster.endpoint, cluster.vip) == ("external", f"{NLB}:6443", None)
    assert "bastion" not in [n.name for n in cluster.nodes]
    warning = next(w for w in imported.warnings if w.subject == "key 'apiserver_loadbalancer_domain_name'")
    assert "kubespray's contrib/terraform/aws NLB listens on aws_nlb_api_port" in warning.message
    assert "set loadbalancer_apiserver: {port: N}" in warning.message


def test_point5_the_nlb_port_given_is_used(tmp_path: Path) -> None:
    files = {"hosts": (AWS / "hosts").read_text(), "group_vars/all.yml": "loadbalancer_apiserver: {port: 443}\n"}
    assert _import(tmp_path, files).cluster.endpoint == f"{NLB}:443"


def test_point5_without_any_load_balancer_the_endpoint_is_asked_for(tmp_path: Path) -> None:
    hosts = (AWS / "hosts").read_text().replace("[k8s_cluster:vars]\n", "").replace("apiserver_loadbalancer_", "#")
    message = _error(tmp_path, {"hosts": hosts})
    assert "key 'loadbalancer_apiserver': not set, but 3 control planes need one shared API endpoint" in message
    assert "apiserver_loadbalancer_domain_name: <its DNS name>" in message


# ------------------------------------------- 6. hints that say what is really wrong


def test_point6_kubesprays_docs_example_names_etcd_outside_the_control_planes() -> None:
    with pytest.raises(KubesprayError) as caught:
        import_inventory(FIXTURES / "docs-example")
    assert (
        "host 'node3': in etcd but not a control plane: etcd outside the control planes is not supported here"
    ) in str(caught.value)
    assert "add it to kube_node" not in str(caught.value)


def test_point6_dedicated_etcd_hosts(tmp_path: Path) -> None:
    hosts = (AWS / "hosts").read_text().replace(
        "[etcd]\n" + "\n".join(AWS_CPS), "[etcd]\netcd1 ansible_host=10.250.193.50\netcd2\netcd3"
    )
    message = _error(tmp_path, {"hosts": hosts})
    assert "host 'etcd1': in etcd but not a control plane: etcd outside the control planes is not supported" in message
    assert "(a dedicated etcd host); remove it from etcd" in message
    assert "kube_control_plane (control plane) or kube_node" not in message


def test_point6_a_bastion_is_told_about_ssh_not_node_groups(tmp_path: Path) -> None:
    text = _text(import_inventory(AWS))
    assert "host 'bastion': the SSH bastion, not a node" in text and "ProxyJump 18.195.2.240" in text
    hosts = (FIXTURES / "sample" / "inventory.ini").read_text()
    files = {"inventory.ini": "bastion01 ansible_host=203.0.113.5 ansible_user=ops\n" + hosts}
    files["group_vars/all.yml"] = "loadbalancer_apiserver: {address: 10.3.0.100, port: 8443}\n"
    text = _text(_import(tmp_path, files))
    assert "if bastion01 is your SSH jump host, name it 'bastion' in a [bastion] group" in text


# ------------------------------------------- 8. interpretations stated, kubespray's defaults applied


def test_point8_kubesprays_defaults_are_applied_or_the_difference_stated() -> None:
    imported = import_inventory(FIXTURES / "sample")
    data = imported.cluster_data
    assert (data["cluster_name"], data["dns_domain"], data["calico_encapsulation"]) == (
        "cluster.local",
        "cluster.local",
        "VXLAN",  # calico_vxlan_mode Always, kubespray's default
    )
    text = _text(imported)
    assert "key 'kube_proxy_mode': 'ipvs': kube-proxy runs in iptables mode here" in text
    assert "key 'kube_version': not set: kubespray v2.31.0 installs its newest, 1.35.4; so does this import" in text


def test_point8_ipip_never_alone_means_vxlan() -> None:
    imported = import_inventory(FIXTURES / "production")
    assert imported.cluster_data["calico_encapsulation"] == "VXLAN"
    assert "'Never' alone: calico_vxlan_mode is kubespray's default, Always" in _text(imported)


def test_point8_kube_vip_control_plane_vip_interface_and_sans() -> None:
    imported = import_inventory(FIXTURES / "production")
    cluster = imported.cluster
    assert (cluster.vip, cluster.endpoint) == ("10.20.0.100", "10.20.0.100:16443")
    interfaces = [n.keepalived_interface for n in cluster.control_planes]
    assert interfaces == ["ens192", "ens192", "bond0"]  # kube_vip_interface, host_vars included
    assert cluster.extra_cert_sans == ("k8s-api.dc1.example.net",)
    assert "key 'kube_vip_services_enabled': kube-vip for Services of type LoadBalancer is not deployed" in _text(
        imported
    )


def test_point8_a_services_only_kube_vip_address_is_not_the_api_vip(tmp_path: Path) -> None:
    hosts = "[kube_control_plane]\ncp1 ip=10.1.0.11\n[etcd]\ncp1\n[kube_node]\nw1 ip=10.1.0.21\n"
    vars_all = "kube_vip_enabled: true\nkube_vip_services_enabled: true\nkube_vip_address: 10.1.0.200\n"
    imported = _import(tmp_path, {"hosts": hosts, "group_vars/all.yml": vars_all})
    assert (imported.cluster.vip, imported.cluster.endpoint) == (None, "10.1.0.11:6443")
    assert "key 'kube_vip_address': 10.1.0.200 is not the API endpoint" in _text(imported)


def test_point8_supplementary_addresses_and_access_ips_become_sans(tmp_path: Path) -> None:
    assert import_inventory(FIXTURES / "homework").cluster.extra_cert_sans == (
        "158.160.12.34",
        "k8s.student42.example.org",
    )
    hosts = (
        "[kube_control_plane]\ncp1 ip=10.1.0.11 access_ip=203.0.113.11\n[etcd]\ncp1\n"
        "[kube_node]\nw1 ip=10.1.0.21 access_ip=203.0.113.21\n"
    )
    imported = _import(tmp_path, {"hosts": hosts})
    assert imported.cluster.extra_cert_sans == ("203.0.113.11",)  # a control plane's, as kubespray does
    assert "hosts 'cp1', 'w1': access_ip differs from ip" in _text(imported)


# ------------------------------------------- 9. no stale /etc/hosts note


def test_point9_a_load_balancer_name_must_resolve_through_dns() -> None:
    text = _text(import_inventory(AWS))
    assert f"{NLB} must resolve on every node and on this machine through your DNS" in text
    assert "neither kubespray, since v2.29.0, nor this deploy writes /etc/hosts" in text
    assert "kubespray writes /etc/hosts" not in text
