"""Model values the rule tests (test_model_rules.py) leave loose: the VIP's suggestion, the node network, the endpoint's parts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploys import components, model
from tests import plan


def build(cps: list[tuple[str, dict[str, Any]]], workers: list[tuple[str, dict[str, Any]]], tmp_path: Path,
          **data: Any) -> model.Cluster:
    return model.build(plan.fake_inventory(cps, workers, {"secrets_dir": str(tmp_path / "s"), **data}),
                       components.defaults())


def error(cps: list[tuple[str, dict[str, Any]]], workers: list[tuple[str, dict[str, Any]]], tmp_path: Path,
          **data: Any) -> str:
    with pytest.raises(model.ClusterConfigError) as caught:
        build(cps, workers, tmp_path, **data)
    return str(caught.value)


def cps(*last: int) -> list[tuple[str, dict[str, Any]]]:
    return [(f"cp{i}", {"node_ip": f"10.4.0.{n}"}) for i, n in enumerate(last)]


def test_the_vip_suggestion_is_a_free_address(tmp_path: Path) -> None:
    """The example VIP in the message is the highest host address no node uses."""
    message = error(cps(254, 253, 10), [("w0", {"node_ip": "10.4.0.252"})], tmp_path, vip="10.4.0.255")
    assert "10.4.0.255 is the broadcast address of the control planes' subnet 10.4.0.0/24" in message
    assert message.rstrip().endswith("the VIP must be a free address inside it, e.g. 10.4.0.251")


def test_the_vip_outside_names_a_free_address_too(tmp_path: Path) -> None:
    message = error(cps(10, 11, 12), [], tmp_path, vip="10.5.0.1")
    assert "10.5.0.1 is outside the control planes' subnet 10.4.0.0/24" in message
    assert message.rstrip().endswith("e.g. 10.4.0.254")


def test_a_good_vip_is_the_endpoint(tmp_path: Path) -> None:
    cluster = build(cps(10, 11, 12), [("w0", {"node_ip": "10.4.0.20"})], tmp_path, vip="10.4.0.100")
    assert (cluster.endpoint_host, cluster.endpoint_port, cluster.endpoint) == ("10.4.0.100", 16443, "10.4.0.100:16443")
    assert cluster.vip == "10.4.0.100" and cluster.load_balancer == "keepalived" and cluster.keepalived
    assert cluster.node_network == "10.4.0.0/24"


def test_an_explicit_endpoint_is_split_into_host_and_port(tmp_path: Path) -> None:
    cluster = build(cps(10, 11, 12), [], tmp_path, api_load_balancer="external",
                    control_plane_endpoint="api.example.com:8443")
    assert (cluster.endpoint_host, cluster.endpoint_port) == ("api.example.com", 8443)
    assert cluster.vip is None and cluster.load_balancer == "external" and not cluster.keepalived


def test_an_external_load_balancer_needs_an_endpoint(tmp_path: Path) -> None:
    message = error(cps(10, 11, 12), [], tmp_path, api_load_balancer="external")
    assert "key 'control_plane_endpoint' is required with api_load_balancer 'external' and 3 control planes" in message


def test_control_planes_outside_the_node_network(tmp_path: Path) -> None:
    message = error([("cp0", {"node_ip": "10.4.0.10"}), ("cp1", {"node_ip": "10.4.1.10"}),
                     ("cp2", {"node_ip": "10.4.0.12"})], [], tmp_path, vip="10.4.0.100")
    assert "host '@fake/cp1': node_ip 10.4.1.10 is outside 10.4.0.0/24" in message
    assert "control planes must share one subnet" in message


def test_an_external_load_balancer_allows_control_planes_in_several_subnets(tmp_path: Path) -> None:
    cluster = build([("cp0", {"node_ip": "10.4.0.10"}), ("cp1", {"node_ip": "10.4.1.10"}),
                     ("cp2", {"node_ip": "10.4.2.10"})], [], tmp_path, api_load_balancer="external",
                    control_plane_endpoint="10.9.0.1:6443")
    assert [n.node_ip for n in cluster.control_planes] == ["10.4.0.10", "10.4.1.10", "10.4.2.10"]


def test_the_service_network_may_not_hold_a_node(tmp_path: Path) -> None:
    message = error(cps(10), [("w0", {"node_ip": "10.96.0.5"})], tmp_path)
    assert "key 'service_cidr': 10.96.0.0/12 contains node_ip 10.96.0.5 of host '@fake/w0'" in message


def test_the_model_keeps_what_the_data_says(tmp_path: Path) -> None:
    cluster = build(cps(10), [("w0", {"node_ip": "10.4.0.20"})], tmp_path, cluster_name="lab2",
                    service_cidr="10.112.0.0/12", image_repository="registry.example.com/k8s/",
                    control_plane_schedulable=True, apiserver_cert_sans=["api.example.com", "10.4.0.99"])
    assert cluster.name == "lab2" and cluster.service_cidr == "10.112.0.0/12"
    assert cluster.image_repository == "registry.example.com/k8s" and cluster.control_plane_schedulable is True
    assert cluster.extra_cert_sans == ("api.example.com", "10.4.0.99")
    assert cluster.secrets_dir == str(tmp_path / "s")
    assert [n.name for n in cluster.nodes] == ["@fake/cp0", "@fake/w0"]


def test_group_data_skipped_by_pyinfra_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "group_data"
    folder.mkdir()
    for name in ("all", "prod", "workers", "other"):
        (folder / f"{name}.py").write_text("")
    inventory = plan.fake_inventory(cps(10), [("w0", {"node_ip": "10.4.0.20"})], {})
    assert model.skipped_group_data(inventory, folder) == [folder / "workers.py"]


def test_connector_prefixes_and_ssh_users_are_not_part_of_node_names(tmp_path: Path) -> None:
    from pyinfra.api import Inventory

    hosts = [("@fake/CP-0", {"node_ip": "10.4.0.10"}), ("admin@w-1.example", {"node_ip": "10.4.0.20"})]
    inventory = Inventory((hosts, {"secrets_dir": str(tmp_path / "s")}),
                          control_plane=(["@fake/CP-0"], {}), workers=(["admin@w-1.example"], {}))
    cluster = model.build(inventory, components.defaults())
    assert [n.node_name for n in cluster.nodes] == ["cp-0", "w-1.example"]


def test_a_bad_keepalived_interface_names_where_it_was_set(tmp_path: Path) -> None:
    message = error([("cp0", {"node_ip": "10.4.0.10", "keepalived_interface": "eth0:1"}),
                     ("cp1", {"node_ip": "10.4.0.11"}), ("cp2", {"node_ip": "10.4.0.12"})], [], tmp_path,
                    vip="10.4.0.100")
    assert "'keepalived_interface' = 'eth0:1' (from its entry in the inventory)" in message


@pytest.mark.parametrize("character", ["\u202e", "\u200b", "\ud800", "\ue000", "\u0378", "\u2028", "\u2029", "\x1b"],
                         ids=["Cf-rtl-override", "Cf-zero-width", "Cs", "Co", "Cn", "Zl", "Zp", "Cc"])
def test_local_paths_with_invisible_characters_are_refused(tmp_path: Path, character: str) -> None:
    message = error(cps(10), [], tmp_path, kubeconfig_path=f"/home/op/kube{character}/admin.conf")
    assert "'kubeconfig_path'" in message and "expected an absolute path or one under '~/'" in message
