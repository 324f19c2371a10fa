"""deploys/upgrade.py planned against @fake hosts: refusals, order, one minor per step, batches, dry names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from deploys import model, node_upgrade, upgrade
from tests import plan

CPS = ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
WORKERS = ["k8s-worker-node0", "k8s-worker-node1", "k8s-worker-node2"]
JOINED = ["iface=eth0", "arch=amd64", "done=kubeadm-join", "mode 600 /etc/kubernetes/kubelet.conf",
          "sha1 " + "1" * 40 + "  /etc/kubernetes/kubelet.conf"]


def look(cluster_version: str, kubelets: dict[str, str], cordoned: tuple[str, ...] = ()) -> list[str]:
    """What ClusterVersions' command prints on the first control plane."""
    items = [{"metadata": {"name": name, "annotations": {node_upgrade.CORDONED: "true"} if name in cordoned else {}},
              "spec": {"unschedulable": name in cordoned},
              "status": {"nodeInfo": {"kubeletVersion": f"v{version}"}}} for name, version in kubelets.items()]
    return ["## kubeadm-pyinfra upgrade look", "## nodes", *json.dumps({"items": items}, indent=1).splitlines(),
            "## config", "apiServer: {}", f"kubernetesVersion: v{cluster_version}", "networking: {}"]


def run(private: dict[str, Any], cluster_version: str, kubelets: dict[str, str] | None = None,
        cordoned: tuple[str, ...] = (), **data: Any) -> plan.Plan:
    kubelets = kubelets or {name: cluster_version for name in CPS + WORKERS}
    responses = {**plan.fresh_host(), "/proc/swaps": JOINED,
                 "kubeadm-pyinfra upgrade look": look(cluster_version, kubelets, cordoned)}
    return plan.run(inventory(private, responses, **data), entry_build=upgrade.run)


def inventory(private: dict[str, Any], responses: dict[Any, Any], **data: Any) -> Any:
    """3 + 3 @fake hosts (the shape of inventories/prod.py)."""
    def hosts(names: list[str], first: int) -> list[tuple[str, dict[str, Any]]]:
        return [(name, {"node_ip": f"192.168.11.{first + i}"}) for i, name in enumerate(names)]
    cluster = {"cluster_name": "prod", "vip": "192.168.11.230", "node_network": "192.168.11.0/24", **private, **data}
    return plan.fake_inventory(hosts(CPS, 220), hosts(WORKERS, 223), cluster, responses)


def order(p: plan.Plan) -> list[tuple[str, list[str]]]:
    """(operation, hosts) of every operation that concerns some host, in order."""
    return [(name.split(" | ", 1)[-1], hosts) for name, hosts in p.steps if hosts]


def test_two_minors_run_as_two_steps_in_kubeadms_order(private: dict[str, Any]) -> None:
    p = run(private, "1.35.9")
    steps = order(p)
    names = [name for name, _ in steps]
    applies = [(name, hosts) for name, hosts in steps if "kubeadm upgrade apply" in name]
    assert applies == [("v1.36.4 on k8s-master-node0: kubeadm upgrade plan, kubeadm upgrade apply v1.36.4 -y",
                        ["k8s-master-node0"]),
                       ("v1.37.1 on k8s-master-node0: kubeadm upgrade plan, kubeadm upgrade apply v1.37.1 -y",
                        ["k8s-master-node0"])]
    for version in ("v1.36.4", "v1.37.1"):
        kubeadm = [hosts for name, hosts in steps if name.startswith(version) and "kubeadm upgrade" in name]
        assert kubeadm == [[n] for n in CPS + WORKERS]  # one node at a time, control planes first
    # Every node's step before the next node's, a gate after each, the whole first minor before the second.
    assert names.index("v1.36.4: health gate after k8s-master-node0") < names.index(
        "v1.36.4 on k8s-master-node1: kubeadm upgrade node")
    assert names.index("v1.36.4: health gate after k8s-worker-node2") < names.index(
        "v1.37.1 on k8s-master-node0: kubeadm 1.37.1-1.1, held")
    for n in CPS + WORKERS:  # every node drained (kubeadm's "Drain the node"), uncordoned before its gate
        drain = names.index(f"v1.36.4: cordon and drain {n} (PodDisruptionBudgets respected, timeout 300s)")
        kubeadm = next(i for i, name in enumerate(names) if name.startswith(f"v1.36.4 on {n}: kubeadm upgrade"))
        uncordon = names.index(f"v1.36.4: uncordon {n}")
        assert drain < kubeadm < uncordon < names.index(f"v1.36.4: health gate after {n}")
        assert dict(steps)[f"v1.36.4: cordon and drain {n} (PodDisruptionBudgets respected, timeout 300s)"] == [CPS[0]]
    apply = [c for c in p.commands(CPS[0]) if "kubeadm upgrade apply" in c][0]
    assert "kubeadm upgrade plan v1.36.4" in apply and "kubeadm upgrade apply v1.36.4 --yes" in apply
    drain = [c for c in p.commands(CPS[0]) if "drain" in c][0]
    assert "--ignore-daemonsets --delete-emptydir-data --timeout=300s" in drain and "--disable-eviction" not in drain
    packages = [c for c in p.commands(WORKERS[0]) if "apt-get" in c and "install" in c]
    assert any("kubeadm=1.36.4-1.1" in c for c in packages) and any("kubelet=1.37.1-1.1" in c for c in packages)
    assert any("apt-mark hold" in c for c in p.commands(WORKERS[0]))
    # Each minor's repository is fetched once per node: a full update at the first, its own list alone at the second;
    # the kubelet and kubectl step after kubeadm's finds it fetched already.
    apt = [c for c in p.commands(WORKERS[0]) if "apt-get" in c and (" update" in c or " install " in c)]
    updates = [i for i, c in enumerate(apt) if " update" in c]
    assert [apt[i].endswith(" update") for i in updates] == [True, False]
    assert "Dir::Etc::SourceList=/etc/apt/sources.list.d/kubernetes.list" in apt[updates[1]]
    assert "kubeadm=1.36.4-1.1" in apt[updates[0] + 1] and "kubeadm=1.37.1-1.1" in apt[updates[1] + 1]
    assert names[-1] == "kubeadm configuration at v1.37.1" and dict(steps)[names[-1]] == [CPS[0]]


def test_workers_in_batches(private: dict[str, Any]) -> None:
    p = run(private, "1.36.4", upgrade_max_unavailable=2)
    names = [name for name, _ in order(p)]
    assert "v1.37.1: cordon and drain k8s-worker-node0, k8s-worker-node1 (PodDisruptionBudgets respected, timeout 300s)" in names
    assert "v1.37.1: cordon and drain k8s-worker-node2 (PodDisruptionBudgets respected, timeout 300s)" in names
    assert dict(order(p))["v1.37.1 on k8s-worker-node0, k8s-worker-node1: kubeadm upgrade node"] == WORKERS[:2]


def test_a_rerun_resumes_where_the_cluster_is(private: dict[str, Any]) -> None:
    # Stopped after `kubeadm upgrade apply v1.37.1` and one worker: the rest finishes, no second apply.
    kubelets = {**{n: "1.36.4" for n in CPS + WORKERS}, WORKERS[0]: "1.37.1"}
    p = run(private, "1.37.1", kubelets, cordoned=(WORKERS[1],))
    names = [name for name, _ in order(p)]
    assert not any("upgrade apply" in n for n in names)
    assert "v1.37.1 on k8s-master-node0: kubeadm upgrade node" in names
    assert not any(WORKERS[0] in n for n in names)
    assert f"v1.37.1: cordon and drain {WORKERS[1]} (PodDisruptionBudgets respected, timeout 300s)" in names


def test_uncordons_a_node_left_cordoned(private: dict[str, Any]) -> None:
    p = run(private, "1.37.1", cordoned=(WORKERS[2],))
    assert [name for name, _ in order(p)][0] == f"uncordon what an earlier run left cordoned: {WORKERS[2]}"
    p = run(private, "1.37.1", cordoned=(CPS[1],))
    assert [name for name, _ in order(p)][0] == f"uncordon what an earlier run left cordoned: {CPS[1]}"


def test_nothing_to_do_at_the_target(private: dict[str, Any]) -> None:
    p = run(private, "1.37.1")
    assert [name for name, _ in order(p)] == ["kubeadm configuration at v1.37.1"]  # written once, then 0 changes


@pytest.mark.parametrize("cluster,kubelets,data,message", [
    ("1.37.1", None, {"kube_version": "1.36.4"}, r"kube_version 1.36.4 is lower than the cluster's 1.37.1"),
    ("1.35.9", {"k8s-worker-node0": "1.37.1"}, {}, r"k8s-worker-node0 \(kubelet 1.37.1\)"),
    ("1.37.1", {"k8s-worker-node0": "1.35.9"}, {}, r"minors this deploy cannot step through"),
    ("1.37.1", {"k8s-worker-node0": "1.38.0"}, {}, r"newer than kube_version"),
    ("1.36.4", {"gone": "1.36.4"}, {}, r"k8s-master-node0 \(node k8s-master-node0\).* not in the cluster"),
])
def test_refusals(private: dict[str, Any], cluster: str, kubelets: dict[str, str] | None, data: dict[str, Any],
                  message: str) -> None:
    if kubelets is not None and "gone" not in kubelets:
        kubelets = {**{n: cluster for n in CPS + WORKERS}, **kubelets}
    with pytest.raises(model.ClusterConfigError, match=message) as raised:
        run(private, cluster, kubelets, **data)
    assert "nothing was changed" in str(raised.value)


def test_a_version_outside_the_releases_is_refused_by_the_model(private: dict[str, Any]) -> None:
    with pytest.raises(model.ClusterConfigError, match=r"'1.38.0' is not supported"):
        run(private, "1.37.1", kube_version="1.38.0")


def test_describe_names_the_nodes_in_order(private: dict[str, Any]) -> None:
    p = run(private, "1.36.4", upgrade_max_unavailable=2)
    current = node_upgrade.Live("1.36.4", {n: "1.36.4" for n in CPS + WORKERS})
    text = node_upgrade.describe(p.cluster, current, node_upgrade.plan(p.cluster, current))
    assert text.splitlines() == [
        "upgrade: cluster 1.36.4 -> 1.37.1 in 1 step(s)",
        "  to 1.37.1:",
        "    k8s-master-node0: cordon, drain, kubeadm, kubeadm upgrade apply, kubelet/kubectl, restart, uncordon; health gate",
        "    k8s-master-node1: cordon, drain, kubeadm, kubeadm upgrade node, kubelet/kubectl, restart, uncordon; health gate",
        "    k8s-master-node2: cordon, drain, kubeadm, kubeadm upgrade node, kubelet/kubectl, restart, uncordon; health gate",
        "    k8s-worker-node0, k8s-worker-node1: cordon, drain, kubeadm, kubeadm upgrade node, kubelet/kubectl, "
        "restart, uncordon; health gate",
        "    k8s-worker-node2: cordon, drain, kubeadm, kubeadm upgrade node, kubelet/kubectl, restart, uncordon; "
        "health gate",
    ]


def test_a_failed_gate_stops_the_run(private: dict[str, Any]) -> None:
    from pyinfra.api.exceptions import PyinfraError

    responses = {**plan.fresh_host(), "/proc/swaps": JOINED,
                 "kubeadm-pyinfra upgrade look": look("1.36.4", {n: "1.36.4" for n in CPS + WORKERS}),
                 "wait --for=jsonpath": {"success": False, "stderr": ["timed out"]}}
    with pytest.raises(PyinfraError, match="Over 0% of hosts failed"):
        plan.run(inventory(private, responses), entry_build=upgrade.run)
