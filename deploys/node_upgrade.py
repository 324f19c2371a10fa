"""Upgrade: a running cluster to `kube_version`, one minor at a time, one node at a time, for `deploys/upgrade.py`.

kubeadm's order (kubernetes/website content/en/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade.md,
"Upgrading kubeadm clusters"): on the first control plane the kubeadm package, `kubeadm upgrade plan`,
`kubeadm upgrade apply vX -y`, then (the node drained, "Drain the node") kubelet and kubectl and a kubelet
restart, uncordon; `kubeadm upgrade node` on the other control planes one at a time, drained the same way;
then the workers: drain, kubeadm, `kubeadm upgrade node`, kubelet and
kubectl, restart, uncordon. kubeadm upgrades one minor at a time (kubernetes/kubernetes
cmd/kubeadm/app/phases/upgrade/policy.go, MaximumAllowedMinorVersionUpgradeSkew = 1; "Skipping MINOR
versions when upgrading is unsupported" in the page above), so 1.35 -> 1.37 runs two steps.

The current versions are read from the cluster while planning (one command on the first control plane:
every Node's kubelet version and kubeadm-config's kubernetesVersion); the steps, and which nodes each step
concerns, are decided from them then, so `--dry` names the nodes and every host calls the same operations
in the same order (pyinfra runs each operation on all hosts before the next: one operation per node keeps
the nodes serial). After every node (or batch of workers) a health gate on the first control plane waits
for the node Ready at the new version and the API answering through the endpoint with etcd healthy; a
failed gate fails the run there. A re-run starts from what the cluster reports: finished nodes are skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Iterator

from pyinfra import host
from pyinfra.api import FactBase, StringCommand, deploy

from deploys import containerd, context, kube_packages, ops, schema
from deploys.control_plane import ADMIN_CONF, KUBEADM_CONFIG, kubeadm_config
from deploys.facts import DONE, Owned, node_state
from deploys.model import RELEASES, Cluster, ClusterConfigError, Node
from deploys.schema import Key

KEYS: dict[str, Key] = {
    # Workers upgraded (drained) at once.
    "upgrade_max_unavailable": Key(1, schema.integer(1, 1000, "workers")),
    # `kubectl drain --timeout`: a drain that PodDisruptionBudgets hold up longer fails the node.
    "upgrade_drain_timeout": Key(300, schema.integer(10, 86400, "seconds")),
    # How long each health gate waits for the node Ready at the new version.
    "upgrade_gate_timeout": Key(300, schema.integer(10, 3600, "seconds")),
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # upgrades what the other components own (packages, static pods, kubelet config)
DEPLOY = None  # not part of the cluster deploy: deploys/upgrade.py runs `upgrade`
KUBECTL = f"kubectl --kubeconfig {ADMIN_CONF}"
UPGRADE_LOG = "/var/log/kubeadm-upgrade.log"
# Marks a node this deploy cordoned, so a re-run uncordons it (a node the user cordoned stays cordoned).
CORDONED = "kubeadm-pyinfra/upgrade-cordoned"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def parse(version: str) -> tuple[int, int, int]:
    """'v1.36.4' -> (1, 36, 4)."""
    found = _VERSION.match(version.strip())
    if not found:
        raise ClusterConfigError(f"the cluster reports the version {version!r}, which is no vX.Y.Z")
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def minor_of(version: str) -> str:
    x, y, _ = parse(version)
    return f"{x}.{y}"


# ---------------------------------------------------------------- what the cluster says


@dataclass(frozen=True)
class Live:
    """The cluster's versions, read on the first control plane."""

    version: str  # kubeadm-config ClusterConfiguration kubernetesVersion, without "v"
    kubelets: dict[str, str]  # Kubernetes node name -> kubelet version, without "v"
    cordoned: frozenset[str] = frozenset()  # nodes this deploy cordoned (annotation CORDONED)
    error: str = ""  # why the cluster could not be read


class ClusterVersions(FactBase):
    """The nodes' kubelet versions and kubeadm-config's kubernetesVersion (admin kubeconfig, first control plane)."""

    def command(self) -> str:
        return (
            f"echo '## kubeadm-pyinfra upgrade look'; if [ ! -f {ADMIN_CONF} ]; then echo '## no-admin'; exit 0; fi; "
            f"echo '## nodes'; {KUBECTL} --request-timeout=20s get nodes -o json 2>&1 || echo '## failed'; "
            f"echo '## config'; {KUBECTL} --request-timeout=20s -n kube-system get configmap kubeadm-config "
            "-o jsonpath='{.data.ClusterConfiguration}' 2>&1 || echo '## failed'; true"
        )

    def process(self, output: list[str]) -> Live:
        sections: dict[str, list[str]] = {}
        current = ""
        for line in output:
            if line.startswith("## "):
                current = line[3:].strip()
                sections.setdefault(current, [])
            else:
                sections.setdefault(current, []).append(line)
        if "no-admin" in sections:
            return Live("", {}, error=f"{ADMIN_CONF} does not exist: no cluster was deployed here")
        if "failed" in sections or "nodes" not in sections:
            text = " ".join(sections.get("nodes", []) + sections.get("config", []))[-300:]
            return Live("", {}, error=f"the API did not answer: {text}")
        try:
            items = json.loads("\n".join(sections["nodes"])).get("items") or []
        except ValueError:
            return Live("", {}, error="`kubectl get nodes -o json` printed no JSON")
        kubelets, cordoned = {}, set()
        for item in items:
            name = item["metadata"]["name"]
            kubelets[name] = str(item.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "")).lstrip("v")
            if (item["metadata"].get("annotations") or {}).get(CORDONED) and item.get("spec", {}).get("unschedulable"):
                cordoned.add(name)
        version = next(
            (line.split(":", 1)[1].strip().strip("\"'").lstrip("v") for line in sections.get("config", [])
             if line.startswith("kubernetesVersion:")),
            "",
        )
        if not version:
            return Live("", kubelets, error="kube-system/kubeadm-config has no kubernetesVersion")
        return Live(version, kubelets, frozenset(cordoned))


def live(cluster: Cluster) -> Live:
    """The cluster's versions, read once per run on the first control plane (for every host's plan)."""

    def read() -> Live:
        first = host.state.inventory.get_host(cluster.first_control_plane.name)
        if not first.connected:
            first.connect(reason="to read the cluster's versions", raise_exceptions=True)
        return first.get_fact(ClusterVersions)

    return context.once(host.state, "upgrade: live versions", read)


# ---------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Step:
    """One version the cluster goes to, and the nodes (in order) that still need it."""

    version: str
    apply: bool  # `kubeadm upgrade apply` on the first control plane (the cluster is below this version)
    nodes: tuple[Node, ...]

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.is_control_plane)


def refuse(message: str) -> ClusterConfigError:
    return ClusterConfigError(f"upgrade refused: {message}; nothing was changed")


def plan(cluster: Cluster, current: Live) -> list[Step]:
    """The steps from the cluster's versions to kube_version, one minor each; refusals raise ClusterConfigError."""
    if current.error:
        raise refuse(f"cannot read the cluster's versions on {cluster.first_control_plane.name}: {current.error}")
    target = cluster.kube_version
    missing = [n for n in cluster.nodes if n.node_name not in current.kubelets]
    if missing:
        names = ", ".join(f"{n.name} (node {n.node_name})" for n in missing)
        raise refuse(
            f"{names} not in the cluster: join new nodes with deploys/cluster.py at the cluster's version "
            f"{current.version} before upgrading"
        )
    at = {n.node_name: current.kubelets[n.node_name] for n in cluster.nodes}
    cluster_v = parse(current.version)
    if parse(target) < cluster_v:
        raise refuse(f"kube_version {target} is lower than the cluster's {current.version}: kubeadm does not downgrade")
    newer = sorted(f"{name} (kubelet {v})" for name, v in at.items() if parse(v) > parse(target))
    if newer:
        raise refuse(f"nodes newer than kube_version {target}: {', '.join(newer)}; that would be a downgrade")
    ahead = sorted(f"{name} (kubelet {v})" for name, v in at.items() if parse(v)[:2] > cluster_v[:2])
    lagging = sorted(f"{name} (kubelet {v})" for name, v in at.items() if parse(v)[1] < cluster_v[1] - 1)
    if ahead or lagging:
        raise refuse(
            f"the nodes are at minors this deploy cannot step through (control plane {current.version}): "
            + ", ".join(ahead + lagging)
            + "; kubelets may be at most one minor behind the control plane and never ahead"
        )
    versions = []
    if any(parse(v) < cluster_v for v in at.values()):  # an earlier run stopped within this step: finish it
        versions.append(current.version)
    t = parse(target)
    for minor in range(cluster_v[1] + 1, t[1]):  # every minor in between, at its pinned patch
        name = f"{t[0]}.{minor}"
        if name not in RELEASES:
            raise refuse(f"the way from {current.version} to {target} goes through {name}, which is not supported")
        versions.append(RELEASES[name].patch)
    if parse(target) > cluster_v:
        versions.append(target)
    if minor_of(target) not in RELEASES:
        raise refuse(f"kube_version {target} is outside the supported releases {', '.join(RELEASES)}")
    ordered = [*cluster.control_planes, *cluster.workers]
    steps = []
    for version in versions:
        apply = parse(version) > cluster_v
        first = cluster.first_control_plane
        nodes = tuple(
            n for n in ordered if parse(at[n.node_name]) < parse(version) or (apply and n.name == first.name)
        )
        steps.append(Step(version, apply, nodes))
        at = {name: max(v, version, key=parse) for name, v in at.items()}
        cluster_v = max(cluster_v, parse(version))
    return steps


def describe(cluster: Cluster, current: Live, steps: list[Step]) -> str:
    """What the upgrade will do, node by node (printed before the operations, with --dry too)."""
    if not steps:
        return f"upgrade: every node is at {cluster.kube_version}; nothing to do"
    size = cluster.setting("upgrade_max_unavailable")
    lines = [f"upgrade: cluster {current.version} -> {cluster.kube_version} in {len(steps)} step(s)"]
    for step in steps:
        lines.append(f"  to {step.version}:")
        for n in step.control_planes:
            what = "kubeadm upgrade apply" if step.apply and n.name == cluster.first_control_plane.name else "kubeadm upgrade node"
            lines.append(f"    {n.node_name}: cordon, drain, kubeadm, {what}, kubelet/kubectl, restart, uncordon; health gate")
        workers = step.workers
        for i in range(0, len(workers), size):
            names = ", ".join(n.node_name for n in workers[i:i + size])
            lines.append(f"    {names}: cordon, drain, kubeadm, kubeadm upgrade node, kubelet/kubectl, restart, uncordon; health gate")
    return "\n".join(lines)


# ---------------------------------------------------------------- operations


@ops.operation()
def kubeadm_upgrade(stamp: str, commands: list[str]) -> Iterator[StringCommand]:
    """Ensure the kubeadm upgrade COMMANDS have succeeded here once (a stamp written after success).

    One kubeadm at a time per node (the lock of ops.kubeadm_script); the output goes to a root-only log
    and its tail to stderr on failure.
    """
    state = node_state(host)
    if stamp in state.done:
        return
    log = ops.q(UPGRADE_LOG)
    done = ops.q(f"{DONE}/{stamp}.done")
    run = " && ".join(f"{c} >>{log} 2>&1" for c in commands)
    yield StringCommand("; ".join([
        f"umask 077; install -d -m 755 {ops.q(DONE)}",
        f"exec 9>{ops.q(ops.KUBEADM_LOCK)}; flock 9",
        f"if [ -f {done} ]; then exit 0; fi",
        f"{{ {run}; }} || {{ tail -n 30 {log} >&2; exit 1; }}",
        f"if [ -f {ops.KUBELET_CONFIG} ]; then chmod 600 {ops.KUBELET_CONFIG}; fi",
        f"touch {done}",
    ]))
    if host.state.is_executing:
        state.done.add(stamp)


@ops.operation()
def drained(nodes: list[str], timeout: int) -> Iterator[StringCommand]:
    """Ensure NODES are cordoned (marked as ours) and drained: evictions respect PodDisruptionBudgets."""
    for name in nodes:
        node = ops.q(name)
        yield StringCommand(
            f"{KUBECTL} cordon {node} && {KUBECTL} annotate --overwrite node {node} {CORDONED}=true"
            f" && {KUBECTL} drain {node} --ignore-daemonsets --delete-emptydir-data --timeout={timeout}s"
            f" || {{ echo 'error: draining {name} failed (PodDisruptionBudgets or the {timeout}s timeout);"
            f" it stays cordoned, a re-run continues' >&2; exit 1; }}"
        )


@ops.operation()
def uncordoned(nodes: list[str]) -> Iterator[StringCommand]:
    """Ensure NODES (upgraded) are schedulable again and no longer marked as cordoned by us."""
    for name in nodes:
        node = ops.q(name)
        yield StringCommand(f"{KUBECTL} uncordon {node} && {KUBECTL} annotate node {node} {CORDONED}-")


@ops.operation()
def health_gate(nodes: list[str], version: str, endpoint: str, timeout: int, where: str) -> Iterator[StringCommand]:
    """Ensure NODES are Ready at VERSION, the API answers through ENDPOINT and etcd is healthy; else fail saying where."""
    wanted = f"v{version}"
    for name in nodes:
        node = ops.q(f"node/{name}")
        yield StringCommand(
            f"{KUBECTL} wait --for=jsonpath='{{.status.nodeInfo.kubeletVersion}}'={wanted} {node} --timeout={timeout}s"
            f" >/dev/null && {KUBECTL} wait --for=condition=Ready {node} --timeout={timeout}s >/dev/null"
            f" || {{ echo {ops.q(f'error: health gate after {where}: node {name} is not Ready at {wanted} after {timeout}s; fix it and run deploys/upgrade.py again')} >&2; exit 1; }}"
        )
    for path, what in (("/readyz", "the API"), ("/readyz/etcd", "etcd")):
        url = ops.q(f"https://{endpoint}{path}")
        yield StringCommand(
            f"n=0; until curl -fsSk --max-time 5 {url} >/dev/null; do n=$((n + 1));"
            f" if [ $n -ge 30 ]; then echo {ops.q(f'error: health gate after {where}: {what} is not healthy through {endpoint}{path}')} >&2; exit 1; fi;"
            " sleep 2; done"
        )


def _still_going() -> bool:
    """No host has failed in this run (checked when each operation executes): after a failed node or gate
    nothing more is done anywhere, whatever pyinfra's own failure settings are."""
    return not host.state.failed_hosts


def chunks(nodes: tuple[Node, ...], size: int) -> list[tuple[Node, ...]]:
    return [nodes[i:i + size] for i in range(0, len(nodes), size)]


def _node_steps(cluster: Cluster, step: Step, batch: tuple[Node, ...], first_apply: bool) -> None:
    """The package and kubeadm operations of one node (or batch of workers), on those hosts only."""
    me = cluster.node(host.name)
    here = any(n.name == me.name for n in batch)
    target = replace(cluster, kube_version=step.version)
    names = ", ".join(n.node_name for n in batch)
    version = f"v{step.version}"
    source = ops.on(
        here,
        ops.file,
        name=f"{version} on {names}: Kubernetes package repository {target.kube_minor}",
        dest=kube_packages.SOURCE,
        content=f"deb [signed-by={kube_packages.KEYRING}] {kube_packages.repo_url(target)} /\n",
        _if=_still_going,
    )
    key = ops.on(
        here,
        ops.download,
        name=f"{version} on {names}: Kubernetes repository key",
        url=kube_packages.key_url(target),
        dest=kube_packages.KEYRING,
        refresh=[source],
        _if=_still_going,
    )
    ops.on(
        here,
        ops.packages,
        name=f"{version} on {names}: kubeadm {target.kube_package_version}, held",
        wanted={"kubeadm": target.kube_package_version},
        hold=True,
        sources_changed=[key, source],
        source=kube_packages.SOURCE,
        _if=_still_going,
    )
    if first_apply:
        commands = [f"kubeadm upgrade plan {version}", f"kubeadm upgrade apply {version} --yes"]
        what = f"kubeadm upgrade plan, kubeadm upgrade apply {version} -y"
    else:
        commands = ["kubeadm upgrade node"]
        what = "kubeadm upgrade node"
    ops.on(
        here,
        kubeadm_upgrade,
        name=f"{version} on {names}: {what}",
        stamp=f"kubeadm-upgrade-{step.version}",
        commands=commands,
        _if=_still_going,
    )
    ops.on(
        here,
        ops.packages,
        name=f"{version} on {names}: kubelet, kubectl {target.kube_package_version}, cri-tools, held",
        wanted={
            "kubelet": target.kube_package_version,
            "kubectl": target.kube_package_version,
            "cri-tools": target.cri_tools_package_version,
        },
        hold=True,
        sources_changed=[key, source],
        source=kube_packages.SOURCE,
        _if=_still_going,
    )
    config = ops.on(
        here,
        ops.file,
        name=f"{version} on {names}: containerd sandbox image {target.pause_image}",
        dest=containerd.CONFIG,
        content=containerd.config_text(target),
        _if=_still_going,
    )
    ops.on(
        here,
        ops.restart,
        name=f"{version} on {names}: containerd restarted (sandbox image changed)",
        service_name="containerd",
        _if=lambda: _still_going() and ops.changed([config]),
    )
    ops.on(
        here,
        ops.restart,
        name=f"{version} on {names}: kubelet restarted",
        service_name="kubelet",
        daemon_reload=True,
        _if=_still_going,
    )


@deploy("Upgrade", data_defaults=DEFAULTS)
def upgrade(cluster: Cluster, steps: list[Step], cordoned: frozenset[str] = frozenset()) -> None:
    """Ensure every node runs kube_version: STEPS in order, node by node, a health gate after each."""
    me = cluster.node(host.name)
    first = cluster.first_control_plane
    on_first = me.name == first.name
    size = int(cluster.setting("upgrade_max_unavailable"))
    drain_timeout = int(cluster.setting("upgrade_drain_timeout"))
    gate_timeout = int(cluster.setting("upgrade_gate_timeout"))
    # Nodes an earlier run cordoned and upgraded but did not uncordon (it stopped in between).
    leftover = sorted(n.node_name for n in cluster.nodes if n.node_name in cordoned
                      and not any(n in s.nodes for s in steps))
    ops.on(on_first and bool(leftover), uncordoned, name=f"uncordon what an earlier run left cordoned: {', '.join(leftover) or 'nothing'}",
           nodes=leftover, _if=_still_going)
    for step in steps:
        version = f"v{step.version}"
        for node in step.control_planes:
            ops.on(
                on_first,
                drained,
                name=f"{version}: cordon and drain {node.node_name} (PodDisruptionBudgets respected, timeout "
                     f"{drain_timeout}s)",
                nodes=[node.node_name],
                timeout=drain_timeout,
                _if=_still_going,
            )
            _node_steps(cluster, step, (node,), first_apply=step.apply and node.name == first.name)
            ops.on(on_first, uncordoned, name=f"{version}: uncordon {node.node_name}", nodes=[node.node_name],
                   _if=_still_going)
            ops.on(
                on_first,
                health_gate,
                name=f"{version}: health gate after {node.node_name}",
                nodes=[node.node_name],
                version=step.version,
                endpoint=cluster.endpoint,
                timeout=gate_timeout,
                where=f"{node.node_name} (upgrade to {version})",
                _if=_still_going,
            )
        for batch in chunks(step.workers, size):
            names = ", ".join(n.node_name for n in batch)
            node_names = [n.node_name for n in batch]
            ops.on(
                on_first,
                drained,
                name=f"{version}: cordon and drain {names} (PodDisruptionBudgets respected, timeout {drain_timeout}s)",
                nodes=node_names,
                timeout=drain_timeout,
                _if=_still_going,
            )
            _node_steps(cluster, step, batch, first_apply=False)
            ops.on(on_first, uncordoned, name=f"{version}: uncordon {names}", nodes=node_names, _if=_still_going)
            ops.on(
                on_first,
                health_gate,
                name=f"{version}: health gate after {names}",
                nodes=node_names,
                version=step.version,
                endpoint=cluster.endpoint,
                timeout=gate_timeout,
                where=f"{names} (upgrade to {version})",
                _if=_still_going,
            )
    # What deploys/cluster.py writes from kube_version, rewritten so that it stays a no-op afterwards.
    ops.on(
        on_first,
        ops.file,
        name=f"kubeadm configuration at v{cluster.kube_version}",
        dest=KUBEADM_CONFIG,
        content=lambda: kubeadm_config(cluster, me),
        mode="600",
        _if=_still_going,
    )
