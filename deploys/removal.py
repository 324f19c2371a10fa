"""Removal: nodes taken out of the cluster one at a time, for `deploys/remove.py`.

The user first removes the nodes from the inventory; the cluster itself (read on the inventory's
first control plane while planning) says where they are and what they are: the Node's InternalIP and
control-plane label, the etcd member of the same name. For each node, in kubeadm's documented order
(kubernetes/website content/en/docs/reference/setup-tools/kubeadm/kubeadm-reset.md, "Removing a
node": drain, reset, delete): drain, its etcd member removed (control planes), the node reset if it
answers, the Node deleted, then a health gate (API and etcd) before the next node. HAProxy and
keepalived on the remaining control planes are then rendered without it.

etcd members: kubeadm names a member after the node (`--name=<node name>`, phases/etcd/local.go) and
finds it by its peer URL `https://<advertise address>:2380` (cmd/kubeadm/app/util/etcd/etcd.go,
GetMemberID, RemoveMember: a member already gone is no error), through the client URLs of the etcd
static pods with the `etcd/healthcheck-client` certificate (NewFromCluster). Here the same certificate
talks to the local member's v3 JSON gateway (`POST /v3/cluster/member/list|remove`) with curl.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

from pyinfra import host, logger
from pyinfra.api import FactBase, FunctionCommand, StringCommand, deploy, operation
from pyinfra.api.exceptions import ConnectError, OperationError

from deploys import context, haproxy, keepalived, ops, schema, teardown
from deploys.facts import Owned
from deploys.model import Cluster, ClusterConfigError
from deploys.schema import Key

q = shlex.quote
_NAME = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*"
NODE_LIST = schema.pattern(
    "node names", "node names separated by commas, e.g. 'w1' or 'cp1,w2'", rf"{_NAME}(,{_NAME})*", max_length=2000
)


def _addresses(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) <= 100 and all(
        schema.is_dns_subdomain(k) and schema.IPV4.valid(v) for k, v in value.items()
    )


ADDRESSES = schema.Type(
    "node name -> IPv4", "a mapping of node names to IPv4 addresses, e.g. {'cp1': '10.0.0.11'}", _addresses
)
KEYS: dict[str, Key] = {
    # The nodes deploys/remove.py takes out of the cluster (Kubernetes node names).
    "remove": Key(None, schema.optional(NODE_LIST, "nothing to remove")),
    "remove_drain_timeout": Key(300, schema.integer(10, 86400, "seconds")),
    # Where a removed node is reached for its reset when the cluster does not know it any more.
    "remove_addresses": Key({}, ADDRESSES),
    # An even number of control planes (etcd members) tolerates no more failures than one fewer:
    # allowed only when asked for (during a replacement); also read by the model for the inventory.
    "allow_even_control_planes": Key(False, schema.BOOL),
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # changes what the other components own (certificates, etcd members, Nodes)
DEPLOY = None  # not part of the cluster deploy: a day-2 entry runs it
ADMIN = "kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=20s"
PKI = "/etc/kubernetes/pki/etcd"
LOCAL_ETCD = "https://127.0.0.1:2379"
GATE_SECONDS = 120


def etcd_curl(url: str, path: str, body: str | None = "{}") -> str:
    """curl against an etcd member's client URL with kubeadm's healthcheck-client certificate."""
    data = f" -X POST -d {q(body)}" if body is not None else ""
    return (
        f"curl -sS --max-time 10 --cacert {PKI}/ca.crt --cert {PKI}/healthcheck-client.crt"
        f" --key {PKI}/healthcheck-client.key{data} {q(url + path)}"
    )


# ---------------------------------------------------------------- reading the cluster


@dataclass(frozen=True)
class ClusterView:
    """What the first control plane says: Nodes and etcd members (each with its health)."""

    nodes: Mapping[str, Mapping[str, Any]]  # name -> {"ip", "control_plane", "ready"}
    members: Sequence[Mapping[str, Any]]  # {"id", "name", "peer", "healthy"}
    error: str = ""


_SECTIONS = ("@@nodes", "@@members", "@@health")


class ClusterFacts(FactBase):
    """Nodes (kubectl) and etcd members with each member's /health, from one control plane."""

    @staticmethod
    def default() -> ClusterView:
        return ClusterView({}, [], "no answer")

    def command(self) -> str:
        health = etcd_curl("$url", "/health", None).replace("'$url/health'", '"$url/health"')
        return "; ".join([
            "echo @@nodes",
            f"{ADMIN} get nodes -o json 2>&1",
            "echo @@members",
            f"members=$({etcd_curl(LOCAL_ETCD, '/v3/cluster/member/list')} 2>&1); echo \"$members\"",
            "echo @@health",
            # every client URL of the list: "URL {health json}"
            "for url in $(echo \"$members\" | grep -o '\"clientURLs\":\\[[^]]*\\]' | grep -o 'https://[^\"]*');"
            f' do echo "$url $({health} 2>&1 | tr -d "\\n")"; done',
            "true",
        ])

    def process(self, output: list[str]) -> ClusterView:
        parts: dict[str, list[str]] = {name: [] for name in _SECTIONS}
        current = None
        for line in output:
            if line.strip() in _SECTIONS:
                current = line.strip()
            elif current:
                parts[current].append(line)
        return parse_view("\n".join(parts["@@nodes"]), "\n".join(parts["@@members"]), parts["@@health"])


def parse_view(nodes_json: str, members_json: str, health_lines: Sequence[str]) -> ClusterView:
    """A ClusterView from `kubectl get nodes -o json`, the member list JSON and `URL {health}` lines."""
    try:
        items = json.loads(nodes_json)["items"]
    except (ValueError, KeyError, TypeError):
        return ClusterView({}, [], f"kubectl get nodes failed: {nodes_json.strip()[-300:]}")
    try:
        raw_members = json.loads(members_json).get("members") or []
    except (ValueError, AttributeError):
        return ClusterView({}, [], f"etcd member list failed: {members_json.strip()[-300:]}")
    healthy_urls = set()
    for line in health_lines:
        url, _, answer = line.strip().partition(" ")
        if re.search(r'"health"\s*:\s*"?true', answer):
            healthy_urls.add(url)
    nodes: dict[str, dict[str, Any]] = {}
    for item in items:
        meta, status = item.get("metadata") or {}, item.get("status") or {}
        ip = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        labels = meta.get("labels") or {}
        nodes[meta.get("name", "")] = {
            "ip": ip, "control_plane": "node-role.kubernetes.io/control-plane" in labels, "ready": ready,
        }
    members = [
        {
            "id": str(m.get("ID", "")),
            "name": m.get("name", ""),
            "peer": (m.get("peerURLs") or [""])[0],
            "healthy": any(url in healthy_urls for url in m.get("clientURLs") or []),
        }
        for m in raw_members
    ]
    return ClusterView(nodes, members)


# ---------------------------------------------------------------- deciding (while planning)


@dataclass(frozen=True)
class Target:
    """One node to take out, as the cluster knows it."""

    name: str
    address: str | None
    control_plane: bool
    node: bool  # its Node object exists
    ready: bool
    member: Mapping[str, Any] | None  # its etcd member, if still listed


@dataclass
class Removal:
    """The run's plan: the acting control plane and the targets in order."""

    acting: str  # the inventory name of the control plane that acts
    targets: list[Target] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)  # named, but no longer in the cluster
    members_after: list[str] = field(default_factory=list)


def names_of(value: Any) -> list[str]:
    """The node names of the `remove` key (typed by the model already), without repeats."""
    return list(dict.fromkeys(str(value or "").split(","))) if value else []


def _peer_host(peer: str) -> str:
    return peer.removeprefix("https://").rsplit(":", 1)[0].strip("[]")


def decide(cluster: Cluster, view: ClusterView) -> Removal:
    """The targets in order, or ClusterConfigError: nothing is changed when a removal is refused."""
    names = names_of(cluster.setting("remove"))
    if not names:
        raise ClusterConfigError("nothing to remove: name the nodes with `--data remove=NODE[,NODE]`")
    listed = [n for n in names if any(n in (node.node_name, node.name) for node in cluster.nodes)]
    if listed:
        raise ClusterConfigError(
            f"the inventory still lists {', '.join(listed)}: remove the node(s) from the inventory first "
            "(the remaining hosts are then configured without them); nothing was changed"
        )
    if view.error:
        raise ClusterConfigError(
            f"cannot read the cluster on {cluster.first_control_plane.name}: {view.error}; nothing was changed"
        )
    addresses = cluster.setting("remove_addresses") or {}
    removal = Removal(acting=cluster.first_control_plane.name)
    for name in names:
        node = view.nodes.get(name)
        member = next((m for m in view.members if m["name"] == name), None)
        if member is None and node and node.get("ip"):
            member = next((m for m in view.members if _peer_host(m["peer"]) == node["ip"]), None)
        if node is None and member is None:
            removal.gone.append(name)
            continue
        address = addresses.get(name) or (node or {}).get("ip") or (_peer_host(member["peer"]) if member else None)
        removal.targets.append(Target(
            name=name,
            address=address,
            control_plane=bool(member) or bool(node and node["control_plane"]),
            node=node is not None,
            ready=bool(node and node["ready"]),
            member=member,
        ))
    control_planes = {n for n, v in view.nodes.items() if v["control_plane"]} | {m["name"] for m in view.members}
    if control_planes and control_planes <= {t.name for t in removal.targets}:
        raise ClusterConfigError(
            f"{', '.join(sorted(control_planes))} would remove the last control plane; nothing was changed"
        )
    members = list(view.members)
    for target in removal.targets:
        if target.member is None:
            continue
        members = [m for m in members if m["id"] != target.member["id"]]
        healthy = [m for m in members if m["healthy"]]
        if not members:
            raise ClusterConfigError(f"removing {target.name} would remove the last etcd member; nothing was changed")
        if len(healthy) <= len(members) // 2:
            down = ", ".join(sorted(m["name"] or m["id"] for m in members if not m["healthy"]))
            raise ClusterConfigError(
                f"removing {target.name} would lose etcd quorum: {len(healthy)} of the {len(members)} remaining "
                f"members are healthy (down: {down}); nothing was changed"
            )
    removal.members_after = [m["name"] for m in members]
    if len(members) % 2 == 0 and len(members) != len(view.members) and not cluster.setting("allow_even_control_planes"):
        raise ClusterConfigError(
            f"this leaves {len(members)} etcd members ({', '.join(removal.members_after)}): an even number tolerates "
            "no more failures than one fewer. Add a control plane after, and say so with "
            "`--data allow_even_control_planes=true`; nothing was changed"
        )
    return removal


def plan(cluster: Cluster) -> Removal:
    """The run's Removal, decided once (whichever host plans first reads the cluster)."""

    def read() -> Removal:
        first = host.state.inventory.get_host(cluster.first_control_plane.name)
        if not first.connected:
            first.connect(reason="to read the cluster", raise_exceptions=True)
        removal = decide(cluster, first.get_fact(ClusterFacts))
        for name in removal.gone:
            logger.info(f"--> {name}: no Node and no etcd member of that name: already removed")
        return removal

    return context.once(host.state, "removal", read)


# ---------------------------------------------------------------- operations (on the acting control plane)


@operation()
def drained(target: Target, timeout: int) -> Iterator[str]:
    """Ensure the node runs no workload: drained when Ready; a node not Ready is cordoned only
    (its pods go with its Node: pkg/controller/podgc deletes pods bound to a Node that is gone)."""
    if not target.node:
        return
    name = q(target.name)
    if target.ready:
        yield (
            f"if {ADMIN} get node {name} -o name >/dev/null 2>&1; then {ADMIN} drain {name} --ignore-daemonsets"
            f" --delete-emptydir-data --force --timeout={timeout}s; fi"
        )
    else:
        yield f"if {ADMIN} get node {name} -o name >/dev/null 2>&1; then {ADMIN} cordon {name}; fi"


@operation()
def member_removed(target: Target) -> Iterator[str]:
    """Ensure the node's etcd member is gone (found again by ID; already gone is no error)."""
    if target.member is None:
        return
    member_id = target.member["id"]
    if not re.fullmatch(r"[0-9]{1,20}", member_id):
        raise OperationError(f"etcd member {target.member['name']!r} has no numeric ID: {member_id!r}")
    listing = etcd_curl(LOCAL_ETCD, "/v3/cluster/member/list")
    remove = etcd_curl(LOCAL_ETCD, "/v3/cluster/member/remove", json.dumps({"ID": member_id}))
    yield (
        f"if {listing} | grep -q {q(chr(34) + 'ID' + chr(34) + ':' + chr(34) + member_id + chr(34))}; then"
        f" out=$({remove}) && echo \"$out\" && ! echo \"$out\" | grep -q '\"error\"'; fi"
    )


@operation()
def reset_if_answering(target: Target) -> Iterator[object]:
    """Ensure the removed node holds nothing of the cluster (teardown's script), if it answers over SSH."""
    if not target.address:
        logger.warning(f"--> {target.name}: no address known (set remove_addresses): not reset")
        return
    yield FunctionCommand(_reset_remote, (target.name, target.address), {})


def _reset_remote(state: Any, host: Any, name: str, address: str) -> bool:  # noqa: F811 (pyinfra passes host)
    """Connect to the removed node like to the acting host (its SSH settings, the node's address)."""
    from pyinfra.api.host import Host

    remote = Host(name, host.inventory, [], connector_cls=host.connector_cls)
    for key, value in host.data.dict().items():
        if key.startswith(("ssh_", "fake_")) or key in ("_sudo", "_sudo_user"):
            setattr(remote.data, key, value)
    remote.data.ssh_hostname = address
    remote.init(state)
    try:
        remote.connect(reason="to reset the removed node", show_errors=False, raise_exceptions=True)
    except (ConnectError, OSError) as exc:
        host.log(f"{name} ({address}) does not answer ({exc}): removed from the cluster without a reset")
        return True
    try:
        ok, output = remote.run_shell_command(StringCommand(teardown.node_script()))
    finally:
        remote.disconnect()
    if not ok:
        host.log(f"kubeadm reset on {name} failed: {output.stderr[-500:]}")
    return bool(ok)


@operation()
def node_deleted(target: Target) -> Iterator[str]:
    """Ensure the Node object is gone."""
    if target.node:
        yield f"{ADMIN} delete node {q(target.name)} --ignore-not-found"


@operation()
def healthy(endpoint: str, expected_members: Sequence[str]) -> Iterator[str]:
    """Wait (up to GATE_SECONDS) for the API's /healthz through ENDPOINT, etcd's /health here and the member
    list to be EXPECTED_MEMBERS; fail the run, saying which, otherwise."""
    names = "".join(f' && echo "$m" | grep -q {q(chr(34) + "name" + chr(34) + ":" + chr(34) + n + chr(34))}'
                    for n in expected_members)
    count = len(expected_members)
    yield (
        f"i=0; while :; do curl -sk --max-time 5 {q(f'https://{endpoint}/healthz')} 2>/dev/null | grep -qx ok"
        f" && {etcd_curl(LOCAL_ETCD, '/health', None)} 2>/dev/null | grep -q '\"health\":\"true\"'"
        f" && m=$({etcd_curl(LOCAL_ETCD, '/v3/cluster/member/list')} 2>/dev/null)"
        f" && [ \"$(echo \"$m\" | grep -o '\"peerURLs\"' | wc -l)\" -eq {count} ]{names} && break;"
        f" i=$((i + 1)); if [ $i -ge {GATE_SECONDS // 2} ]; then echo 'error: health gate: the API /healthz, etcd"
        f" /health or the member list ({' '.join(expected_members)}) not as expected after {GATE_SECONDS}s' >&2;"
        " exit 1; fi; sleep 2; done"
    )


@deploy("Remove nodes", data_defaults=DEFAULTS)
def remove(cluster: Cluster) -> None:
    """Take each named node out, one at a time, then render HAProxy and keepalived without them."""
    removal = plan(cluster)
    acting = host.name == removal.acting
    timeout = cluster.setting("remove_drain_timeout")
    members = [m["name"] for m in plan_members(removal)]
    for target in host.loop(removal.targets):
        ops.on(acting, drained, name=f"Drain {target.name}" + ("" if target.ready else " (not Ready: cordon)"),
               target=target, timeout=timeout)
        member = target.member
        ops.on(
            acting and member is not None,
            member_removed,
            name=f"etcd member {member['name']} ({member['peer']}, id {member['id']}) removed" if member
            else f"{target.name}: no etcd member",
            target=target,
        )
        ops.on(acting, reset_if_answering, name=f"kubeadm reset on {target.name} ({target.address}), if it answers",
               target=target)
        ops.on(acting, node_deleted, name=f"Node {target.name} deleted", target=target)
        if member is not None:
            members = [m for m in members if m != member["name"]]
        ops.on(acting, healthy, name=f"Health gate after {target.name}: API, etcd members {', '.join(members)}",
               endpoint=cluster.endpoint, expected_members=list(members))
    # Always (a run killed after the last Node went is finished here): nothing changes when right.
    haproxy.install(cluster)
    keepalived.install(cluster)


def plan_members(removal: Removal) -> list[Mapping[str, Any]]:
    """Every etcd member before the removal: the targets' and those that stay."""
    before = [t.member for t in removal.targets if t.member is not None]
    return [*before, *({"name": n} for n in removal.members_after)]
