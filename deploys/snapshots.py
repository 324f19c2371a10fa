"""Snapshots: an etcd snapshot and the PKI a restore needs, copied to the operator's machine, for `deploys/backup.py`.

One healthy etcd member (the first control plane whose member answers healthy, so one with quorum)
takes the snapshot (`etcdctl snapshot save`, etcd Documentation/op-guide/recovery.md "Snapshotting
the keyspace"), checks it (`etcdutl snapshot status`), and packs the cluster-wide PKI kubeadm's HA
document lists for copying between control planes (kubernetes/website content/en/docs/setup/
production-environment/tools/kubeadm/high-availability.md, "Manual certificate distribution": ca,
sa, front-proxy-ca, etcd/ca) with the Secrets encryption configuration. All of it is copied to the
operator's machine under BACKUP_DIR/<cluster>/<UTC time>/ (directories 0700, files 0600) with a
SHA256SUMS, checked after the copy; only the newest `backup_keep` backups stay. The other hosts
do nothing but install the etcd tools on the control planes. deploys/restoration.py reads these backups.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from pyinfra import host, state
from pyinfra.api import FileDownloadCommand, FunctionCommand, StringCommand, deploy
from pyinfra.api.exceptions import OperationError

from deploys import context, etcd, model, ops, schema
from deploys.control_plane import ENCRYPTION_DIR
from deploys.digests import read_sums, sha256
from deploys.facts import DONE, Owned
from deploys.model import Cluster
from deploys.schema import Key

KEYS: dict[str, Key] = {
    "backup_keep": Key(7, schema.integer(1, 1000)),  # backups of this cluster kept on the operator's machine
    "backup_dir": Key(None, schema.optional(schema.LOCAL_PATH, "backups/ in this repository")),
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # writes on the operator's machine only
DEPLOY = None  # not part of the cluster deploy: deploys/backup.py runs `backup`
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "backups"  # in this repository
REMOTE = f"{DONE}/backup"  # on the node, 0700; emptied after the copy
SNAPSHOT = "snapshot.db"
PKI_ARCHIVE = "pki.tar.gz"
STATUS = "status.json"
SUMS = "SHA256SUMS"
FILES = (SNAPSHOT, PKI_ARCHIVE, STATUS)
# Relative to /etc/kubernetes: what every control plane shares (the rest kubeadm derives from these).
PKI_FILES = (
    "pki/ca.crt", "pki/ca.key", "pki/sa.key", "pki/sa.pub", "pki/front-proxy-ca.crt", "pki/front-proxy-ca.key",
    "pki/etcd/ca.crt", "pki/etcd/ca.key",
)
ENCRYPTION = ENCRYPTION_DIR.removeprefix("/etc/kubernetes/")
q = ops.q


def directory(cluster: Cluster) -> Path:
    """Where this cluster's backups live on the operator's machine."""
    root = cluster.setting("backup_dir")
    return (Path(root).expanduser() if root else DEFAULT_DIR) / cluster.name


def stamp() -> str:
    """This run's backup name: the UTC time, sortable (chosen once per run)."""
    return context.once(state, "backup: stamp", lambda: datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))


def source(cluster: Cluster) -> model.Node:
    """The control plane that takes the snapshot: the first whose etcd member is healthy (decided once per run)."""
    return context.once(state, "backup: source", lambda: _healthy_member(cluster))


def _healthy_member(cluster: Cluster) -> model.Node:
    connected = {h.name for h in state.activated_hosts}
    for node in cluster.control_planes:
        if node.name in connected and state.inventory.get_host(node.name).get_fact(etcd.Health):
            return node
    names = ", ".join(n.name for n in cluster.control_planes)
    raise model.ClusterConfigError(
        f"no control plane has a healthy etcd member ({names}: unreachable, or {etcd.HEALTH_URL} does not say "
        "healthy): without quorum there is nothing consistent to back up; restore a backup instead "
        "(deploys/restore.py)"
    )


def snapshot_script(remote: str = REMOTE) -> str:
    """The node's part: snapshot, its status, the PKI archive and their digests in REMOTE (0700)."""
    d = q(remote)
    return "; ".join([
        "set -e",
        "umask 077",
        f"rm -rf {d}",
        f"install -d -m 700 {d}",
        f"{etcd.ETCDCTL_LOCAL} snapshot save {d}/{SNAPSHOT} >{d}/save.log 2>&1 || {{ cat {d}/save.log >&2; exit 1; }}",
        # etcdutl reads snapshot files (etcdctl's `snapshot status` is deprecated since etcd 3.5: CHANGELOG-3.5)
        f"{etcd.ETCDUTL} snapshot status {d}/{SNAPSHOT} -w json >{d}/{STATUS}",
        f"cd /etc/kubernetes; enc=; if [ -d {q(ENCRYPTION)} ]; then enc={q(ENCRYPTION)}; fi",
        f"tar -czf {d}/{PKI_ARCHIVE} -C /etc/kubernetes {' '.join(PKI_FILES)} $enc",
        f"cd {d}; sha256sum {' '.join(FILES)} >{SUMS}; rm -f save.log",
    ])


def check(folder: Path) -> dict[str, str]:
    """FOLDER's files against its SHA256SUMS; the sums, or ValueError saying what is wrong."""
    sums_file = folder / SUMS
    if not sums_file.is_file():
        raise ValueError(f"{sums_file} is missing")
    sums = read_sums(sums_file)
    for name in FILES:
        if name not in sums:
            raise ValueError(f"{sums_file} lists no {name}")
        if not (folder / name).is_file():
            raise ValueError(f"{folder / name} is missing")
        if sha256(folder / name) != sums[name]:
            raise ValueError(f"{folder / name} does not match its SHA-256 in {sums_file}")
    return sums


def _prepare(folder: Path) -> None:
    """The backup's directory (0700, parents too) and its empty files (0600) before any byte arrives."""
    for level in (folder.parent.parent, folder.parent, folder):  # BACKUP_DIR, its cluster's, this backup's
        level.mkdir(mode=0o700, parents=True, exist_ok=True)
        level.chmod(0o700)
    for name in (*FILES, SUMS):
        (folder / name).touch(mode=0o600)
        (folder / name).chmod(0o600)


def _finish(folder: Path, keep: int) -> None:
    """Check the copy against its sums, mark it complete, then keep only the newest KEEP complete backups."""
    try:
        check(folder)
    except ValueError as exc:
        raise OperationError(f"the copied backup is damaged: {exc}") from None
    (folder / "COMPLETE").touch(mode=0o600)
    complete = sorted(p for p in folder.parent.iterdir() if (p / "COMPLETE").is_file())
    for old in complete[:-keep]:
        shutil.rmtree(old)
    status = json.loads((folder / STATUS).read_text() or "{}")
    print(
        f"    backup {folder}: revision {status.get('revision')}, {status.get('totalKey')} keys, "
        f"{(folder / SNAPSHOT).stat().st_size} bytes; {min(len(complete), keep)} kept"
    )


@ops.operation()
def saved(folder: str, keep: int) -> Iterator[object]:
    """Ensure a new snapshot of the cluster and its PKI are in FOLDER on the operator's machine, checked."""
    local = Path(folder)
    yield StringCommand(snapshot_script())
    yield FunctionCommand(_prepare, (local,), {})
    for name in (*FILES, SUMS):
        yield FileDownloadCommand(f"{REMOTE}/{name}", str(local / name))
    yield FunctionCommand(_finish, (local, keep), {})
    yield StringCommand("rm", "-rf", q(REMOTE))


@deploy("etcd backup", data_defaults=DEFAULTS)
def backup(cluster: Cluster) -> None:
    """The etcd tools on the control planes; a snapshot from one healthy member copied to this machine."""
    etcd.install(cluster)
    node = cluster.node(host.name)
    picked = source(cluster)
    folder = directory(cluster) / stamp()
    ops.on(
        node.name == picked.name,
        saved,
        name=f"etcd snapshot and PKI copied to {folder}",
        folder=str(folder),
        keep=cluster.setting("backup_keep"),
    )

