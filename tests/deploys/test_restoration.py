"""deploys/restoration.py: refused unless confirmed and checked; then every control plane restored step by step."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from deploys import model, restoration
from tests import plan

NODES = ("k8s-master-node0", "k8s-master-node1", "k8s-master-node2")


def make_backup(folder: Path) -> str:
    """A backup as deploys/backup.py leaves it; returns the snapshot's digest."""
    folder.mkdir(parents=True)
    files = {"snapshot.db": b"snapshot", "pki.tar.gz": b"pki", "status.json": b"{}"}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(v).hexdigest()}  {k}\n" for k, v in files.items()))
    return hashlib.sha256(b"snapshot").hexdigest()


def looks(done: tuple[str, ...]) -> dict[Any, Any]:
    """Canned answers of a host whose stamps are DONE."""
    return {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", *(f"done={d}" for d in done)]}


def inventory(tmp_path: Path, done: tuple[str, ...] = (), stamps: dict[str, tuple[str, ...]] | None = None,
              **data: Any):  # type: ignore[no-untyped-def]
    """A 3+1 cluster whose control planes joined (with DONE), or have the STAMPS given per host."""
    responses = looks(("kubeadm-join", *done))
    own = {name: {"fake_responses": looks(stamps[name])} for name in (stamps or {})}
    cps = [(name, {"node_ip": f"192.168.11.{220 + i}", **own.get(name, {})}) for i, name in enumerate(NODES)]
    workers = [("k8s-worker-node0", {"node_ip": "192.168.11.223"})]
    private = {"secrets_dir": str(tmp_path / "secrets"), "kubeconfig_path": str(tmp_path / "admin.conf"),
               "cluster_name": "prod", "vip": "192.168.11.230", "etcd_version": "3.6.6"}
    return plan.fake_inventory(cps, workers, {**private, **data}, responses)


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    folder = tmp_path / "backups" / "prod" / "20261202T010000Z"
    make_backup(folder)
    return folder


def test_refused_without_confirmation(tmp_path: Path, snapshot: Path) -> None:
    with pytest.raises(model.ClusterConfigError, match=r"confirm with `--data confirm_restore=prod`; nothing was changed"):
        plan.run(inventory(tmp_path, snapshot=str(snapshot), confirm_restore="lab"), entry_build=restoration.restore)


def test_refused_without_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(model.ClusterConfigError, match=r"restore needs a backup: `--data snapshot=PATH`"):
        plan.run(inventory(tmp_path, confirm_restore="prod"), entry_build=restoration.restore)
    with pytest.raises(model.ClusterConfigError, match=r"SHA256SUMS is missing"):
        plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(tmp_path)), entry_build=restoration.restore)


def test_refused_when_the_snapshot_fails_its_checksum(tmp_path: Path, snapshot: Path) -> None:
    (snapshot / "snapshot.db").write_bytes(b"snapshoT")
    with pytest.raises(model.ClusterConfigError, match=r"snapshot.db does not match its SHA-256"):
        plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(snapshot / "snapshot.db")),
                 entry_build=restoration.restore)


def test_every_control_plane_restored_in_order(tmp_path: Path, snapshot: Path) -> None:
    digest = hashlib.sha256(b"snapshot").hexdigest()
    p = plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(snapshot)), entry_build=restoration.restore)
    order = ["uploaded and checked", "static pods stopped", "Shared PKI", "etcd data restored", "etcd started",
             "API server, controller manager", "API ready through the endpoint 192.168.11.230:16443", "Restore recorded"]
    assert [p.index(step) for step in order] == sorted(p.index(step) for step in order)
    for step in order:
        assert p.hosts_of(step) == list(NODES)
    assert p.commands("k8s-worker-node0") == []
    assert set(plan.uploads(p, "k8s-master-node1")) == {
        "/var/lib/kubeadm-pyinfra/restore/snapshot.db", "/var/lib/kubeadm-pyinfra/restore/pki.tar.gz"}
    (command,) = [c for c in p.commands("k8s-master-node1") if "snapshot restore" in c]
    members = ",".join(f"{n}=https://192.168.11.{220 + i}:2380" for i, n in enumerate(NODES))
    assert f"--name k8s-master-node1 --initial-cluster {members}" in command
    assert "--initial-advertise-peer-urls https://192.168.11.221:2380" in command
    assert f"--initial-cluster-token kubeadm-pyinfra-restore-{digest[:12]}" in command
    assert f"/var/lib/etcd.before-restore-{digest[:12]}" in command
    (check,) = [c for c in p.commands("k8s-master-node1") if "sha256sum --quiet -c" in c and "restore/snapshot.db" in c]
    assert digest in check
    assert f"touch /var/lib/kubeadm-pyinfra/restore-{digest[:12]}.done" in p.commands("k8s-master-node2")[-1]


def test_a_finished_restore_changes_nothing(tmp_path: Path, snapshot: Path) -> None:
    digest = hashlib.sha256(b"snapshot").hexdigest()
    p = plan.run(inventory(tmp_path, done=(f"restore-{digest[:12]}", "etcd-3.6.6"), confirm_restore="prod",
                           snapshot=str(snapshot)), entry_build=restoration.restore)
    assert p.changed == []


def test_the_scripts_are_valid_shell(tmp_path: Path, snapshot: Path) -> None:
    p = plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(snapshot)), entry_build=restoration.restore)
    node = p.cluster.control_planes[0]
    for script in (restoration.stop_script(p.cluster), restoration.pki_script(),
                   restoration.restore_script(p.cluster, node, "x"), restoration.etcd_started_script(),
                   restoration.control_plane_started_script(p.cluster)):
        assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0, script


@pytest.mark.parametrize("bad", ["", "/tmp/a\ue000b", "/tmp/a\u200bb", "/tmp/a\nb", "/tmp/a\u2028b", "x" * 4097])
def test_a_snapshot_path_with_invisible_characters_is_refused(bad: str) -> None:
    assert restoration.SNAPSHOT_PATH.problem(bad) is not None
    assert restoration.SNAPSHOT_PATH.problem("/home/me/backups/lab/20261202T020918Z") is None


def test_the_static_pods_are_stopped_until_etcd_and_the_api_server_are_closed(tmp_path: Path, snapshot: Path) -> None:
    from deploys import components

    cluster = model.build(inventory(tmp_path), components.defaults(), write_secrets=False)
    script = restoration.stop_script(cluster)
    for port in (2379, 2380, cluster.apiserver_port):
        assert f"sport = :{port}" in script, port


def test_a_new_control_plane_is_left_to_join_afterwards(tmp_path: Path, snapshot: Path) -> None:
    first, second, new = NODES
    p = plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(snapshot),
                           stamps={first: ("kubeadm-init",), second: ("kubeadm-join",), new: ()}),
                 entry_build=restoration.restore)
    for step in ("Restore member recorded", "uploaded and checked", "etcd data restored", "Restore recorded"):
        assert p.hosts_of(step) == [first, second]
    assert not [c for c in p.commands(new) if "snapshot restore" in c or "/restore" in c]
    (command,) = [c for c in p.commands(second) if "snapshot restore" in c]
    assert f"--initial-cluster {first}=https://192.168.11.220:2380,{second}=https://192.168.11.221:2380 " in command
    assert any(f"members: @fake/{first}, @fake/{second})" in name for name, _ in p.steps), p.steps
    assert p.hosts_of("Stale Node objects of the new control planes deleted") == [first]
    (delete,) = [c for c in p.commands(first) if "delete node" in c]
    assert delete.endswith(f"delete node --ignore-not-found {new}")
    assert p.index("Stale Node objects") > p.index("API server, controller manager")


def test_the_members_of_a_begun_restore_stay_its_members(tmp_path: Path, snapshot: Path) -> None:
    first, second, joined_after = NODES
    member = restoration.member_stamp(hashlib.sha256(b"snapshot").hexdigest()[:12])
    p = plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(snapshot),
                           stamps={first: ("kubeadm-init", member), second: ("kubeadm-join", member),
                                   joined_after: ("kubeadm-join",)}),
                 entry_build=restoration.restore)
    assert p.hosts_of("etcd data restored") == [first, second]
    assert not [hosts for name, hosts in p.steps if "Restore member recorded" in name and hosts]  # recorded already


@pytest.mark.parametrize("stamps, error", [
    ({n: () for n in NODES}, r"restoring onto brand-new hosts only is not supported"),
    ({NODES[0]: (), NODES[1]: ("kubeadm-join",), NODES[2]: ("kubeadm-join",)},
     r"the first control plane listed, (@fake/)?k8s-master-node0, is new .* list a surviving one first "
     r"\((@fake/)?k8s-master-node1, (@fake/)?k8s-master-node2\)"),
])
def test_refused_without_a_surviving_first_control_plane(tmp_path: Path, snapshot: Path,
                                                          stamps: dict[str, tuple[str, ...]], error: str) -> None:
    with pytest.raises(model.ClusterConfigError, match=error):
        plan.run(inventory(tmp_path, confirm_restore="prod", snapshot=str(snapshot), stamps=stamps),
                 entry_build=restoration.restore)
