"""Drill: back up a 3+3 cluster, lose two of three etcd members (quorum gone), restore from the backup.

The two control planes lose their etcd data as with a replaced disk (kubelet and static pods stopped,
/var/lib/etcd emptied); the third's member alone has no quorum, so the API stops answering. The restore
brings every member back from the snapshot: the objects made before the backup are there, the one made
after it is gone. Prints the backup and restore times. Needs root and systemd-nspawn; minutes.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from lab import config, core, state
from lab.sshconf import ssh
from tests.drills.conftest import FIGURES
from tests.labtools import REQUIRES_LAB, changed, deploy, on

pytestmark = REQUIRES_LAB
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
NAMESPACE = "drill-backup"
HEALTH = "curl -s --max-time 2 http://127.0.0.1:2381/health"


def figure(line: str) -> None:
    print(f"\n[drill] {line}")
    FIGURES.append(line)


def pyinfra(entry: str, *data: str) -> subprocess.CompletedProcess[str]:
    argv = [config.PYINFRA, "-y", "inventories/lab.py", entry, *(a for d in data for a in ("--data", d))]
    return subprocess.run(argv, cwd=config.REPO, capture_output=True, text=True, timeout=900)


def manifest(kind: str, name: str) -> str:
    if kind == "Namespace":
        return f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {NAMESPACE}\n"
            f"data:\n  made: {name}\n")


def create(node: str, kind: str, name: str) -> None:
    on(node, f"cat >/tmp/{name}.yaml <<'EOF'\n{manifest(kind, name)}EOF\n{KUBECTL} create -f /tmp/{name}.yaml")


@pytest.fixture(scope="module")
def lab():  # type: ignore[no-untyped-def]
    core.down()
    core.up("3+3")
    deploy()
    yield [n.name for n in state.load().nodes if n.role == "control_plane"]
    assert core.down() == []


def test_restore_after_quorum_loss(lab: list[str], tmp_path: Path) -> None:
    first, *lost = lab
    create(first, "Namespace", NAMESPACE)
    create(first, "ConfigMap", "before-backup")

    start = time.monotonic()
    res = pyinfra("deploys/backup.py", f"backup_dir={tmp_path}")
    took = time.monotonic() - start
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    (folder,) = (tmp_path / "lab").iterdir()
    assert {p.name for p in folder.iterdir()} == {"snapshot.db", "pki.tar.gz", "status.json", "SHA256SUMS", "COMPLETE"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in folder.iterdir())
    assert folder.stat().st_mode & 0o777 == 0o700
    size = (folder / "snapshot.db").stat().st_size
    figure(f"backup: {took:.1f}s, snapshot {size} bytes ({folder.name})")

    create(first, "ConfigMap", "after-backup")
    for node in lost:  # their etcd data gone, as with a replaced disk
        on(node, f"systemctl stop kubelet; systemctl stop 'k8s-standin-pod-*' || true; rm -rf {'/var/lib/etcd'}/member")
    deadline = time.monotonic() + 60
    while '"health":"true"' in ssh(first, HEALTH).stdout.replace(" ", ""):
        assert time.monotonic() < deadline, "the last etcd member still says healthy without quorum"
        time.sleep(1)
    assert ssh(first, f"timeout 10 {KUBECTL} get namespace {NAMESPACE}").returncode != 0
    figure(f"quorum lost: {', '.join(lost)} without etcd data, the API does not answer")

    refused = pyinfra("deploys/restore.py", f"snapshot={folder}")
    assert refused.returncode == 2 and "confirm_restore=lab" in refused.stderr, refused.stderr[-2000:]

    start = time.monotonic()
    res = pyinfra("deploys/restore.py", f"snapshot={folder}", "confirm_restore=lab")
    took = time.monotonic() - start
    assert res.returncode == 0, (res.stdout + res.stderr)[-6000:]
    assert "before-backup" in on(first, f"{KUBECTL} get configmap -n {NAMESPACE} before-backup")
    gone = ssh(first, f"{KUBECTL} get configmap -n {NAMESPACE} after-backup")
    assert gone.returncode != 0 and "NotFound" in gone.stderr, gone
    members = on(first, "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 "
                 "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt "
                 "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list")
    assert len(members.strip().splitlines()) == 3, members
    for node in lab:
        assert '"health":"true"' in on(node, HEALTH).replace(" ", "")
    figure(f"restore: {took:.1f}s until every API server was ready; objects made after the backup gone; "
           "3 etcd members")

    again = pyinfra("deploys/restore.py", f"snapshot={folder}", "confirm_restore=lab")
    assert again.returncode == 0 and changed(again.stdout + again.stderr) == 0, again.stdout[-3000:]
    figure(f"restore re-run: 0 changes; cluster deploy after the restore: {changed(deploy())} changes")


def test_restore_onto_a_surviving_and_a_new_control_plane(lab: list[str], tmp_path: Path) -> None:
    """The third control plane replaced by a new host (nothing of the cluster on it), the second's etcd data
    lost: the restore rebuilds the two members, the new host joins with deploys/cluster.py afterwards."""
    first, survivor, replaced = lab
    create(first, "ConfigMap", "before-second-backup")
    res = pyinfra("deploys/backup.py", f"backup_dir={tmp_path}")
    assert res.returncode == 0, (res.stdout + res.stderr)[-5000:]
    (folder,) = (tmp_path / "lab").iterdir()
    create(first, "ConfigMap", "after-second-backup")

    # A new machine under the old name: kubeadm's files, etcd's data and this project's kubeadm stamps gone.
    on(replaced, "systemctl stop kubelet; systemctl stop 'k8s-standin-pod-*' || true; kubeadm reset -f >/dev/null 2>&1;"
                 " rm -rf /etc/kubernetes /var/lib/etcd /var/lib/kubeadm-pyinfra/kubeadm-*.done"
                 " /var/lib/kubeadm-pyinfra/restore-*.done")
    on(survivor, "systemctl stop kubelet; systemctl stop 'k8s-standin-pod-*' || true; rm -rf /var/lib/etcd/member")
    deadline = time.monotonic() + 60
    while '"health":"true"' in ssh(first, HEALTH).stdout.replace(" ", ""):
        assert time.monotonic() < deadline, "the last etcd member still says healthy without quorum"
        time.sleep(1)

    start = time.monotonic()
    res = pyinfra("deploys/restore.py", f"snapshot={folder}", "confirm_restore=lab")
    restored = time.monotonic() - start
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-6000:]
    assert f"members: {first}, {survivor})" in out, out[-3000:]
    start = time.monotonic()
    joined = changed(deploy())
    took = time.monotonic() - start
    assert joined > 0
    assert "before-second-backup" in on(first, f"{KUBECTL} get configmap -n {NAMESPACE} before-second-backup")
    assert ssh(first, f"{KUBECTL} get configmap -n {NAMESPACE} after-second-backup").returncode != 0
    members = on(first, "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 "
                 "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt "
                 "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key member list")
    assert sorted(line.split(", ")[2] for line in members.strip().splitlines()) == sorted(lab), members
    assert '"health":"true"' in on(replaced, HEALTH).replace(" ", "")
    figure(f"restore onto {first}, {survivor} with {replaced} new: {restored:.1f}s, then {replaced} joined by "
           f"deploys/cluster.py in {took:.1f}s; etcd members = the 3 control planes")
    again = pyinfra("deploys/restore.py", f"snapshot={folder}", "confirm_restore=lab")
    assert again.returncode == 0 and changed(again.stdout + again.stderr) == 0, again.stdout[-3000:]
    assert changed(deploy()) == 0
