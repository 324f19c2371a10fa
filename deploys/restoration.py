"""Restoration: the control plane rebuilt from a backup (deploys/snapshots.py), for `deploys/restore.py`.

Rebuilds the control plane from a backup of `deploys/backup.py` after quorum loss, the way etcd's
disaster recovery document says (etcd-io/website content/en/docs/v3.6/op-guide/recovery.md,
"Restoring a cluster": every member restored from the same snapshot file with `etcdutl snapshot
restore`, a new --initial-cluster naming every member, a new cluster token, then started) and
kubeadm's notes on it (kubernetes/website .../kubeadm/kubeadm-upgrade.md "Recovering from a failure
state" and .../administer-cluster/configure-upgrade-etcd.md "Restoring an etcd cluster": stop every
API server first, restore every etcd instance, then start them again; the static pods stop when
their manifests leave /etc/kubernetes/manifests). On every control plane, one step at a time across
all of them: the backup uploaded and checked; the control-plane static pods stopped (manifests
moved aside); the cluster-wide PKI put back where it is missing; etcd's data restored, member names
and peer URLs as kubeadm made them (nodeRegistration.name, https://advertiseAddress:2380:
phases/etcd/local.go); etcd started and healthy; the API server, controller manager and scheduler
started and ready; the API ready through the cluster's endpoint. Workers are not touched: their kubelets reconnect through the endpoint.

Onto the surviving or new hosts: the members restored are the control planes that initialised or
joined the cluster (this project's stamps); a control plane listed without either is new (a replaced
host) and is left alone: it joins the restored cluster with `deploys/cluster.py` afterwards, as
kubeadm's documents have new control planes join. The members are recorded on each of them as the
restore's first step, so a re-run (or one after the new hosts joined) restores the same set.

Refused (nothing changed) unless `confirm_restore` names the cluster, the backup's files match its
SHA256SUMS, every control plane of the inventory is reachable, at least one of them held the
cluster, and the first one listed is one of those (the new ones join it). The old data directory stays as
/var/lib/etcd.before-restore-<digest>. A run killed half-way is finished by the next; once done, a
run with the same backup changes nothing.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any, Iterator

from pyinfra import host, state
from pyinfra.api import FileUploadCommand, StringCommand, deploy

from deploys import context, etcd, model, ops, schema, snapshots
from deploys.control_plane import ADMIN_CONF, INIT_STAMP, JOINED_STAMP
from deploys.facts import DONE, Owned, node_state
from deploys.model import Cluster
from deploys.ops import ETCD_DATA
from deploys.schema import Key

def _path(value: Any) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= 4096
        and not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for ch in value)
    )


SNAPSHOT_PATH = schema.Type("path", "a path on this machine: a backup's directory or its snapshot.db", _path)
KEYS: dict[str, Key] = {
    "snapshot": Key(None, schema.optional(SNAPSHOT_PATH, "no restore")),
    # The cluster's name: `deploys/restore.py` replaces the cluster's etcd data only with it.
    "confirm_restore": Key(None, schema.optional(schema.DNS_NAME, "no restore")),
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # restores what control_plane owns (etcd data, static pods)
DEPLOY = None  # not part of the cluster deploy: deploys/restore.py runs `restore`
REMOTE = f"{DONE}/restore"
MANIFESTS = "/etc/kubernetes/manifests"
ASIDE = "/etc/kubernetes/manifests-restore"  # not read by the kubelet (staticPodPath is MANIFESTS)
CONTROL_PLANE_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# What a control plane needs of its own besides the shared PKI (kubeadm phases certs and kubeconfig).
OWN_FILES = (
    "pki/apiserver.crt", "pki/apiserver-etcd-client.crt", "pki/apiserver-kubelet-client.crt",
    "pki/front-proxy-client.crt", "pki/etcd/server.crt", "pki/etcd/peer.crt", "pki/etcd/healthcheck-client.crt",
    "controller-manager.conf", "scheduler.conf",
)
WAIT = 240  # seconds each wait may take
q = ops.q


class Backup:
    """The checked backup a restore uses."""

    def __init__(self, folder: Path, sums: dict[str, str]) -> None:
        self.folder = folder
        self.sums = sums

    @property
    def id(self) -> str:
        return self.sums[snapshots.SNAPSHOT][:12]


def chosen(cluster: Cluster) -> Backup:
    """The confirmed, checked backup (ClusterConfigError otherwise); checked once per run."""
    return context.once(state, "restore: backup", lambda: _checked(cluster))


def _checked(cluster: Cluster) -> Backup:
    if cluster.setting("confirm_restore") != cluster.name:
        raise model.ClusterConfigError(
            f"restore replaces the etcd data of cluster {cluster.name!r} on every control plane: confirm with "
            f"`--data confirm_restore={cluster.name}`; nothing was changed"
        )
    given = cluster.setting("snapshot")
    if not given:
        raise model.ClusterConfigError(
            f"restore needs a backup: `--data snapshot=PATH` (a directory under {snapshots.directory(cluster)}, "
            "made by deploys/backup.py); nothing was changed"
        )
    path = Path(given).expanduser()
    folder = path.parent if path.is_file() else path
    try:
        sums = snapshots.check(folder)
    except (ValueError, OSError) as exc:
        raise model.ClusterConfigError(f"snapshot {model.show(given)}: {exc}; nothing was changed") from None
    connected = {h.name for h in state.activated_hosts}
    missing = [n.name for n in cluster.control_planes if n.name not in connected]
    if missing:
        raise model.ClusterConfigError(
            f"control plane(s) {', '.join(missing)} unreachable: every control plane of the inventory is restored "
            "together (a member left out would come back with the old cluster's data); nothing was changed"
        )
    chosen_backup = Backup(folder, sums)
    kept = members(cluster, chosen_backup.id)
    if not kept:
        raise model.ClusterConfigError(
            "no control plane of the inventory initialised or joined this cluster: restoring onto brand-new hosts "
            "only is not supported (restore onto a surviving control plane, then add the new ones); nothing was changed"
        )
    if cluster.first_control_plane not in kept:
        raise model.ClusterConfigError(
            f"the first control plane listed, {cluster.first_control_plane.name}, is new (it never joined this "
            f"cluster): list a surviving one first ({', '.join(n.name for n in kept)}); the new ones join after the "
            "restore; nothing was changed"
        )
    return chosen_backup


def member_stamp(backup_id: str) -> str:
    """The stamp that records a host as a member of the restore of BACKUP_ID."""
    return f"restore-{backup_id}-member"


def members(cluster: Cluster, backup_id: str) -> list[model.Node]:
    """The control planes this restore rebuilds: those recorded by a run of it that began, else those that
    initialised or joined the cluster (a control plane with neither stamp is new and joins afterwards)."""
    done = {n.name: node_state(state.inventory.get_host(n.name)).done for n in cluster.control_planes}
    begun = [n for n in cluster.control_planes if member_stamp(backup_id) in done[n.name]]
    return begun or [n for n in cluster.control_planes if {INIT_STAMP, JOINED_STAMP} & done[n.name]]


def initial_cluster(cluster: Cluster, restored: list[model.Node] | None = None) -> str:
    """Every member restored (all control planes by default) as kubeadm names it: NODE_NAME=https://NODE_IP:2380."""
    return ",".join(f"{n.node_name}=https://{n.node_ip}:2380" for n in restored or cluster.control_planes)


def stale_nodes_script(cluster: Cluster, here: model.Node, new: list[model.Node]) -> str:
    """Delete the Node objects the snapshot holds for the replaced hosts, so that the new ones can join under
    their names (kubeadm join refuses a name whose Node is Ready: phases/join/kubelet.go). Through this
    node's own API server (its address is in the serving certificate), which was just found ready: the
    endpoint's load balancer may not have seen it come back yet."""
    names = " ".join(q(n.node_name) for n in new)
    return (f"kubectl --kubeconfig {ADMIN_CONF} --server https://{here.node_ip}:{cluster.apiserver_port}"
            f" --request-timeout=30s delete node --ignore-not-found {names}")


def _wait(test: str, what: str) -> str:
    """Shell: wait until TEST succeeds, at most WAIT seconds, else fail saying WHAT."""
    return (
        f"n=0; until {test}; do n=$((n + 1)); if [ $n -ge {WAIT} ]; then echo {q(f'error: {what} after {WAIT}s')} >&2;"
        " exit 1; fi; sleep 1; done"
    )


def stop_script(cluster: Cluster) -> str:
    """Move the control-plane manifests aside; wait until nothing listens on their ports."""
    names = ("etcd", *CONTROL_PLANE_PODS)
    ports = " or ".join(f"sport = :{p}" for p in (2379, 2380, cluster.apiserver_port))
    return "; ".join([
        "set -e",
        f"install -d -m 700 {ASIDE}",
        f"for m in {' '.join(names)}; do if [ -f {MANIFESTS}/$m.yaml ]; then mv -f {MANIFESTS}/$m.yaml {ASIDE}/; fi;"
        f" [ -f {ASIDE}/$m.yaml ] || {{ echo \"error: no $m.yaml in {MANIFESTS} or {ASIDE}: this host is no"
        " control plane made by kubeadm (join it anew after the restore)\" >&2; exit 1; }; done",
        _wait(f"! ss -Hltn '( {ports} )' | grep -q .", "the control-plane pods still listen"),
    ])


def pki_script() -> str:
    """Put back the shared PKI where it is missing; check the host's own certificates are there."""
    own = " ".join(OWN_FILES)
    return "; ".join([
        "set -e",
        f"tar -xzf {REMOTE}/{snapshots.PKI_ARCHIVE} -C /etc/kubernetes --skip-old-files",
        f"cd /etc/kubernetes; for f in {own}; do [ -f \"$f\" ] || {{ echo \"error: /etc/kubernetes/$f is missing:"
        " this host needs kubeadm's certificates of its own (join it anew after the restore)\" >&2; exit 1; }; done",
    ])


def restore_script(cluster: Cluster, node: model.Node, backup_id: str,
                   restored: list[model.Node] | None = None) -> str:
    """`etcdutl snapshot restore` into a new directory, then swapped in for etcd's data directory."""
    fresh, old, log = f"{ETCD_DATA}.restore-{backup_id}", f"{ETCD_DATA}.before-restore-{backup_id}", f"{REMOTE}/restore.log"
    restore = " ".join([
        etcd.ETCDUTL, "snapshot", "restore", f"{REMOTE}/{snapshots.SNAPSHOT}",
        "--name", q(node.node_name),
        "--initial-cluster", q(initial_cluster(cluster, restored)),
        "--initial-cluster-token", q(f"kubeadm-pyinfra-restore-{backup_id}"),
        "--initial-advertise-peer-urls", q(f"https://{node.node_ip}:2380"),
        "--data-dir", fresh,
    ])
    return "; ".join([
        "set -e",
        f"rm -rf {fresh}",
        f"{restore} >{log} 2>&1 || {{ tail -n 20 {log} >&2; exit 1; }}",
        # The data before the first restore attempt is kept; a re-run replaces its own earlier restore.
        f"if [ -e {ETCD_DATA} ] && [ ! -e {old} ]; then mv {ETCD_DATA} {old}; else rm -rf {ETCD_DATA}; fi",
        f"mv {fresh} {ETCD_DATA}",
        f"chmod 700 {ETCD_DATA}",
    ])


def etcd_started_script() -> str:
    healthy = f"curl -s --max-time 2 {etcd.HEALTH_URL} | tr -d ' ' | grep -q '\"health\":\"true\"'"
    return "; ".join([
        "set -e",
        f"if [ -f {ASIDE}/etcd.yaml ]; then mv -f {ASIDE}/etcd.yaml {MANIFESTS}/; fi",
        "systemctl start kubelet",  # a host whose kubelet was stopped runs no static pod
        _wait(healthy, "the restored etcd member is not healthy (no quorum yet?)"),
    ])


def control_plane_started_script(cluster: Cluster) -> str:
    ready = f"curl -sk --max-time 2 https://127.0.0.1:{cluster.apiserver_port}/readyz | grep -qx ok"
    return "; ".join([
        "set -e",
        f"for m in {' '.join(CONTROL_PLANE_PODS)}; do if [ -f {ASIDE}/$m.yaml ]; then mv -f {ASIDE}/$m.yaml"
        f" {MANIFESTS}/; fi; done",
        _wait(ready, "the API server is not ready"),
    ])


def endpoint_ready_script(cluster: Cluster) -> str:
    """Wait until the API answers ready through the cluster's endpoint (HA: the VIP's load balancers, which
    see the API servers come back only after their own health checks)."""
    return _wait(f"curl -sk --max-time 2 https://{cluster.endpoint}/readyz | grep -qx ok",
                 f"the API is not ready through the endpoint {cluster.endpoint}")


@ops.operation()
def step(stamp: str, script: str) -> Iterator[StringCommand]:
    """Ensure one step of the restore ran, unless the whole restore is done (STAMP)."""
    if stamp in node_state(host).done:
        return
    yield StringCommand(script)


@ops.operation()
def uploaded(stamp: str, folder: str, sums: dict[str, str]) -> Iterator[object]:
    """Ensure the backup's snapshot and PKI archive are on the node (0700 directory), checked there."""
    if stamp in node_state(host).done:
        return
    yield StringCommand("rm", "-rf", REMOTE, "&&", "install", "-d", "-m", "700", REMOTE)
    for name in (snapshots.SNAPSHOT, snapshots.PKI_ARCHIVE):
        yield StringCommand("install", "-m", "600", "/dev/null", f"{REMOTE}/{name}")
        yield FileUploadCommand(str(Path(folder) / name), f"{REMOTE}/{name}",
                                remote_temp_filename=host.get_temp_filename(f"{REMOTE}/{name}"))
    check = " && ".join(f"echo {q(f'{sums[name]}  {REMOTE}/{name}')} | sha256sum --quiet -c -"
                        for name in (snapshots.SNAPSHOT, snapshots.PKI_ARCHIVE))
    yield StringCommand(check)


@ops.operation()
def begun(stamp: str, member: str) -> Iterator[StringCommand]:
    """Ensure this host is recorded as a member of the restore (MEMBER stamp), unless it is done (STAMP)."""
    state_ = node_state(host)
    if stamp in state_.done or member in state_.done:
        return
    yield StringCommand(f"install -d -m 700 {DONE} && touch {q(f'{DONE}/{member}.done')}")
    if host.state.is_executing:
        state_.done.add(member)


@ops.operation()
def finished(stamp: str) -> Iterator[StringCommand]:
    """Ensure the restore is recorded as done on the node and its uploaded files are gone."""
    state_ = node_state(host)
    if stamp in state_.done:
        return
    yield StringCommand(f"rm -rf {REMOTE}; rmdir {ASIDE} 2>/dev/null || true; touch {q(f'{DONE}/{stamp}.done')}")
    if host.state.is_executing:
        state_.done.add(stamp)


@deploy("etcd restore", data_defaults=DEFAULTS)
def restore(cluster: Cluster) -> None:
    """Every control plane rebuilt from the backup, step by step across all of them; workers untouched."""
    chosen_backup = chosen(cluster)
    etcd.install(cluster)
    node = cluster.node(host.name)
    restored = context.once(state, "restore: members", lambda: members(cluster, chosen_backup.id))
    here = node in restored
    stamp = f"restore-{chosen_backup.id}"
    common = {"stamp": stamp}
    ops.on(here, begun, name=f"Restore member recorded (members: {', '.join(n.name for n in restored)})",
           member=member_stamp(chosen_backup.id), **common)
    ops.on(here, uploaded, name=f"Backup {chosen_backup.folder.name} uploaded and checked",
           folder=str(chosen_backup.folder), sums=chosen_backup.sums, **common)
    ops.on(here, step, name="Control-plane static pods stopped (manifests moved aside)",
           script=stop_script(cluster), **common)
    ops.on(here, step, name="Shared PKI put back where missing", script=pki_script(), **common)
    ops.on(here, step, name="etcd data restored from the snapshot (a new cluster of the members)",
           script=restore_script(cluster, node, chosen_backup.id, restored), **common)
    ops.on(here, step, name="etcd started and healthy", script=etcd_started_script(), **common)
    ops.on(here, step, name="API server, controller manager and scheduler started and ready",
           script=control_plane_started_script(cluster), **common)
    ops.on(here, step, name=f"API ready through the endpoint {cluster.endpoint}", script=endpoint_ready_script(cluster),
           **common)
    new = [n for n in cluster.control_planes if n not in restored]
    ops.on(bool(new) and node == restored[0], step, script=stale_nodes_script(cluster, node, new) if new else "",
           name=f"Stale Node objects of the new control planes deleted ({', '.join(n.name for n in new)}; "
                "they join with deploys/cluster.py)", **common)
    ops.on(here, finished, name="Restore recorded", **common)

