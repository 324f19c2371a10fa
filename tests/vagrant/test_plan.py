"""The whole deploy planned on the Vagrant inventory (@fake hosts): the private network everywhere.

The inventory is built from the recorded `vagrant` output of each topology, its
hosts turned into @fake hosts by tests/plan.py. kubelet (--node-ip), kubeadm
(advertiseAddress, node-ip, join --apiserver-advertise-address; stacked etcd
advertises the same address), keepalived and Calico (interface autodetection)
must use each node's private-network address and interface: never the NAT
address 10.0.2.15, nor the address Vagrant's SSH goes through.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploys import calico
from tests import plan
from tests.vagrant.conftest import INVENTORY, RECORDED, use_recorded

NAT = "10.0.2.15"
TOPOLOGIES: dict[str, dict[str, Any]] = {
    "1+4": {"env": {}, "network": "192.168.56.0/24", "endpoint": "192.168.56.10:6443", "ssh": {"127.0.0.1"}},
    "3+3": {
        "env": {"TOPOLOGY": "3+3"},
        "network": "192.168.11.0/24",
        "endpoint": "192.168.11.230:16443",
        "ssh": {f"192.168.121.{m}" for m in (57, 112, 18, 203, 9, 144)},
    },
}
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")


@pytest.fixture(scope="module", params=list(TOPOLOGIES))
def planned(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, plan.Plan]:
    """The first run on fresh hosts (private network on eth1), per topology."""
    topology = request.param
    mp = pytest.MonkeyPatch()
    try:
        use_recorded(mp, RECORDED / topology)
        mp.delenv("TOPOLOGY", raising=False)
        for key, value in TOPOLOGIES[topology]["env"].items():
            mp.setenv(key, value)
        tmp = tmp_path_factory.mktemp(f"vagrant-plan-{topology}")
        private = {"secrets_dir": str(tmp / "secrets"), "kubeconfig_path": str(tmp / "kube" / "vagrant.conf")}
        inventory = plan.from_inventory_file(Path(INVENTORY), plan.fresh_host("eth1"), **private)
    finally:
        mp.undo()
    return topology, plan.run(inventory)


def host_names(p: plan.Plan) -> list[str]:
    return [node.name.split("/", 1)[1] for node in p.cluster.nodes]


def test_model_uses_private_addresses(planned: tuple[str, plan.Plan]) -> None:
    topology, p = planned
    network = ipaddress.IPv4Network(TOPOLOGIES[topology]["network"])
    assert p.cluster.name == "vagrant"
    assert p.cluster.endpoint == TOPOLOGIES[topology]["endpoint"]
    assert p.cluster.node_network == str(network)
    for node in p.cluster.nodes:
        assert ipaddress.IPv4Address(node.node_ip) in network, node


def test_kubelet_node_ip(planned: tuple[str, plan.Plan]) -> None:
    _, p = planned
    for node in p.cluster.nodes:
        name = node.name.split("/", 1)[1]
        assert plan.uploads(p, name)["/etc/default/kubelet"] == f"KUBELET_EXTRA_ARGS=--node-ip={node.node_ip}\n".encode()


def test_kubeadm_init_and_joins_advertise_the_private_address(planned: tuple[str, plan.Plan]) -> None:
    topology, p = planned
    first = p.cluster.first_control_plane
    first_name = first.name.split("/", 1)[1]
    init, cluster_config, _kubelet = yaml.safe_load_all(plan.uploads(p, first_name)["/etc/kubernetes/kubeadm-config.yaml"])
    assert init["localAPIEndpoint"]["advertiseAddress"] == first.node_ip  # API server and stacked etcd
    assert init["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": first.node_ip}]
    assert cluster_config["controlPlaneEndpoint"] == TOPOLOGIES[topology]["endpoint"]
    endpoint = TOPOLOGIES[topology]["endpoint"]
    for node in p.cluster.nodes[1:]:
        name = node.name.split("/", 1)[1]
        join = yaml.safe_load(plan.uploads(p, name)["/etc/kubernetes/kubeadm-join.yaml"])
        assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == endpoint, name
        assert join["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": node.node_ip}]
        if node.is_control_plane:
            assert join["controlPlane"]["localAPIEndpoint"]["advertiseAddress"] == node.node_ip
        else:
            assert "controlPlane" not in join


def test_calico_autodetects_the_private_interface(planned: tuple[str, plan.Plan]) -> None:
    _, p = planned
    rendered = calico.installation(p.cluster)
    installation = next(yaml.safe_load_all(rendered))
    assert installation["spec"]["calicoNetwork"]["nodeAddressAutodetectionV4"] == {"interface": "^eth1$"}
    first = p.cluster.first_control_plane.name.split("/", 1)[1]
    assert plan.uploads(p, first)["/etc/kubernetes/addons/calico-installation.yaml"] == rendered.encode()


def test_keepalived_on_the_private_network(planned: tuple[str, plan.Plan]) -> None:
    topology, p = planned
    if topology == "1+4":  # one control plane: its own address is the endpoint, no VIP
        assert all("/etc/keepalived/keepalived.conf" not in plan.uploads(p, name) for name in host_names(p))
        return
    for cp in p.cluster.control_planes:
        conf = plan.uploads(p, cp.name.split("/", 1)[1])["/etc/keepalived/keepalived.conf"].decode()
        assert "interface eth1" in conf and f"unicast_src_ip {cp.node_ip}" in conf
        assert "192.168.11.230/24 dev eth1" in conf


def test_no_other_address_anywhere(planned: tuple[str, plan.Plan]) -> None:
    """Every IPv4 address in any command or file: the private network, the pod/service CIDRs or loopback."""
    topology, p = planned
    allowed = [ipaddress.IPv4Network(n) for n in (TOPOLOGIES[topology]["network"], p.cluster.pod_cidr, p.cluster.service_cidr)]
    allowed += [ipaddress.IPv4Network("127.0.0.0/8"), ipaddress.IPv4Network("0.0.0.0/32")]
    seen: set[str] = set()
    for name in host_names(p):
        texts: list[Any] = p.commands(name) + [data.decode(errors="replace") for data in plan.uploads(p, name).values()]
        for text in texts:
            for address in _IPV4.findall(text):
                seen.add(address)
                assert address != NAT and address not in TOPOLOGIES[topology]["ssh"], (name, text[:200])
                assert any(ipaddress.IPv4Address(address) in net for net in allowed), (name, address, text[:200])
    assert {node.node_ip for node in p.cluster.nodes} <= seen
