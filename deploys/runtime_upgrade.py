"""Upgrade: containerd/runc node by node and Calico through its operator, for `deploys/upgrade.py`.

containerd (and runc): when a joined node's installed archives (the stamps `ops.artifact` writes,
read by the one look: containerd.installed) differ from `containerd_version`/`runc_version`, the
nodes go one at a time under node_upgrade's serial rules, before the Kubernetes steps (a newer
Kubernetes minor may need the newer containerd: model.RELEASES): control planes one at a time,
then workers `upgrade_max_unavailable` at a time, cordoned and drained (`upgrade_drain_timeout`).
Each node runs the containerd component's own operations (containerd.steps: the pinned archives,
unit, config, then containerd and the kubelet restarted), then a health gate (node_upgrade.health_gate:
the node Ready at its kubelet version, the API and etcd through the endpoint), then the uncordon.
kubespray's order too (kubernetes-sigs/kubespray playbooks/upgrade_cluster.yml at 0b649570ce: the
control planes `serial: 1`, then the workers in `serial` batches, each with the `container-engine`
role before `kubernetes/node`).

Calico: when `calico_version` differs from the newest tigera-operator this deploy applied
(calico.running_version), after the Kubernetes steps, the calico component's operations
(calico.steps: operator CRDs server-side, tigera-operator, Installation) run once from the first
control plane, the procedure of docs.tigera.io "Upgrade Calico on Kubernetes", "Upgrading an
installation that uses the operator" (apply operator-crds.yaml and tigera-operator.yaml with
`kubectl apply --server-side --force-conflicts`, then wait for the tigerastatus). The operator rolls
calico-node out itself, one node at a time: tigera/operator v1.40.0 (Calico 3.31's operator)
pkg/controller/installation/core_controller.go defaults spec.nodeUpdateStrategy to RollingUpdate with
maxUnavailable 1, and writes Installation status.calicoVersion (components.CalicoRelease, "vX.Y.Z")
only once every component it monitors is available. The run waits for that, then for the
calico-node DaemonSet rollout, `upgrade_calico_timeout` each.

A marker (DONE/runtime-upgrade-pending.done on a node, DONE/calico-upgrade-pending.done on the first
control plane) is written before a node's (or Calico's) change and removed once its gate passed:
a run stopped in between is resumed by the next one (the archives' stamps alone would say "done").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

from pyinfra import host
from pyinfra.api import StringCommand, deploy

from deploys import calico, containerd, context, ops, schema
from deploys.facts import DONE, NodeState, Owned, node_state
from deploys.kube_packages import JOINED
from deploys.model import RELEASES, Cluster, Node, containerd_supports
from deploys.node_upgrade import KUBECTL, Live, _still_going, chunks, drained, health_gate, minor_of, refuse
from deploys.node_upgrade import uncordoned
from deploys.schema import Key

KEYS: dict[str, Key] = {
    # How long deploys/upgrade.py waits for the tigera-operator to roll a new Calico out (each wait).
    "upgrade_calico_timeout": Key(900, schema.integer(60, 7200, "seconds")),
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # upgrades what containerd and calico own
DEPLOY = None  # not part of the cluster deploy: deploys/upgrade.py runs `upgrade_containerd` and `upgrade_calico`
NODE_PENDING = "runtime-upgrade-pending"  # not "containerd-*": ops.artifact removes those stamps
CALICO_PENDING = "calico-upgrade-pending"


@dataclass(frozen=True)
class RuntimePlan:
    """What the runtime part of an upgrade does: containerd's nodes in order, and Calico's change."""

    containerd: tuple[Node, ...] = ()  # control planes first, then workers
    changes: dict[str, str] = field(default_factory=dict)  # node name -> "containerd 2.2.7 -> 2.3.4, ..."
    calico: tuple[str, str] | None = None  # (running, pinned) when Calico changes


def looks(cluster: Cluster) -> dict[str, NodeState]:
    """Every node's one look (facts.NodeFacts), read once per run while planning (kept for its operations)."""

    def read() -> dict[str, NodeState]:
        result = {}
        for node in cluster.nodes:
            other = host.state.inventory.get_host(node.name)
            if not other.connected:
                other.connect(reason="to read its container runtime", raise_exceptions=True)
            result[node.name] = node_state(other)
        return result

    return context.once(host.state, "upgrade: runtime looks", read)


def plan(cluster: Cluster, current: Live) -> RuntimePlan:
    """containerd's nodes and Calico's change, from every node's look; refusals raise ClusterConfigError."""
    states = looks(cluster)
    pinned = str(cluster.setting("containerd_version"))
    nodes, changes = [], {}
    for node in [*cluster.control_planes, *cluster.workers]:
        state = states[node.name]
        if not state.has(JOINED):
            continue
        found = containerd.changes(cluster, state)
        now = containerd.installed(state, "containerd")
        if now and _minor(now) > _minor(pinned):
            raise refuse(f"{node.name} runs containerd {now}, a newer minor than containerd_version {pinned}; "
                         "containerd is not downgraded")
        if found or NODE_PENDING in state.done:
            nodes.append(node)
            changes[node.name] = ", ".join(found) or "an earlier upgrade's restart and gate"
    at = current.version
    known = bool(at) and minor_of(at) in RELEASES  # an older minor: RELEASES has no containerd lines for it
    if nodes and known and not cluster.setting("allow_unsupported_containerd") and not containerd_supports(pinned, at):
        raise refuse(f"containerd {pinned} does not support the cluster's Kubernetes {at}, which it runs under "
                     "before the Kubernetes steps (containerd RELEASES.md); allow_unsupported_containerd = True accepts it")
    first = states[cluster.first_control_plane.name]
    running, wanted = calico.running_version(first), str(cluster.setting("calico_version"))
    change = None
    if running is not None and running != wanted:
        if calico.version_key(wanted) < calico.version_key(running):
            raise refuse(f"calico_version {wanted} is lower than the {running} the cluster runs: Calico is not downgraded")
        change = (running, wanted)
    elif CALICO_PENDING in first.done:
        change = (wanted, wanted)
    return RuntimePlan(tuple(nodes), changes, change)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def describe(cluster: Cluster, runtime: RuntimePlan) -> str:
    """What the runtime part of the upgrade will do, node by node (printed with the Kubernetes plan, --dry too)."""
    lines = []
    if runtime.containerd:
        size = int(cluster.setting("upgrade_max_unavailable"))
        lines.append("runtime: containerd, before the Kubernetes steps, one node (or batch of workers) at a time:")
        for n in (n for n in runtime.containerd if n.is_control_plane):
            lines.append(f"    {n.node_name} ({runtime.changes[n.name]}): install, restart containerd and kubelet; health gate")
        for batch in chunks(tuple(n for n in runtime.containerd if not n.is_control_plane), size):
            names = ", ".join(f"{n.node_name} ({runtime.changes[n.name]})" for n in batch)
            lines.append(f"    {names}: cordon, drain, install, restart containerd and kubelet; health gate; uncordon")
    else:
        lines.append(f"runtime: containerd {cluster.setting('containerd_version')}, runc {cluster.setting('runc_version')} "
                     "on every node; nothing to do")
    if runtime.calico:
        running, wanted = runtime.calico
        timeout = cluster.setting("upgrade_calico_timeout")
        lines.append(f"calico: {running} -> {wanted}, after the Kubernetes steps, from {cluster.first_control_plane.node_name}: "
                     f"CRDs, tigera-operator, Installation; wait for the operator's rollout (timeout {timeout}s)")
    else:
        lines.append(f"calico: {cluster.setting('calico_version')}; nothing to do")
    return "\n".join(lines)


# ---------------------------------------------------------------- operations


@ops.operation()
def marker(stamp: str, present: bool) -> Iterator[StringCommand]:
    """Ensure DONE/STAMP.done exists (PRESENT) or not: an upgrade begun here whose gate has not passed yet."""
    state = node_state(host)
    if (stamp in state.done) == present:
        return
    path = ops.q(f"{DONE}/{stamp}.done")
    if present:
        yield StringCommand(f"install -d -m 755 {ops.q(DONE)} && touch {path}")
    else:
        yield StringCommand(f"rm -f {path}")
    if host.state.is_executing:
        state.done = state.done | {stamp} if present else state.done - {stamp}


@ops.operation()
def calico_rolled_out(version: str, timeout: int) -> Iterator[StringCommand]:
    """Ensure the tigera-operator runs Calico VERSION: operator rolled out, Installation at VERSION, calico-node rolled out."""
    fail = ops.q(f"error: Calico {version} was not rolled out within {timeout}s (kubectl get tigerastatus tells why); "
                 "fix it and run deploys/upgrade.py again")
    yield StringCommand(
        f"{KUBECTL} -n tigera-operator rollout status deployment/tigera-operator --timeout={timeout}s >/dev/null"
        f" && {KUBECTL} wait --for=jsonpath='{{.status.calicoVersion}}'={ops.q(version)} installation/default"
        f" --timeout={timeout}s >/dev/null"
        f" && {KUBECTL} -n calico-system rollout status daemonset/calico-node --timeout={timeout}s >/dev/null"
        f" || {{ echo {fail} >&2; exit 1; }}"
    )


def _gates(cluster: Cluster, current: Live, batch: tuple[Node, ...], on_first: bool) -> None:
    """The health gate after BATCH, on the first control plane: each node Ready at its kubelet version."""
    by_version: dict[str, list[str]] = {}
    for n in batch:
        by_version.setdefault(current.kubelets.get(n.node_name) or cluster.kube_version, []).append(n.node_name)
    for version, names in sorted(by_version.items()):
        where = ", ".join(names)
        ops.on(
            on_first,
            health_gate,
            name=f"containerd: health gate after {where}",
            nodes=names,
            version=version,
            endpoint=cluster.endpoint,
            timeout=int(cluster.setting("upgrade_gate_timeout")),
            where=f"{where} (containerd {cluster.setting('containerd_version')})",
            _if=_still_going,
        )


def _batch(cluster: Cluster, runtime_cluster: Cluster, batch: tuple[Node, ...], drain: bool) -> list[str]:
    """Marker, containerd's own operations (restarts forced) on the nodes of BATCH only; their names."""
    me = cluster.node(host.name)
    here = any(n.name == me.name for n in batch)
    names = [n.node_name for n in batch]
    label = f"containerd {cluster.setting('containerd_version')} on {', '.join(names)}: "
    ops.on(here, marker, name=f"{label}upgrade begun", stamp=NODE_PENDING, present=True, _if=_still_going)
    if drain:
        timeout = int(cluster.setting("upgrade_drain_timeout"))
        ops.on(
            me.name == cluster.first_control_plane.name,
            drained,
            name=f"containerd: cordon and drain {', '.join(names)} (PodDisruptionBudgets respected, timeout {timeout}s)",
            nodes=names,
            timeout=timeout,
            _if=_still_going,
        )
    containerd.steps(runtime_cluster, here=here, label=label, go=_still_going, restart=True)
    return names


@deploy("Upgrade containerd", data_defaults=DEFAULTS)
def upgrade_containerd(cluster: Cluster, runtime: RuntimePlan, current: Live) -> None:
    """Ensure every joined node runs the pinned containerd and runc: node by node, a health gate after each."""
    if not runtime.containerd:
        return
    me = cluster.node(host.name)
    on_first = me.name == cluster.first_control_plane.name
    # The sandbox image of the minor the cluster runs now: the Kubernetes steps move it on.
    runtime_cluster = replace(cluster, kube_version=current.version) if minor_of(current.version) in RELEASES else cluster
    size = int(cluster.setting("upgrade_max_unavailable"))
    control_planes = tuple(n for n in runtime.containerd if n.is_control_plane)
    workers = tuple(n for n in runtime.containerd if not n.is_control_plane)
    for batch in [(n,) for n in control_planes] + [tuple(b) for b in chunks(workers, size)]:
        drain = not batch[0].is_control_plane
        names = _batch(cluster, runtime_cluster, batch, drain)
        _gates(cluster, current, batch, on_first)
        if drain:
            ops.on(on_first, uncordoned, name=f"containerd: uncordon {', '.join(names)}", nodes=names, _if=_still_going)
        here = any(n.name == me.name for n in batch)
        ops.on(here, marker, name=f"containerd on {', '.join(names)}: upgrade done", stamp=NODE_PENDING,
               present=False, _if=_still_going)


@deploy("Upgrade Calico", data_defaults=DEFAULTS)
def upgrade_calico(cluster: Cluster, runtime: RuntimePlan) -> None:
    """Ensure the cluster runs calico_version: the calico component's manifests from the first control plane, then its rollout."""
    if runtime.calico is None:
        return
    on_first = cluster.node(host.name).name == cluster.first_control_plane.name
    running, wanted = runtime.calico
    label = f"Calico {running} -> {wanted}: "
    ops.on(on_first, marker, name=f"{label}upgrade begun", stamp=CALICO_PENDING, present=True, _if=_still_going)
    calico.steps(cluster, on_first, label=label, go=_still_going)
    timeout = int(cluster.setting("upgrade_calico_timeout"))
    ops.on(on_first, calico_rolled_out, name=f"{label}the tigera-operator rolled it out (timeout {timeout}s)",
           version=wanted, timeout=timeout, _if=_still_going)
    ops.on(on_first, marker, name=f"{label}upgrade done", stamp=CALICO_PENDING, present=False, _if=_still_going)
