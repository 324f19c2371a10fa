"""deploys/snapshots.py: one healthy member takes the snapshot; the copy is checked, private and pruned."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyinfra.connectors.fake import FakeConnector

from deploys import model, snapshots
from tests import plan

HEALTHY = ['{"health":"true","reason":""}']
UNHEALTHY = ['{"health":"false","reason":"RAFT NO LEADER"}']
NODES = ("k8s-master-node0", "k8s-master-node1", "k8s-master-node2")


def served(damaged: bool = False) -> dict[str, bytes]:
    files = {"snapshot.db": b"snapshot", "pki.tar.gz": b"pki", "status.json": b'{"revision": 7, "totalKey": 42}'}
    sums = "".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in files.items()).encode()
    if damaged:
        files["snapshot.db"] = b"truncated"
    return {**files, "SHA256SUMS": sums}


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """What the @fake hosts serve for a download (name -> bytes)."""
    files = served()

    def get_file(self: FakeConnector, remote: str, dest: Any, *args: Any, **kwargs: Any) -> bool:
        Path(dest).write_bytes(files[remote.rsplit("/", 1)[1]])
        return True

    monkeypatch.setattr(FakeConnector, "get_file", get_file)
    return files


def inventory(tmp_path: Path, health: dict[str, list[str]] | None = None, **data: Any):  # type: ignore[no-untyped-def]
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "done=kubeadm-join"]}
    cps = [
        (name, {"node_ip": f"192.168.11.{220 + i}",
                "fake_responses": {**responses, "2381/health": (health or {}).get(name, HEALTHY)}})
        for i, name in enumerate(NODES)
    ]
    workers = [("k8s-worker-node0", {"node_ip": "192.168.11.223"})]
    private = {"secrets_dir": str(tmp_path / "secrets"), "kubeconfig_path": str(tmp_path / "admin.conf"),
               "backup_dir": str(tmp_path / "backups"), "cluster_name": "prod", "vip": "192.168.11.230",
               "etcd_version": "3.6.6"}
    return plan.fake_inventory(cps, workers, {**private, **data}, responses)


def test_the_first_healthy_member_takes_it_and_the_copy_is_checked(tmp_path: Path, downloads: dict[str, bytes]) -> None:
    p = plan.run(inventory(tmp_path), entry_build=snapshots.backup)
    (folder,) = (tmp_path / "backups" / "prod").iterdir()
    assert p.hosts_of("etcd snapshot and PKI copied") == ["k8s-master-node0"]
    assert p.hosts_of("etcdctl and etcdutl 3.6.6 installed") == list(NODES)
    assert all(p.commands(name) == [] for name in ("k8s-worker-node0",))
    for path in (tmp_path / "backups", tmp_path / "backups" / "prod", folder):
        assert path.stat().st_mode & 0o777 == 0o700
    for name in ("snapshot.db", "pki.tar.gz", "status.json", "SHA256SUMS"):
        assert (folder / name).read_bytes() == downloads[name]
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    assert (folder / "COMPLETE").exists()
    (script,) = [c for c in p.commands("k8s-master-node0") if "snapshot save" in c]
    assert "--cacert=/etc/kubernetes/pki/etcd/ca.crt" in script and "etcdutl snapshot status" in script
    assert "pki/sa.key" in script and "pki/etcd/ca.key" in script and "pki/front-proxy-ca.key" in script
    assert p.commands("k8s-master-node0")[-1] == "rm -rf /var/lib/kubeadm-pyinfra/backup"


def test_an_unhealthy_member_is_passed_over(tmp_path: Path, downloads: dict[str, bytes]) -> None:
    p = plan.run(inventory(tmp_path, {"k8s-master-node0": UNHEALTHY}), entry_build=snapshots.backup)
    assert p.hosts_of("etcd snapshot and PKI copied") == ["k8s-master-node1"]


def test_refused_without_a_healthy_member(tmp_path: Path, downloads: dict[str, bytes]) -> None:
    with pytest.raises(model.ClusterConfigError, match="no control plane has a healthy etcd member"):
        plan.run(inventory(tmp_path, {n: UNHEALTHY for n in NODES}), entry_build=snapshots.backup)
    assert not (tmp_path / "backups").exists()


def test_only_the_newest_are_kept(tmp_path: Path, downloads: dict[str, bytes]) -> None:
    old = tmp_path / "backups" / "prod"
    for day in range(1, 6):
        (old / f"2026010{day}T000000Z").mkdir(parents=True)
        (old / f"2026010{day}T000000Z" / "COMPLETE").touch()
    (old / "20260101T120000Z-partial").mkdir()  # never completed: not counted, not removed
    plan.run(inventory(tmp_path, backup_keep=3), entry_build=snapshots.backup)
    kept = sorted(p.name for p in old.iterdir())
    assert kept[:3] == ["20260101T120000Z-partial", "20260104T000000Z", "20260105T000000Z"] and len(kept) == 4
    assert (old / kept[3] / "COMPLETE").exists() and kept[3] > "20260105"  # this run's


def test_a_damaged_copy_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = served(damaged=True)
    monkeypatch.setattr(FakeConnector, "get_file",
                        lambda self, remote, dest, *a, **k: Path(dest).write_bytes(files[remote.rsplit("/", 1)[1]]) > -1)
    p = plan.run(inventory(tmp_path), entry_build=snapshots.backup)
    assert [h.name for h in p.state.failed_hosts] == ["@fake/k8s-master-node0"]
    (folder,) = (tmp_path / "backups" / "prod").iterdir()
    assert not (folder / "COMPLETE").exists()


@pytest.mark.parametrize("value", [0, -1, "7", True])
def test_backup_keep_is_typed(tmp_path: Path, value: Any) -> None:
    with pytest.raises(model.ClusterConfigError, match="backup_keep"):
        plan.run(inventory(tmp_path, backup_keep=value), entry_build=snapshots.backup)


def test_the_script_is_valid_shell() -> None:
    assert subprocess.run(["sh", "-n", "-c", snapshots.snapshot_script()]).returncode == 0
