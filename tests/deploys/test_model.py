"""The cluster model: example inventories build; every kind of bad input is named."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Inventory

from deploys import components, model
from tests import plan

REPO = plan.REPO


def inventory(cps: list[tuple[str, dict[str, Any]]], workers: list[tuple[str, dict[str, Any]]], **data: Any) -> Inventory:
    hosts = cps + workers
    return Inventory((hosts, data), control_plane=([h for h, _ in cps], {}), workers=([h for h, _ in workers], {}))


def cp(i: int, **data: Any) -> tuple[str, dict[str, Any]]:
    return (f"cp{i}", {"node_ip": f"10.1.0.{10 + i}", **data})


def w(i: int, **data: Any) -> tuple[str, dict[str, Any]]:
    return (f"w{i}", {"node_ip": f"10.1.0.{20 + i}", **data})


def build(inv: Inventory, tmp_path: Path) -> model.Cluster:
    defaults = {**components.defaults(), "secrets_dir": str(tmp_path / "s")}
    return model.build(inv, defaults)


def error_of(inv: Inventory, tmp_path: Path) -> str:
    with pytest.raises(model.ClusterConfigError) as caught:
        build(inv, tmp_path)
    return str(caught.value)


def test_prod_inventory_builds_ha_model(tmp_path: Path) -> None:
    cluster = plan.from_inventory_file(REPO / "inventories" / "prod.py", secrets_dir=str(tmp_path))
    built = build(cluster, tmp_path)
    assert [n.node_name for n in built.control_planes] == ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
    assert built.endpoint == "192.168.11.230:16443"
    assert built.load_balancer == "keepalived"
    assert built.kubeadm_api_version == "kubeadm.k8s.io/v1beta4"
    assert built.pause_image == "registry.k8s.io/pause:3.10.2"


def test_test_inventory_builds_single_control_plane(tmp_path: Path) -> None:
    built = build(plan.from_inventory_file(REPO / "inventories" / "test.py"), tmp_path)
    assert len(built.control_planes) == 1 and len(built.workers) == 4
    assert built.endpoint == "192.168.10.10:6443"
    assert built.load_balancer is None and set(built.secrets) == {"encryption_key"}


def test_secrets_generated_once_private_and_reused(tmp_path: Path) -> None:
    inv = inventory([cp(0), cp(1), cp(2)], [w(0)], vip="10.1.0.100")
    first = build(inv, tmp_path)
    path = tmp_path / "s" / "secrets.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first.secrets["keepalived_auth_pass"]) == 8
    assert len(first.secrets["haproxy_stats_password"]) >= 20
    assert "awesomePassword" not in path.read_text()
    assert build(inv, tmp_path).secrets == first.secrets
    assert "keepalived_auth_pass" not in repr(first)


@pytest.mark.parametrize(
    ("inv", "expected"),
    [
        (inventory([], [w(0)]), "group 'control_plane' is empty"),
        (inventory([cp(0), cp(1)], [w(0)], vip="10.1.0.100"), "stacked etcd needs an odd number"),
        (inventory([cp(0), cp(1), cp(2)], [w(0)]), "need a shared endpoint: set 'vip'"),
        (inventory([cp(0), cp(1), cp(2)], [w(0)], vip="10.1.0.11"), "'vip': 10.1.0.11 is the node_ip of host 'cp1'"),
        (inventory([cp(0), cp(1), cp(2)], [w(0)], vip="10.9.0.100"), "outside the control planes' subnet"),
        (inventory([cp(0)], [w(0), ("w1", {"node_ip": "10.1.0.20"})]), "node_ip 10.1.0.20 is also used by host 'w0'"),
        (inventory([cp(0)], [w(0), ("W0", {"node_ip": "10.1.0.30"})]), "node name 'w0' (its inventory name lower-cased, as the kubelet does) is also used"),
        (inventory([cp(0)], [w(0)], pod_cidr="10.96.0.0/16"), "'pod_cidr' 10.96.0.0/16 and 'service_cidr' 10.96.0.0/12 overlap"),
        (inventory([cp(0)], [w(0)], pod_cidr="10.1.0.0/16"), "'pod_cidr': 10.1.0.0/16 overlaps the node network"),
        (inventory([cp(0)], [w(0)], service_cidr="10.0.0.0/8"), "contains node_ip 10.1.0.10 of host 'cp0'"),
        (inventory([cp(0)], [w(0)], pod_cidr="10.300.0.0/16"), "'pod_cidr' = '10.300.0.0/16' on host 'cp0' (from the inventory's data for all hosts): expected an IPv4 network"),
        (inventory([cp(0)], [w(0)], kube_version="1.34"), "'kube_version' = '1.34' on host 'cp0' (from the inventory's data for all hosts): expected a version X.Y.Z"),
        (inventory([cp(0)], [w(0)], kube_version="1.19.3"), "'kube_version': '1.19.3' is not supported"),
        (inventory([cp(0)], [w(0)], kube_version="latest"), "'kube_version' = 'latest'"),
        (inventory([cp(0)], [w(0)], calico_encapsulation="GRE"), "'calico_encapsulation' = 'GRE' on host 'cp0' (from the inventory's data for all hosts): expected one of 'IPIP'"),
        (inventory([cp(0)], [w(0)], keepalived_router_id=300), "'keepalived_router_id' = 300 on host 'cp0' (from the inventory's data for all hosts): expected an integer 1-255"),
        (inventory([cp(0)], [w(0)], kube_apt_repo_url="ftp://x"), "'kube_apt_repo_url'"),
        (inventory([cp(0)], [("w0", {})]), "host 'w0': no 'node_ip' set and its SSH address 'w0' is not an IPv4 address"),
        (inventory([cp(0)], [w(0, kube_version="1.33.1")]), "'kube_version': '1.37.1' on host 'cp0' but '1.33.1' on host 'w0'"),
        (inventory([cp(0), cp(1), cp(2)], [w(0)], api_load_balancer="external"), "'control_plane_endpoint' is required"),
        (inventory([cp(0)], [w(0)], control_plane_endpoint="api.example.com"), "expected HOST:PORT"),
    ],
)
def test_bad_input_is_named(inv: Inventory, expected: str, tmp_path: Path) -> None:
    assert expected in error_of(inv, tmp_path)


def test_host_in_both_groups_or_neither(tmp_path: Path) -> None:
    both = Inventory(
        ([cp(0), w(0), ("stray", {"node_ip": "10.1.0.99"})], {}),
        control_plane=(["cp0", "w0"], {}),
        workers=(["w0"], {}),
    )
    message = error_of(both, tmp_path)
    assert "host 'w0': in both 'control_plane' and 'workers'" in message
    assert "host 'stray': in neither 'control_plane' nor 'workers'" in message


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    message = error_of(inventory([cp(0), cp(1)], [w(0)]), tmp_path)
    assert "odd number" in message and "need a shared endpoint" in message and "2 problem(s)" in message


def test_every_supported_minor_is_v1beta4_with_its_pause_image(tmp_path: Path) -> None:
    for minor, release in model.RELEASES.items():
        built = build(inventory([cp(0)], [w(0)], kube_version=f"v{release.patch}"), tmp_path)
        assert built.kube_version == release.patch and built.kubeadm_api_version == "kubeadm.k8s.io/v1beta4"
        assert built.pause_image == f"registry.k8s.io/pause:{release.pause}"
    assert list(model.RELEASES) == ["1.35", "1.36", "1.37"]
    assert model.DEFAULTS["kube_version"] == model.RELEASES["1.37"].patch


def test_end_of_life_minor_refused(tmp_path: Path) -> None:
    with pytest.raises(model.ClusterConfigError, match=r"'1.34.2' is not supported; supported minor releases: 1.35, 1.36, 1.37"):
        build(inventory([cp(0)], [w(0)], kube_version="1.34.2"), tmp_path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"containerd_version": "9.9.9"}, "'containerd_sha256' is required: containerd 9.9.9 has no pinned digest"),
        ({"containerd_sha256": "abc"}, "'containerd_sha256' = 'abc' on host 'cp0' (from the inventory's data for all hosts): expected a SHA-256"),
        ({"runc_version": "1.4"}, "'runc_version' = '1.4' on host 'cp0' (from the inventory's data for all hosts): expected a version X.Y.Z"),
        ({"apiserver_cert_sans": ["ok.example.com", "bad name"]}, "'apiserver_cert_sans' = ['ok.example.com', 'bad name']"),
        ({"control_plane_schedulable": "yes"}, "'control_plane_schedulable' = 'yes' on host 'cp0' (from the inventory's data for all hosts): expected True or False"),
        ({"registry_mirror": "ftp://x"}, "'registry_mirror' = 'ftp://x' on host 'cp0' (from the inventory's data for all hosts): expected an http(s) URL"),
    ],
)
def test_artifact_and_new_keys_checked(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(model.ClusterConfigError, match=re.escape(message)):
        build(inventory([cp(0)], [w(0)], **data), tmp_path)


def test_external_load_balancer_endpoint(tmp_path: Path) -> None:
    built = build(
        inventory([cp(0), cp(1), cp(2)], [w(0)], api_load_balancer="external", control_plane_endpoint="nlb.aws:16443"),
        tmp_path,
    )
    assert built.endpoint == "nlb.aws:16443" and not built.keepalived and set(built.secrets) == {"encryption_key"}


def test_external_load_balancer_spans_subnets(tmp_path: Path) -> None:
    """Control planes in one subnet per availability zone behind an external load balancer."""
    cps = [(f"cp{i}", {"node_ip": f"10.0.{i}.10"}) for i in range(3)]
    inv = inventory(cps, [w(0)], api_load_balancer="external", control_plane_endpoint="nlb.example.com:6443")
    built = build(inv, tmp_path)
    assert [n.node_ip for n in built.control_planes] == ["10.0.0.10", "10.0.1.10", "10.0.2.10"]
    keepalived = inventory(cps, [w(0)], vip="10.0.0.100")
    assert "control planes must share one subnet" in error_of(keepalived, tmp_path)


@pytest.mark.parametrize(
    ("inv", "expected"),
    [
        (
            inventory([cp(0), cp(1), cp(2)], [w(0)], vip="10.1.0.0"),
            "key 'vip': 10.1.0.0 is the network address of the control planes' subnet 10.1.0.0/24",
        ),
        (
            inventory([cp(0), cp(1), cp(2)], [w(0)], vip="10.9.0.5"),
            "(node_network is not set: taken as the /24 around the first control plane 'cp0', 10.1.0.10; "
            "set 'node_network' to your subnet)",
        ),
        (
            inventory([cp(0)], [w(0)], calico_encapsulation=None),
            'None (the Python value) is no encapsulation name; to turn encapsulation off write the string "None"',
        ),
        (
            inventory([cp(0)], [w(0)], calico_encapsulation="vxlan"),
            "Calico's names are case-sensitive: write 'VXLAN'",
        ),
        (
            inventory([cp(0)], [w(0, node_name="Worker-0")]),
            "host 'w0': key 'node_name' = 'Worker-0' (from its entry in the inventory): upper-case letters are not "
            "allowed (Kubernetes names are lower-case): write 'worker-0'",
        ),
        (
            inventory([cp(0)], [("w0", {"nodeip": "10.1.0.20", "ssh_hostname": "127.0.0.1"})]),
            "host 'w0': unknown key 'nodeip'; did you mean 'node_ip'?",
        ),
        (
            inventory([cp(0)], [("w0", {"node_ip": "10.1.0.20", "ssh_hostname": "127.0.0.1"}), ("w1", {"ssh_hostname": "127.0.0.2"})]),
            "host 'w1': no 'node_ip' set, so it would be its SSH address 127.0.0.2, a loopback address the other "
            "nodes cannot reach",
        ),
        (inventory([cp(0)], [w(0)], pod_cird="10.0.0.0/8"), "unknown key 'pod_cird'; did you mean 'pod_cidr'?"),
        (inventory([cp(0)], [w(0)], kube_verison="1.37.1"), "unknown key 'kube_verison'; did you mean 'kube_version'?"),
        (inventory([cp(0)], [w(0)], _sduo=True), "unknown key '_sduo'; did you mean '_sudo'?"),
        (inventory([cp(0)], [w(0, node_ip="127.0.0.1")]), "host 'w0': node_ip 127.0.0.1 is a loopback address"),
        (inventory([cp(0)], [w(0)], cluster_name=5), "key 'cluster_name' = 5 on host 'cp0'"),
        (inventory([cp(0)], [w(0)], pod_cidr="10.244.0.1/16"), "host bits are set; the network is 10.244.0.0/16"),
        (inventory([cp(0)], [w(0)], api_lb_port=True), "key 'api_lb_port' = True on host 'cp0' (from the inventory's data for all hosts): expected an integer 1-65535"),
        (
            inventory([cp(0)], [w(0, kube_version="1.36.4")]),
            "'1.37.1' on host 'cp0' but '1.36.4' on host 'w0' (from its entry in the inventory); a cluster-wide key "
            "must be the same on every host: set it once in group data, not per host",
        ),
    ],
)
def test_messages_say_what_is_wrong_in_the_users_words(inv: Inventory, expected: str, tmp_path: Path) -> None:
    assert expected in error_of(inv, tmp_path)


def test_pyinfra_keys_and_group_data_helpers_are_not_unknown(tmp_path: Path) -> None:
    inv = inventory(
        [cp(0, ssh_user="admin", ssh_port=2222, _sudo=True, _sudo_password="x", ssh_key="~/.ssh/id")],
        [w(0, ssh_hostname="10.9.9.9", _su_user="root", _env={"A": "b"})],
        ssh_strict_host_key_checking="yes",
        _MIRROR="http://10.77.0.1:8080",  # a group data file's helper
    )
    assert build(inv, tmp_path).node("w0").node_ip == "10.1.0.20"


def test_a_long_hostile_value_is_shown_trimmed(tmp_path: Path) -> None:
    message = error_of(inventory([cp(0)], [w(0)], dns_domain="a\n" * 500), tmp_path)
    assert "'a\\na\\na" in message and "... (1000 characters)" in message and "\na\n" not in message
