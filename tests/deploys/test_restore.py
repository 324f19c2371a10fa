"""deploys/restore.py, the entry: `pyinfra INVENTORY deploys/restore.py` runs deploys/restoration.py."""

from __future__ import annotations

from pathlib import Path

from deploys import model
from tests import plan
from tests.deploys.test_cli import inventory, pyinfra
from tests.deploys.test_restoration import make_backup

ONE_PLUS_ONE = '''
fake = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": {"/proc/swaps": ["iface=eth0", "done=kubeadm-join"]}}
control_plane = [("@fake/cp0", {"node_ip": "10.1.0.10", "node_name": "cp0", **fake})]
workers = [("@fake/w0", {"node_ip": "10.1.0.20", "node_name": "w0", **fake})]
'''
DATA = ("--data", "cluster_name=prod", "--data", "etcd_version=3.6.6")


def restore(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """`pyinfra INVENTORY deploys/restore.py ARGS` on a 1+1 @fake cluster with a backup: rc, stderr, all output."""
    make_backup(tmp_path / "backups" / "prod" / "20261202T010000Z")
    snapshot = f"snapshot={tmp_path / 'backups' / 'prod' / '20261202T010000Z'}"
    result = pyinfra(plan.REPO, tmp_path, str(inventory(tmp_path, ONE_PLUS_ONE)), "deploys/restore.py", *DATA,
                     "--data", snapshot, *args)
    return result.returncode, result.stderr, result.stdout + result.stderr


def test_the_entry_restores_the_control_planes_from_the_named_backup(tmp_path: Path) -> None:
    rc, _, output = restore(tmp_path, "--dry", "--data", "confirm_restore=prod")
    assert rc == 0 and "Traceback" not in output, output
    steps = ["Backup 20261202T010000Z uploaded and checked", "Control-plane static pods stopped",
             "etcd data restored from the snapshot", "API server, controller manager and scheduler started",
             "Restore recorded"]
    assert [output.index(step) for step in steps] == sorted(output.index(step) for step in steps), output
    for step in steps:  # only the control plane, the workers untouched
        (line,) = [line for line in output.splitlines() if f"etcd restore | {step}" in line]
        assert "1 (@fake/cp0)" in line, output


def test_the_entry_refuses_without_confirmation(tmp_path: Path) -> None:
    rc, stderr, output = restore(tmp_path, "-y")
    assert rc == model.EXIT_INVALID, output
    assert "confirm with `--data confirm_restore=prod`; nothing was changed" in stderr, output
    assert "Traceback" not in output and "Beginning operation run" not in output, output
