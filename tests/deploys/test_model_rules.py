"""deploys/model.py's rules one at a time, and deploys/rules.py (shared with cloud/ and interop/).

Each model rule is called alone on a `Source` (the inventory as read) or a `Parsed` model made
here, so a rule that stops reporting its problem fails its own test, whatever the others say.
tests/deploys/test_model.py covers the same messages through `model.build`.
"""

from __future__ import annotations

import inspect
import ipaddress
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import Inventory

from deploys import components, model, rules
from deploys.model import CONTROL_PLANE_GROUP, WORKER_GROUP, Node, Parsed, Source

# ------------------------------------------------------------------ helpers


def inventory(cps: int, workers: int = 1, **data: Any) -> Inventory:
    """CPS control planes cp0.. (10.1.0.10+) and WORKERS workers w0.. (10.1.0.20+), DATA for all."""
    cp_hosts = [(f"cp{i}", {"node_ip": f"10.1.0.{10 + i}"}) for i in range(cps)]
    w_hosts = [(f"w{i}", {"node_ip": f"10.1.0.{20 + i}"}) for i in range(workers)]
    return Inventory(
        (cp_hosts + w_hosts, data),
        control_plane=([h for h, _ in cp_hosts], {}),
        workers=([h for h, _ in w_hosts], {}),
    )


def source(inv: Inventory) -> Source:
    return Source.read(inv, model.key_table(components.defaults()))


def values(**changed: Any) -> dict[str, Any]:
    """Every cluster-wide key at its default, CHANGED applied (typed values, as after parsing)."""
    table = model.key_table(components.defaults())
    return {**{k: key.default for k, key in table.items() if key.scope != model.HOST}, **changed}


def node(name: str, ip: str, role: str = CONTROL_PLANE_GROUP, index: int = 0, node_name: str | None = None) -> Node:
    return Node(name=name, node_name=node_name or name, role=role, node_ip=ip, index=index)


def parsed(cps: int = 1, workers: int = 1, nodes: tuple[Node, ...] = (), **changed: Any) -> Parsed:
    """A parsed model: NODES, or CPS + WORKERS nodes on 10.1.0.0/24, with values CHANGED."""
    if not nodes:
        nodes = (
            *(node(f"cp{i}", f"10.1.0.{10 + i}", index=i) for i in range(cps)),
            *(node(f"w{i}", f"10.1.0.{20 + i}", WORKER_GROUP, i) for i in range(workers)),
        )
    return Parsed(values(**changed), tuple(nodes))


def build(inv: Inventory, tmp_path: Path) -> model.Cluster:
    return model.build(inv, {**components.defaults(), "secrets_dir": str(tmp_path / "s")}, write_secrets=False)


# ------------------------------------------------------------------ the rule lists


def test_every_rule_is_run_once() -> None:
    """Every check_* function of the model is in exactly one rule list (a rule nobody runs checks nothing)."""
    listed = [*model.SOURCE_RULES, *model.NODE_RULES, *model.CLUSTER_RULES]
    defined = [
        f for name, f in inspect.getmembers(model, inspect.isfunction)
        if name.startswith("check_") and list(inspect.signature(f).parameters.values())[0].annotation in ("Source", "Parsed")
    ]
    assert len(defined) >= 14
    assert sorted(f.__name__ for f in listed) == sorted(f.__name__ for f in defined)
    assert len(set(listed)) == len(listed)


def test_rules_report_together_and_stop_between_steps(tmp_path: Path) -> None:
    """Source problems and parse problems together; cluster rules only once every value parsed."""
    inv = inventory(2, 1, pod_cidr="10.1.0.0/33", kube_version="1.19.3", misspelt_key=1)
    with pytest.raises(model.ClusterConfigError) as caught:
        build(inv, tmp_path)
    message = str(caught.value)
    assert "odd number" in message and "unknown key 'misspelt_key'" in message and "'pod_cidr' = " in message
    assert "not supported" not in message  # a cluster rule: not run on untyped values
    assert "3 problem(s)" in message


# ------------------------------------------------------------------ control-plane count


@pytest.mark.parametrize("count", range(1, 8))
def test_control_plane_count_alone(count: int) -> None:
    errors = model.check_control_plane_count(source(inventory(count)))
    if count % 2:
        assert errors == []
    else:
        names = ", ".join(f"cp{i}" for i in range(count))
        assert errors == [
            f"group 'control_plane' has {count} hosts ({names}): stacked etcd needs an odd number (1, 3, 5); "
            "while a control plane is being replaced, say so with `--data allow_even_control_planes=true`"
        ]


@pytest.mark.parametrize("count", (2, 4))
def test_even_control_planes_allowed_only_when_said(count: int) -> None:
    """allow_even_control_planes (deploys/removal.py) keeps a cluster between a removal and its replacement."""
    allowed = inventory(count)
    for host in allowed:
        host.data.allow_even_control_planes = True
    assert model.check_control_plane_count(source(allowed)) == []


def test_control_plane_count_empty() -> None:
    assert model.check_control_plane_count(source(inventory(0))) == [
        "group 'control_plane' is empty: a cluster needs 1 or 3 (an odd number) of control planes"
    ]


@pytest.mark.parametrize("count", range(1, 8))
def test_build_with_1_to_7_control_planes(count: int, tmp_path: Path) -> None:
    """Odd counts give a cluster (with the VIP when HA), even counts are refused by the count rule only."""
    inv = inventory(count, 2, vip="10.1.0.100")
    if count % 2:
        cluster = build(inv, tmp_path)
        assert [n.name for n in cluster.control_planes] == [f"cp{i}" for i in range(count)]
        assert [n.index for n in cluster.control_planes] == list(range(count))
        assert cluster.endpoint == ("10.1.0.10:6443" if count == 1 else "10.1.0.100:16443")
    else:
        with pytest.raises(model.ClusterConfigError) as caught:
            build(inv, tmp_path)
        assert "1 problem(s)" in str(caught.value)
        assert f"has {count} hosts" in str(caught.value) and "odd number" in str(caught.value)


# ------------------------------------------------------------------ groups and keys


def test_group_membership_alone() -> None:
    inv = Inventory(
        ([("cp0", {}), ("w0", {}), ("w1", {}), ("stray", {})], {}),
        control_plane=(["cp0", "w0"], {}),
        workers=(["w0", "w1"], {}),
    )
    assert model.check_group_membership(source(inv)) == [
        "host 'w0': in both 'control_plane' and 'workers'; expected exactly one",
        "host 'stray': in neither 'control_plane' nor 'workers'; expected exactly one",
    ]
    assert model.check_group_membership(source(inventory(3, 2))) == []


def test_source_hosts_each_once_control_planes_first() -> None:
    inv = Inventory(([("w1", {}), ("cp0", {}), ("w0", {})], {}), control_plane=(["cp0", "w0"], {}), workers=(["w0", "w1"], {}))
    assert [(h.name, role) for h, role in source(inv).hosts] == [
        ("cp0", CONTROL_PLANE_GROUP), ("w0", CONTROL_PLANE_GROUP), ("w1", WORKER_GROUP)
    ]


def test_unknown_keys_alone() -> None:
    inv = inventory(1, 0, kube_verison="1.37.1", _sudo=True, _helper=3, _sudo_usr="x", colour="red")
    assert model.check_unknown_keys(source(inv)) == [
        "the inventory's data for all hosts: unknown key '_sudo_usr'; did you mean '_sudo_user'?",
        "the inventory's data for all hosts: unknown key 'colour'; see the README's data reference",
        "the inventory's data for all hosts: unknown key 'kube_verison'; did you mean 'kube_version'?",
    ]
    assert model.check_unknown_keys(source(inventory(1, 0))) == []


# ------------------------------------------------------------------ parsing


def test_parse_types_every_value_and_numbers_nodes() -> None:
    result, errors = model.parse(source(inventory(3, 2, vip="10.1.0.100")))
    assert errors == []
    assert result.values["vip"] == "10.1.0.100" and result.values["apiserver_port"] == 6443
    assert [(n.name, n.role, n.index) for n in result.nodes] == [
        ("cp0", CONTROL_PLANE_GROUP, 0), ("cp1", CONTROL_PLANE_GROUP, 1), ("cp2", CONTROL_PLANE_GROUP, 2),
        ("w0", WORKER_GROUP, 0), ("w1", WORKER_GROUP, 1),
    ]
    assert result.named_by["w0"] == "its inventory name" and result.ha


def test_parse_cluster_values_typed_and_the_same_everywhere() -> None:
    inv = Inventory(
        ([("cp0", {"node_ip": "10.1.0.10"}), ("w0", {"node_ip": "10.1.0.20", "pod_cidr": "10.245.0.0/16"})],
         {"api_lb_port": "16443"}),
        control_plane=(["cp0"], {}), workers=(["w0"], {}),
    )
    src = source(inv)
    _values, errors = model.parse_cluster_values(src, src.hosts)
    assert errors == [
        "key 'api_lb_port' = '16443' on host 'cp0' (from the inventory's data for all hosts): expected an integer 1-65535",
        "key 'pod_cidr': '10.244.0.0/16' on host 'cp0' but '10.245.0.0/16' on host 'w0' (from its entry in the "
        "inventory); a cluster-wide key must be the same on every host: set it once in group data, not per host",
    ]


@pytest.mark.parametrize(
    ("name", "data", "ip", "error"),
    [
        ("n", {"node_ip": "10.1.0.5"}, "10.1.0.5", None),
        ("n", {"ssh_hostname": "10.1.0.6"}, "10.1.0.6", None),
        ("root@10.1.0.7", {}, "10.1.0.7", None),
        ("n", {"node_ip": "127.0.0.1"}, None, "host 'n': node_ip 127.0.0.1 is a loopback address the other nodes cannot reach"),
        ("n", {"node_ip": "0.0.0.0"}, None, "host 'n': node_ip 0.0.0.0 is not a unicast host address"),
        ("n", {"node_ip": "10.1.0.256"}, None, "host 'n': key 'node_ip' = '10.1.0.256' (from its entry in the inventory): expected an IPv4 address"),
        ("n", {"ssh_hostname": "224.0.0.1"}, None, "host 'n': no 'node_ip' set, so it would be its SSH address 224.0.0.1, not a unicast host address"),
        ("n.example.com", {}, None, "host 'n.example.com': no 'node_ip' set and its SSH address 'n.example.com' is not an IPv4 address"),
    ],
)
def test_parse_node_ip_alone(name: str, data: dict[str, Any], ip: str | None, error: str | None) -> None:
    inv = Inventory(([(name, data)], {}), control_plane=([name], {}))
    found, errors = model.parse_node_ip(source(inv), inv.get_host(name))
    assert found == ip
    assert (errors[0].startswith(error) if error else errors == []), errors


@pytest.mark.parametrize(
    ("name", "data", "expected", "error"),
    [
        ("Node-A", {}, ("node-a", "its inventory name lower-cased, as the kubelet does"), None),
        ("@fake/10.1.0.5", {}, ("node-10-1-0-5", "derived from its node_ip, as its inventory name '10.1.0.5' is an address"), None),
        ("x", {"node_name": "k8s-x"}, ("k8s-x", "its node_name"), None),
        ("under_score", {}, None, "host 'under_score': its inventory name gives the node name 'under_score', which is no DNS-1123 name"),
        ("x", {"node_name": "Big"}, None, "host 'x': key 'node_name' = 'Big' (from its entry in the inventory): upper-case letters"),
    ],
)
def test_parse_node_name_alone(name: str, data: dict[str, Any], expected: Any, error: str | None) -> None:
    inv = Inventory(([(name, data)], {}), control_plane=([name], {}))
    found, errors = model.parse_node_name(source(inv), inv.get_host(name), "10.1.0.5")
    assert found == expected
    assert (errors[0].startswith(error) if error else errors == []), errors


def test_parse_node_refuses_a_bad_interface_and_keeps_the_others() -> None:
    inv = Inventory(
        ([("cp0", {"node_ip": "10.1.0.10", "keepalived_interface": "eth 0"}), ("w0", {"node_ip": "10.1.0.20"})], {}),
        control_plane=(["cp0"], {}), workers=(["w0"], {}),
    )
    src = source(inv)
    bad = model.parse_node(src, inv.get_host("cp0"), CONTROL_PLANE_GROUP, 0)
    assert bad.node is None and bad.errors[0].startswith("host 'cp0': key 'keepalived_interface' = 'eth 0'")
    good = model.parse_node(src, inv.get_host("w0"), WORKER_GROUP, 4)
    assert good.errors == () and good.node == node("w0", "10.1.0.20", WORKER_GROUP, 4)


# ------------------------------------------------------------------ node rules


def test_unique_node_ips_alone() -> None:
    nodes = (node("cp0", "10.1.0.10"), node("w0", "10.1.0.20", WORKER_GROUP), node("w1", "10.1.0.20", WORKER_GROUP, 1))
    assert model.check_unique_node_ips(parsed(nodes=nodes)) == [
        "host 'w1': node_ip 10.1.0.20 is also used by host 'w0'; node IPs must be unique"
    ]
    assert model.check_unique_node_ips(parsed(3, 3)) == []


def test_unique_node_names_alone() -> None:
    nodes = (node("cp0", "10.1.0.10"), node("w0", "10.1.0.20", WORKER_GROUP), node("W0", "10.1.0.21", WORKER_GROUP, 1, "w0"))
    p = Parsed(values(), nodes, {"W0": "its inventory name lower-cased, as the kubelet does"})
    assert model.check_unique_node_names(p) == [
        "host 'W0': node name 'w0' (its inventory name lower-cased, as the kubelet does) is also used by host "
        "'w0'; node names must be unique: set 'node_name'"
    ]
    assert model.check_unique_node_names(parsed(3, 3)) == []


# ------------------------------------------------------------------ cluster rules


def test_kube_version_alone() -> None:
    assert model.check_kube_version(parsed(kube_version="v1.36.2")) == []
    assert model.check_kube_version(parsed(kube_version="1.19.3")) == [
        f"key 'kube_version': '1.19.3' is not supported; supported minor releases: {', '.join(model.RELEASES)}"
    ]


def test_pinned_digests_alone() -> None:
    assert model.check_pinned_digests(parsed()) == []
    assert model.check_pinned_digests(parsed(runc_version="1.9.9")) == [
        "key 'runc_sha256' is required: runc 1.9.9 has no pinned digest (set the release archive's SHA-256)"
    ]
    assert model.check_pinned_digests(parsed(runc_version="1.9.9", runc_sha256="0" * 64)) == []


def test_containerd_supports_kube_alone() -> None:
    assert model.check_containerd_supports_kube(parsed()) == []
    old = parsed(kube_version="1.36.4", containerd_version="1.7.34")
    [error] = model.check_containerd_supports_kube(old)
    assert error.startswith("key 'containerd_version': 1.7.34 does not support Kubernetes 1.36.4; supported for 1.36: 2.3.0+, 2.2.0+")
    assert model.check_containerd_supports_kube(parsed(kube_version="1.36.4", containerd_version="1.7.34", allow_unsupported_containerd=True)) == []
    assert model.check_containerd_supports_kube(parsed(kube_version="1.19.3", containerd_version="1.7.34")) == []  # the version rule's


def test_node_network_explicit_or_derived() -> None:
    derived = model.node_network(parsed())
    assert derived.net == ipaddress.IPv4Network("10.1.0.0/24") and derived.derived_from.name == "cp0"
    assert "taken as the /24 around the first control plane 'cp0', 10.1.0.10" in str(derived)
    explicit = model.node_network(parsed(node_network="10.0.0.0/8"))
    assert explicit.derived_from is None and str(explicit) == "node_network 10.0.0.0/8"


def test_control_planes_share_subnet_alone() -> None:
    spread = (node("cp0", "10.1.0.10"), node("cp1", "10.2.0.10", index=1), node("cp2", "10.3.0.10", index=2))
    outside = "node_ip {} is outside 10.1.0.0/24 (node_network is not set"
    errors = model.check_control_planes_share_subnet(parsed(nodes=spread, vip="10.1.0.100"))
    assert [e.split(": ", 1)[1].startswith(outside.format(ip)) for e, ip in zip(errors, ("10.2.0.10", "10.3.0.10"))] == [True, True]
    assert errors[0].startswith("host 'cp1'") and len(errors) == 2
    assert errors[0].endswith("control planes must share one subnet")
    # An external load balancer reaches every subnet; node_network set: every control plane inside it.
    assert model.check_control_planes_share_subnet(parsed(nodes=spread, api_load_balancer="external")) == []
    one = model.check_control_planes_share_subnet(parsed(nodes=spread[1:2], node_network="10.1.0.0/24"))
    assert one == ["host 'cp1': node_ip 10.2.0.10 is outside node_network 10.1.0.0/24; control planes must share one subnet"]


def test_pod_and_service_disjoint_alone() -> None:
    assert model.check_pod_and_service_disjoint(parsed()) == []
    assert model.check_pod_and_service_disjoint(parsed(pod_cidr="10.96.0.0/16")) == [
        "keys 'pod_cidr' 10.96.0.0/16 and 'service_cidr' 10.96.0.0/12 overlap; they must be disjoint"
    ]


def test_cluster_networks_clear_of_nodes_alone() -> None:
    assert model.check_cluster_networks_clear_of_nodes(parsed(3, 3)) == []
    errors = model.check_cluster_networks_clear_of_nodes(parsed(1, 1, service_cidr="10.0.0.0/8"))
    assert errors[0].startswith("key 'service_cidr': 10.0.0.0/8 overlaps the node network 10.1.0.0/24")
    assert errors[1:] == [
        "key 'service_cidr': 10.0.0.0/8 contains node_ip 10.1.0.10 of host 'cp0'",
        "key 'service_cidr': 10.0.0.0/8 contains node_ip 10.1.0.20 of host 'w0'",
    ]
    # A worker in another subnet, inside the pod network: named although the node network is clear.
    far = (node("cp0", "10.1.0.10"), node("w0", "10.244.3.3", WORKER_GROUP))
    assert model.check_cluster_networks_clear_of_nodes(parsed(nodes=far)) == [
        "key 'pod_cidr': 10.244.0.0/16 contains node_ip 10.244.3.3 of host 'w0'"
    ]


def test_endpoint() -> None:
    assert model.endpoint(parsed()) == ("10.1.0.10", 6443)
    assert model.endpoint(parsed(3, vip="10.1.0.100")) == ("10.1.0.100", 16443)
    assert model.endpoint(parsed(3, control_plane_endpoint="api.example.com:443")) == ("api.example.com", 443)


def test_shared_endpoint_alone() -> None:
    assert model.check_shared_endpoint(parsed(1)) == []
    assert model.check_shared_endpoint(parsed(3, vip="10.1.0.100")) == []
    assert model.check_shared_endpoint(parsed(3, control_plane_endpoint="lb:6443", api_load_balancer="external")) == []
    assert model.check_shared_endpoint(parsed(3)) == [
        "3 control planes (cp0, cp1, cp2) need a shared endpoint: set 'vip' (keepalived + HAProxy on the control "
        "planes) or 'control_plane_endpoint'"
    ]
    assert model.check_shared_endpoint(parsed(3, vip="10.1.0.100", api_load_balancer="external")) == [
        "key 'control_plane_endpoint' is required with api_load_balancer 'external' and 3 control planes "
        "(the load balancer's HOST:PORT)"
    ]


def test_vip_unused_alone() -> None:
    assert model.check_vip_unused(parsed(3)) == []
    assert model.check_vip_unused(parsed(3, vip="10.1.0.100")) == []
    assert model.check_vip_unused(parsed(3, vip="10.1.0.20")) == [
        "key 'vip': 10.1.0.20 is the node_ip of host 'w0'; the VIP must be unused"
    ]


def test_vip_in_subnet_alone() -> None:
    assert model.check_vip_in_subnet(parsed(3)) == []
    assert model.check_vip_in_subnet(parsed(3, vip="10.1.0.100")) == []
    [network] = model.check_vip_in_subnet(parsed(3, vip="10.1.0.0"))
    assert network.startswith("key 'vip': 10.1.0.0 is the network address of the control planes' subnet 10.1.0.0/24")
    assert network.endswith("the VIP must be a free address inside it, e.g. 10.1.0.254")
    [broadcast] = model.check_vip_in_subnet(parsed(3, vip="10.1.0.255", node_network="10.1.0.0/24"))
    assert broadcast.startswith("key 'vip': 10.1.0.255 is the broadcast address of the control planes' subnet node_network 10.1.0.0/24")
    [outside] = model.check_vip_in_subnet(parsed(3, vip="10.9.0.100"))
    assert outside.startswith("key 'vip': 10.9.0.100 is outside the control planes' subnet 10.1.0.0/24")
    assert outside.endswith("own network, e.g. 10.1.0.254")
    # A /31 has no network or broadcast address (RFC 3021): both its addresses are hosts.
    pair = (node("cp0", "10.1.0.0"), node("cp1", "10.1.0.4", index=1), node("cp2", "10.1.0.6", index=2))
    assert model.check_vip_in_subnet(parsed(nodes=pair, vip="10.1.0.0", node_network="10.1.0.0/31")) == []


# ------------------------------------------------------------------ shared rules (deploys/rules.py)


@pytest.mark.parametrize(
    ("value", "ip", "ipv4"),
    [
        ("10.1.0.10", True, True),
        ("::1", True, False),
        ("fe80::1", True, False),
        ("010.1.0.10", False, False),
        ("10.1.0.256", False, False),
        ("10.1.0.10/32", False, False),
        (" 10.1.0.10", False, False),
        ("10.1.0.10\n", False, False),
        ("١٠.1.0.10", False, False),  # Arabic-Indic digits
        ("node1", False, False),
        (None, False, False),
        (167837706, False, False),  # an integer is no address text
    ],
)
def test_is_ip_and_is_ipv4(value: Any, ip: bool, ipv4: bool) -> None:
    assert rules.is_ip(value) is ip and rules.is_ipv4(value) is ipv4


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.1.0.10", None),
        ("192.0.2.1", None),
        ("127.0.0.1", "a loopback address the other nodes cannot reach"),
        ("127.4.5.6", "a loopback address the other nodes cannot reach"),
        ("0.0.0.0", "not a unicast host address"),
        ("239.1.1.1", "not a unicast host address"),
        ("240.0.0.1", "not a unicast host address"),
        ("255.255.255.255", "not a unicast host address"),
    ],
)
def test_unusable_address(address: str, reason: str | None) -> None:
    assert rules.unusable_address(address) == reason
    assert rules.unusable_address(ipaddress.IPv4Address(address)) == reason


def test_default_node_network() -> None:
    assert rules.default_node_network("10.1.0.10") == ipaddress.IPv4Network("10.1.0.0/24")
    assert rules.default_node_network("192.168.56.255") == ipaddress.IPv4Network("192.168.56.0/24")


@pytest.mark.parametrize("count", range(0, 9))
def test_odd_control_plane_count(count: int) -> None:
    assert rules.odd_control_plane_count(count) is (count in (1, 3, 5, 7))


# ------------------------------------------------------------------ cloud/ and interop/ use the shared rules


@pytest.mark.parametrize(("topology", "ok"), [("1+4", True), ("2+3", False), ("3+3", True), ("4+0", False), ("0+3", False), ("5+0", True), ("7+1", True), ("9+0", False)])
def test_cloud_topology_uses_the_odd_rule(topology: str, ok: bool) -> None:
    from cloud import CloudError
    from cloud.spec import topology as parse_topology

    if ok:
        assert parse_topology(topology).control_planes == int(topology.split("+")[0])
    else:
        with pytest.raises(CloudError, match="stacked etcd needs an odd number of control planes"):
            parse_topology(topology)


def test_cloud_and_model_follow_one_odd_rule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Changing the shared rule changes both: neither keeps a copy of its own."""
    from cloud.spec import topology as parse_topology

    monkeypatch.setattr(rules, "odd_control_plane_count", lambda count: count in (1, 2, 3))
    assert parse_topology("2+1").control_planes == 2
    assert model.check_control_plane_count(source(inventory(2))) == []


def test_interop_follows_the_shared_node_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The importer's 'control planes' subnet' and the exporter's 'derived node network' are the model's."""
    from interop import exporter, importer
    from interop.report import Report

    mode = importer._auto_mode  # noqa: SLF001 - the rule's only user there
    args = (16443, None, False, True, ["10.1.0.10", "10.1.0.11", "10.1.0.12"], {"10.1.0.10"}, 6443)
    assert mode("10.1.0.100", *args)[0] == "vip" and mode("10.1.1.100", *args)[0] == "external"
    assert mode("api.example.com", *args) == ("external", "not an IPv4 address")

    def unexported(cluster: model.Cluster, inv: Inventory) -> list[str]:
        report = Report()
        exporter._report_unexported(inv, cluster, report)  # noqa: SLF001
        return [str(f) for f in report.findings if "node_network" in f.subject]

    inv = inventory(3, 1, vip="10.1.0.100")
    assert unexported(build(inv, tmp_path), inv) == []

    monkeypatch.setattr(rules, "DEFAULT_NODE_PREFIX", 16)
    assert mode("10.1.1.100", *args)[0] == "vip"
    cluster = build(inv, tmp_path)
    assert cluster.node_network == "10.1.0.0/16" and unexported(cluster, inv) == []


def test_defaults_for_undeclared_keys_are_refused() -> None:
    """A default no component declares is a programming error, found when the key table is made."""
    with pytest.raises(ValueError, match=r"defaults for undeclared keys \['bogus_key'\]"):
        model.key_table({**components.defaults(), "bogus_key": 1})


def test_an_error_names_the_group_data_a_value_came_from() -> None:
    inv = Inventory(
        ([("cp0", {"node_ip": "10.1.0.10"}), ("w0", {"node_ip": "10.1.0.20"})], {}),
        control_plane=(["cp0"], {}),
        workers=(["w0"], {"node_name": "Worker-0"}),
    )
    with pytest.raises(model.ClusterConfigError, match=r"key 'node_name' = 'Worker-0' \(from group data 'workers'\)"):
        model.build(inv, components.defaults(), write_secrets=False)
