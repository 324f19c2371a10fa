"""deploys/runtime_upgrade.py through deploys/upgrade.py on @fake hosts: containerd node by node, Calico once from the
first control plane, refusals (upgrade.py and cluster.py), no-op when versions match, dry output."""

from __future__ import annotations

from typing import Any

import pytest

from deploys import model, runtime_upgrade, upgrade
from tests import plan
from tests.deploys import shapes
from tests.deploys.test_upgrade import CPS, JOINED, WORKERS, look

OLD = ["done=containerd-2.2.7", "done=runc-1.3.6"]  # what an earlier deploy installed (ops.artifact's stamps)
NEW = ["done=containerd-2.3.4", "done=runc-1.4.3"]  # the defaults: containerd_version 2.3.4, runc_version 1.4.3
CALICO_OLD = ["applied=tigera-operator-v3.30.3", "applied=calico-crds-v3.30.3"]
CALICO_NEW = ["applied=tigera-operator-v3.31.7", "applied=calico-crds-v3.31.7"]


def run(private: dict[str, Any], cluster_version: str = "1.37.1", lines: dict[str, list[str]] | None = None,
        first: list[str] | None = None, dry: bool = False, **data: Any) -> plan.Plan:
    """deploys/upgrade.py on 3 + 3 joined @fake hosts; LINES: each node's look lines beyond JOINED (default OLD),
    FIRST: the first control plane's Calico stamps (default CALICO_NEW)."""
    kubelets = {name: cluster_version for name in CPS + WORKERS}
    lines = lines or {}

    def hosts(names: list[str], base: int) -> list[tuple[str, dict[str, Any]]]:
        result = []
        for i, name in enumerate(names):
            extra = lines.get(name, OLD) + ((CALICO_NEW if first is None else first) if name == CPS[0] else [])
            responses = {**plan.fresh_host(), "/proc/swaps": JOINED + extra,
                         "kubeadm-pyinfra upgrade look": look(cluster_version, kubelets)}
            result.append((name, {"node_ip": f"192.168.11.{base + i}", "fake_responses": responses}))
        return result

    cluster = {"cluster_name": "prod", "vip": "192.168.11.230", "node_network": "192.168.11.0/24", **private, **data}
    inv = plan.fake_inventory(hosts(CPS, 220), hosts(WORKERS, 223), cluster)
    return plan.run(inv, entry_build=upgrade.run, check_for_changes=dry)


def order(p: plan.Plan) -> list[tuple[str, list[str]]]:
    """(operation, hosts) of every operation that ran somewhere, in order."""
    return [(name.split(" | ", 1)[-1], hosts) for name, hosts in p.steps if hosts]


def test_containerd_goes_node_by_node_control_planes_first(private: dict[str, Any]) -> None:
    p = run(private, "1.36.4")
    steps = order(p)
    names = [name for name, _ in steps]
    installs = [(name, hosts) for name, hosts in steps if name.endswith("containerd 2.3.4 installed")]
    assert installs == [(f"containerd 2.3.4 on {n}: containerd 2.3.4 installed", [n]) for n in CPS + WORKERS]
    # One node at a time: its restarts and health gate before the next node's first operation.
    for a, b in zip(CPS + WORKERS, (CPS + WORKERS)[1:]):
        assert names.index(f"containerd: health gate after {a}") < names.index(f"containerd 2.3.4 on {b}: upgrade begun")
    for n in CPS + WORKERS:
        restart = names.index(f"containerd 2.3.4 on {n}: containerd restarted (binaries or config changed)")
        kubelet = names.index(f"containerd 2.3.4 on {n}: kubelet restarted on the new runtime")
        assert names.index(f"containerd 2.3.4 on {n}: runc 1.4.3 installed") < restart < kubelet
        assert kubelet < names.index(f"containerd: health gate after {n}")
        assert dict(steps)[f"containerd: health gate after {n}"] == [CPS[0]]
    for w in WORKERS:  # workers drained first, uncordoned after their gate
        drain = names.index(f"containerd: cordon and drain {w} (PodDisruptionBudgets respected, timeout 300s)")
        assert drain < names.index(f"containerd 2.3.4 on {w}: containerd 2.3.4 installed")
        assert names.index(f"containerd: health gate after {w}") < names.index(f"containerd: uncordon {w}")
    assert not any(name.startswith("containerd") and "drain" in name and any(cp in name for cp in CPS) for name in names)
    # Before the Kubernetes step: the new Kubernetes minor may need the new containerd.
    assert names.index(f"containerd on {WORKERS[-1]}: upgrade done") < names.index(
        "v1.37.1 on k8s-master-node0: kubeadm upgrade plan, kubeadm upgrade apply v1.37.1 -y")
    gate = next(c for c in p.commands(CPS[0]) if "wait --for=jsonpath" in c and WORKERS[0] in c)
    assert "kubeletVersion}'=v1.36.4" in gate and "condition=Ready" in gate  # the kubelet it runs before its step
    unpack = next(c for c in p.commands(WORKERS[0]) if "tar -xzf" in c)
    assert "/usr/local/bin" in unpack  # the containerd component's own install script
    assert any("containerd-2.3.4-linux-amd64.tar.gz" in c and "sha256sum" in c for c in p.commands(WORKERS[0]))


def test_workers_in_batches(private: dict[str, Any]) -> None:
    p = run(private, upgrade_max_unavailable=2, upgrade_drain_timeout=60)
    steps = dict(order(p))
    assert steps[f"containerd 2.3.4 on {WORKERS[0]}, {WORKERS[1]}: containerd 2.3.4 installed"] == WORKERS[:2]
    assert "containerd: cordon and drain k8s-worker-node2 (PodDisruptionBudgets respected, timeout 60s)" in steps
    drain = next(c for c in p.commands(CPS[0]) if "drain" in c)
    assert "--timeout=60s" in drain


def test_only_the_nodes_that_differ(private: dict[str, Any]) -> None:
    p = run(private, lines={n: NEW for n in CPS + WORKERS if n != WORKERS[1]})
    touched = {h for name, hosts in order(p) if name.startswith("containerd") for h in hosts}
    assert touched == {WORKERS[1], CPS[0]}  # the node, and the first control plane's drain, gate, uncordon


def test_nothing_to_do_when_the_versions_match(private: dict[str, Any]) -> None:
    p = run(private, lines={n: NEW for n in CPS + WORKERS})
    assert [name for name, _ in order(p)] == ["kubeadm configuration at v1.37.1"]  # node_upgrade's, as before
    for n in CPS[1:] + WORKERS:
        assert len(plan.fake_calls(p, n)) == 1  # the one look, nothing else


def test_a_stopped_upgrade_is_resumed(private: dict[str, Any]) -> None:
    """Archives installed, but the run stopped before the gate: the marker brings the node back, restarts forced."""
    p = run(private, lines={**{n: NEW for n in CPS + WORKERS}, WORKERS[2]: NEW + ["done=runtime-upgrade-pending"]})
    names = [name for name, hosts in order(p)]
    assert f"containerd 2.3.4 on {WORKERS[2]}: containerd restarted (binaries or config changed)" in names
    assert f"containerd 2.3.4 on {WORKERS[2]}: containerd 2.3.4 installed" not in names  # its stamp: installed
    assert "rm -f /var/lib/kubeadm-pyinfra/runtime-upgrade-pending.done" in p.commands(WORKERS[2])


def test_calico_once_from_the_first_control_plane_after_kubernetes(private: dict[str, Any]) -> None:
    p = run(private, "1.36.4", lines={n: NEW for n in CPS + WORKERS}, first=CALICO_OLD)
    steps = order(p)
    names = [name for name, _ in steps]
    calico = [(name, hosts) for name, hosts in steps if name.startswith("Calico v3.30.3 -> v3.31.7")]
    assert calico and all(hosts == [CPS[0]] for _, hosts in calico)
    assert names.index("v1.37.1: health gate after k8s-worker-node2") < names.index(calico[0][0])
    commands = p.commands(CPS[0])
    kubectl = [c for c in commands if c.startswith("kubectl") and ("v3.31.7" in c or "calicoVersion" in c)]
    assert kubectl[-3].endswith("apply --server-side --force-conflicts -f /etc/kubernetes/addons/calico-crds-v3.31.7.yaml")
    assert kubectl[-2].endswith("apply --server-side --force-conflicts -f /etc/kubernetes/addons/tigera-operator-v3.31.7.yaml")
    wait = kubectl[-1]
    assert "wait --for=jsonpath='{.status.calicoVersion}'=v3.31.7 installation/default --timeout=900s" in wait
    assert "rollout status daemonset/calico-node --timeout=900s" in wait
    assert names[-1] == "Calico v3.30.3 -> v3.31.7: upgrade done"


@pytest.mark.parametrize("lines,first,data,message", [
    ({n: ["done=containerd-2.3.4"] for n in CPS + WORKERS}, None, {"containerd_version": "2.2.7"},
     r"k8s-master-node0 runs containerd 2.3.4, a newer minor than containerd_version 2.2.7"),
    ({n: NEW for n in CPS + WORKERS}, ["applied=tigera-operator-v3.31.7"], {"calico_version": "v3.30.3"},
     r"calico_version v3.30.3 is lower than the v3.31.7"),
])
def test_upgrade_refusals(private: dict[str, Any], lines: dict[str, list[str]], first: list[str] | None,
                          data: dict[str, Any], message: str) -> None:
    with pytest.raises(model.ClusterConfigError, match=message) as raised:
        run(private, lines=lines, first=first, **data)
    assert "nothing was changed" in str(raised.value)


def test_a_runtime_the_cluster_cannot_run_before_its_step_is_refused(
    private: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """containerd goes first, under the minor the cluster runs: the pinned one must support it too (unless allowed)."""
    from dataclasses import replace

    monkeypatch.setitem(model.RELEASES, "1.36", replace(model.RELEASES["1.36"], containerd=("2.2.0",)))
    with pytest.raises(model.ClusterConfigError, match=r"containerd 2.3.4 does not support the cluster's Kubernetes 1.36.4"):
        run(private, "1.36.4")
    p = run(private, "1.36.4", allow_unsupported_containerd=True)
    assert p.hosts_of(f"containerd 2.3.4 on {WORKERS[0]}: containerd 2.3.4 installed") == [WORKERS[0]]


def cluster_run(private: dict[str, Any], lines: list[str], **data: Any) -> plan.Plan:
    """deploys/cluster.py on 3 + 3 @fake hosts whose look shows LINES."""
    return plan.run(shapes.prod(private, {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", *lines]}, **data))


def test_cluster_py_refuses_another_containerd_on_a_joined_node(private: dict[str, Any]) -> None:
    with pytest.raises(model.VersionSkewError, match=r"containerd 2.2.7 -> 2.3.4, runc 1.3.6 -> 1.4.3 asked on this "
                       r"joined node: .*deploys/upgrade.py"):
        cluster_run(private, JOINED[2:] + OLD)


def test_cluster_py_installs_any_containerd_on_a_node_not_joined(private: dict[str, Any]) -> None:
    p = cluster_run(private, OLD)
    assert any("containerd-2.3.4-linux-amd64.tar.gz" in c for c in p.commands(WORKERS[0]))


def test_cluster_py_refuses_another_calico_on_a_running_cluster(private: dict[str, Any]) -> None:
    with pytest.raises(model.VersionSkewError, match=r"Calico v3.30.3 runs on this cluster but calico_version is "
                       r"v3.31.7: .*deploys/upgrade.py"):
        cluster_run(private, CALICO_OLD)


def test_cluster_py_leaves_the_same_calico_alone(private: dict[str, Any]) -> None:
    p = cluster_run(private, CALICO_NEW)
    assert not any("tigera-operator" in c and "apply" in c for c in p.commands(CPS[0]))


def test_dry_run_names_the_nodes_of_each_step(private: dict[str, Any]) -> None:
    p = run(private, first=CALICO_OLD, dry=True)
    table: dict[str, list[str]] = {}
    for op_hash in p.state.get_op_order():
        named = [h.name.split("/", 1)[-1] for h in p.state.inventory
                 if (d := p.state.ops[h].get(op_hash)) and d.operation_meta._maybe_is_change]
        table[sorted(p.state.op_meta[op_hash].names)[0].split(" | ", 1)[-1]] = named
    for n in CPS + WORKERS:
        assert table[f"containerd 2.3.4 on {n}: containerd 2.3.4 installed"] == [n]
    assert table["Calico v3.30.3 -> v3.31.7: tigera-operator applied"] == [CPS[0]]


def test_the_printed_plan_names_the_nodes(private: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    lines = {n: NEW for n in CPS[1:] + WORKERS[1:]}
    run(private, lines=lines, first=CALICO_OLD, upgrade_max_unavailable=2, dry=True)
    told = capsys.readouterr().err.splitlines()
    start = told.index("runtime: containerd, before the Kubernetes steps, one node (or batch of workers) at a time:")
    assert told[start + 1:start + 4] == [
        "    k8s-master-node0 (containerd 2.2.7 -> 2.3.4, runc 1.3.6 -> 1.4.3): install, restart containerd and kubelet; "
        "health gate",
        "    k8s-worker-node0 (containerd 2.2.7 -> 2.3.4, runc 1.3.6 -> 1.4.3): cordon, drain, install, restart containerd "
        "and kubelet; health gate; uncordon",
        "calico: v3.30.3 -> v3.31.7, after the Kubernetes steps, from k8s-master-node0: CRDs, tigera-operator, "
        "Installation; wait for the operator's rollout (timeout 900s)",
    ]


def test_the_printed_plan_says_nothing_to_do(private: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run(private, lines={n: NEW for n in CPS + WORKERS})
    told = capsys.readouterr().err.splitlines()
    assert "runtime: containerd 2.3.4, runc 1.4.3 on every node; nothing to do" in told
    assert "calico: v3.31.7; nothing to do" in told
