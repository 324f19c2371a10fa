"""deploys/remove.py: refusals (nothing touched), the order per node, the dry-run host lists."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploys import control_plane, model, remove, removal
from tests import plan

IPS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13", "w1": "10.0.0.21", "w2": "10.0.0.22"}
CONVERGED = ["iface=eth0", "done=kubeadm-join"]


def node(name: str, control_plane: bool = False, ready: bool = True) -> dict[str, Any]:
    labels = {"node-role.kubernetes.io/control-plane": ""} if control_plane else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "status": {
            "addresses": [{"type": "InternalIP", "address": IPS[name]}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
        },
    }


def member(name: str, number: int) -> dict[str, Any]:
    return {
        "ID": str(1000 + number), "name": name, "peerURLs": [f"https://{IPS[name]}:2380"],
        "clientURLs": [f"https://{IPS[name]}:2379"],
    }


def cluster_answer(nodes: list[dict[str, Any]], members: list[dict[str, Any]], down: tuple[str, ...] = ()) -> list[str]:
    """What ClusterFacts prints on the acting control plane."""
    health = [
        f"{m['clientURLs'][0]} " + ('{"health":"false"}' if m["name"] in down else '{"health":"true","reason":""}')
        for m in members
    ]
    return ["@@nodes", json.dumps({"items": nodes}), "@@members", json.dumps({"members": members}), "@@health", *health]


FULL_NODES = [node("cp1", True), node("cp2", True), node("cp3", True), node("w1"), node("w2")]
FULL_MEMBERS = [member("cp1", 1), member("cp2", 2), member("cp3", 3)]


def inventory(private: dict[str, Any], cps: list[str], workers: list[str], answer: list[str], **data: Any):  # type: ignore[no-untyped-def]
    responses = {**plan.fresh_host(), "/proc/swaps": CONVERGED, "@@nodes": answer}
    return plan.fake_inventory(
        [(n, {"node_ip": IPS[n]}) for n in cps],
        [(n, {"node_ip": IPS[n]}) for n in workers],
        {"cluster_name": "rm", "vip": "10.0.0.100", "node_network": "10.0.0.0/24", **private, **data},
        responses,
    )


def run(private: dict[str, Any], cps: list[str], workers: list[str], answer: list[str], **data: Any) -> plan.Plan:
    return plan.run(inventory(private, cps, workers, answer, **data), entry_build=remove.run)


def test_a_worker_goes_drained_reset_deleted(private: dict[str, Any]) -> None:
    p = run(private, ["cp1", "cp2", "cp3"], ["w2"], cluster_answer(FULL_NODES, FULL_MEMBERS), remove="w1")
    names = [name.split(' | ')[-1] for name, hosts in p.changed]
    assert names[:4] == ["Drain w1", "kubeadm reset on w1 (10.0.0.21), if it answers", "Node w1 deleted",
                         "Health gate after w1: API, etcd members cp1, cp2, cp3"]
    # Only the acting control plane (the inventory's first) does anything.
    for step in names[:4]:
        assert p.hosts_of(step) == ["cp1"]
    assert not any(n.endswith(") removed") for n in names)
    drain = next(c for c in p.commands("cp1") if " drain " in c)
    assert "drain w1 --ignore-daemonsets --delete-emptydir-data --force --timeout=300s" in drain
    gate = next(c for c in p.commands("cp1") if "health gate" in c)
    assert "https://10.0.0.100:16443/healthz" in gate and '"name":"cp3"' in gate


def test_the_first_control_plane_goes_in_order(private: dict[str, Any]) -> None:
    p = run(private, ["cp2", "cp3"], ["w1", "w2"], cluster_answer(FULL_NODES, FULL_MEMBERS), remove="cp1",
            allow_even_control_planes=True, remove_drain_timeout=60)
    order = [p.index(part) for part in (
        "Drain cp1", "etcd member cp1 (https://10.0.0.11:2380, id 1001) removed", "kubeadm reset on cp1",
        "Node cp1 deleted", "Health gate after cp1: API, etcd members cp2, cp3",
    )]
    assert order == sorted(order)
    assert p.hosts_of("etcd member cp1") == ["cp2"]  # the new first control plane acts
    script = next(c for c in p.commands("cp2") if "member/remove" in c)
    assert '{"ID": "1001"}' in script and "healthcheck-client" in script
    # HAProxy and keepalived on the remaining control planes only, without cp1.
    haproxy = plan.uploads(p, "cp2")["/etc/haproxy/haproxy.cfg"].decode()
    assert "10.0.0.12:6443" in haproxy and "10.0.0.11" not in haproxy
    assert p.hosts_of("HAProxy configuration") == ["cp2", "cp3"]
    keepalived = plan.uploads(p, "cp2")["/etc/keepalived/keepalived.conf"].decode()
    assert "priority 250" in keepalived  # cp2 is the first control plane now


def test_two_nodes_one_at_a_time(private: dict[str, Any]) -> None:
    p = run(private, ["cp1", "cp2", "cp3"], [], cluster_answer(FULL_NODES, FULL_MEMBERS), remove="w1,w2")
    names = [n.split(' | ')[-1] for n, _ in p.changed]
    assert names.index("Health gate after w1: API, etcd members cp1, cp2, cp3") < names.index("Drain w2")


def test_a_powered_off_node_is_cordoned_not_drained(private: dict[str, Any]) -> None:
    nodes = [node("cp1", True), node("cp2", True), node("cp3", True), node("w1", ready=False)]
    p = run(private, ["cp1", "cp2", "cp3"], [], cluster_answer(nodes, FULL_MEMBERS), remove="w1")
    assert p.hosts_of("Drain w1 (not Ready: cordon)") == ["cp1"]
    assert any(c.endswith("cordon w1; fi") for c in p.commands("cp1"))
    assert not any(" drain " in c for c in p.commands("cp1"))


def test_a_half_done_control_plane_is_finished(private: dict[str, Any]) -> None:
    """The Node went, the member is still there (a run killed in between): the member goes."""
    p = run(private, ["cp2", "cp3"], [], cluster_answer(FULL_NODES[1:3], FULL_MEMBERS), remove="cp1",
            allow_even_control_planes=True)
    assert p.hosts_of("etcd member cp1") == ["cp2"]
    assert p.hosts_of("kubeadm reset on cp1 (10.0.0.11)") == ["cp2"]  # address from the peer URL
    assert not [n for n, _ in p.changed if "| Drain" in n or "| Node cp1" in n]


def test_re_run_changes_nothing(private: dict[str, Any]) -> None:
    nodes = [node("cp1", True), node("cp2", True), node("cp3", True), node("w2")]
    p = run(private, ["cp1", "cp2", "cp3"], ["w2"], cluster_answer(nodes, FULL_MEMBERS), remove="w1")
    assert not [n for n, _ in p.changed if "w1" in n]


@pytest.mark.parametrize(
    ("cps", "answer", "data", "message"),
    [
        (["cp1", "cp2", "cp3"], cluster_answer(FULL_NODES, FULL_MEMBERS), {"remove": "w1"}, None),
        (["cp2", "cp3"], cluster_answer(FULL_NODES, FULL_MEMBERS), {"remove": "cp1"},
         r"stacked etcd needs an odd number.*`--data allow_even_control_planes=true`"),
        (["cp1", "cp2", "cp3"], cluster_answer(FULL_NODES, FULL_MEMBERS), {"remove": "cp1"},
         r"the inventory still lists cp1: remove the node\(s\) from the inventory first"),
        (["cp3"], cluster_answer(FULL_NODES, FULL_MEMBERS), {"remove": "cp1,cp2"}, None),
        (["cp2", "cp3"], cluster_answer(FULL_NODES, FULL_MEMBERS, down=("cp3",)),
         {"remove": "cp1", "allow_even_control_planes": True},
         r"removing cp1 would lose etcd quorum: 1 of the 2 remaining members are healthy \(down: cp3\)"),
        (["cp1"], ["@@nodes", "The connection to the server was refused", "@@members", "", "@@health"],
         {"remove": "w1"}, r"cannot read the cluster on @fake/cp1: kubectl get nodes failed"),
    ],
)
def test_refusals(private: dict[str, Any], cps: list[str], answer: list[str], data: dict[str, Any],
                  message: str | None) -> None:
    workers = [] if data["remove"] == "w1" else ["w1"]
    if message is None:
        run(private, cps, workers, answer, **data)
        return
    with pytest.raises(model.ClusterConfigError, match=message) as refused:
        run(private, cps, workers, answer, **data)
    assert "nothing was changed" in str(refused.value) or "invalid cluster inventory" in str(refused.value)


def test_an_even_member_count_is_refused_without_the_switch() -> None:
    view = removal.parse_view(json.dumps({"items": FULL_NODES}), json.dumps({"members": FULL_MEMBERS}),
                              [f"https://{IPS[n]}:2379 {{\"health\":\"true\"}}" for n in ("cp1", "cp2", "cp3")])
    with pytest.raises(model.ClusterConfigError, match=r"leaves 2 etcd members \(cp2, cp3\).*allow_even_control_planes"):
        removal.decide(_cluster(remove="cp1", cps=["cp2", "cp3"]), view)
    allowed = _cluster(remove="cp1", cps=["cp2", "cp3"])
    allowed.settings["allow_even_control_planes"] = True  # type: ignore[index]
    assert [t.name for t in removal.decide(allowed, view).targets] == ["cp1"]


def test_the_last_control_plane_is_refused() -> None:
    view = removal.parse_view(json.dumps({"items": [node("cp1", True)]}), json.dumps({"members": [member("cp1", 1)]}),
                              ['https://10.0.0.11:2379 {"health":"true"}'])
    cluster = _cluster(remove="cp1", cps=["cp9"])
    with pytest.raises(model.ClusterConfigError, match="would remove the last control plane"):
        removal.decide(cluster, view)


def test_nothing_named_is_refused() -> None:
    with pytest.raises(model.ClusterConfigError, match=r"--data remove=NODE\[,NODE\]"):
        removal.decide(_cluster(remove=None), removal.ClusterView({}, []))


def test_node_list_type() -> None:
    assert removal.NODE_LIST.valid("w1,cp-2.example")
    for bad in ("", "w1,", "W1", "w1;reboot", "w1 w2"):
        assert not removal.NODE_LIST.valid(bad), bad


def test_an_even_inventory_needs_the_switch(private: dict[str, Any]) -> None:
    inv = inventory(private, ["cp2", "cp3"], [], [], remove="cp1")
    with pytest.raises(model.ClusterConfigError, match="stacked etcd needs an odd number"):
        model.build(inv, _defaults(), write_secrets=False)
    inv = inventory(private, ["cp2", "cp3"], [], [], remove="cp1", allow_even_control_planes=True)
    assert len(model.build(inv, _defaults(), write_secrets=False).control_planes) == 2


def test_a_joined_first_control_plane_is_not_initialised_again(private: dict[str, Any]) -> None:
    """After the first control plane is removed, cluster.py on the next one: no kubeadm init."""
    admin = ["mode 600 /etc/kubernetes/admin.conf", "sha1 " + "2" * 40 + "  /etc/kubernetes/admin.conf"]
    inv = inventory(private, ["cp2", "cp3"], [], [], allow_even_control_planes=True)
    for h in inv:
        h.data.fake_responses = {**h.data.fake_responses, "/proc/swaps": CONVERGED + admin}
    p = plan.run(inv)
    assert p.hosts_of("kubeadm init") == []
    assert control_plane.JOINED_STAMP == "kubeadm-join"


def _defaults() -> dict[str, Any]:
    from deploys import components

    return components.defaults()


def _cluster(remove: str | None, cps: tuple[str, ...] | list[str] = ("cp2",)) -> model.Cluster:
    nodes = tuple(model.Node(n, n, model.CONTROL_PLANE_GROUP, IPS.get(n, "10.0.0.99"), i) for i, n in enumerate(cps))
    settings = {**_defaults(), "remove": remove}
    return model.Cluster(
        name="rm", kube_version="1.37.1", kube_deb_revision="1.1", pod_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/12", dns_domain="cluster.local", image_repository="registry.k8s.io", nodes=nodes,
        endpoint_host="10.0.0.100", endpoint_port=16443, apiserver_port=6443, api_lb_port=16443,
        load_balancer=None, vip=None, node_network="10.0.0.0/24", kubeconfig_path="/tmp/x", secrets_dir="/tmp/y",
        control_plane_schedulable=False, extra_cert_sans=(), settings=settings,
    )


def test_a_fresh_control_plane_listed_first_is_not_initialised(private: dict[str, Any]) -> None:
    """A control plane added back first in the inventory would start a second cluster: refused on that host."""
    inv = inventory(private, ["cp1", "cp2", "cp3"], [], [])
    for h in inv:
        if h.name != "@fake/cp1":
            h.data.fake_responses = {**h.data.fake_responses, "/proc/swaps": CONVERGED}
        else:
            # @fake commands succeed unless told: the refusal's `exit 1` fails here as on a real host
            h.data.fake_responses = {**h.data.fake_responses, "/proc/swaps": ["iface=eth0"],
                                     "already hold(s) the cluster": {"success": False}}
    p = plan.run(inv)
    assert "@fake/cp1" in {h.name for h in p.state.failed_hosts}
    assert not any("kubeadm init --config" in c for c in p.commands("cp1"))


def test_every_command_is_valid_shell(private: dict[str, Any]) -> None:
    import subprocess

    p = run(private, ["cp2", "cp3"], ["w1", "w2"], cluster_answer(FULL_NODES, FULL_MEMBERS), remove="cp1",
            allow_even_control_planes=True)
    scripts = [c for c in p.commands("cp2") if "kubectl" in c or "2379" in c]
    scripts.append(removal.ClusterFacts().command())
    assert len(scripts) >= 4
    for script in scripts:
        assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0, script


def test_the_targets_know_their_role_from_the_cluster() -> None:
    """A control plane is one by its label or by its etcd member (its Node already gone): both are control planes."""
    view = removal.parse_view(
        json.dumps({"items": [node("cp1", True), node("cp2", True), node("w1")]}),
        json.dumps({"members": FULL_MEMBERS}),
        [f"https://{IPS[n]}:2379 {{\"health\":\"true\"}}" for n in ("cp1", "cp2", "cp3")])
    cluster = _cluster(remove="w1,cp3", cps=["cp1", "cp2"])
    cluster.settings["allow_even_control_planes"] = True  # type: ignore[index]
    targets = {t.name: t for t in removal.decide(cluster, view).targets}
    assert targets["w1"].control_plane is False and targets["w1"].node is True
    assert targets["cp3"].control_plane is True and targets["cp3"].node is False  # only its etcd member is left


def test_peer_hosts_of_ipv4_and_ipv6_members() -> None:
    """etcd peer URLs (https://ADDRESS:2380, IPv6 in brackets) give the member's address."""
    assert removal._peer_host("https://10.0.0.11:2380") == "10.0.0.11"
    assert removal._peer_host("https://[fd00::11]:2380") == "fd00::11"
