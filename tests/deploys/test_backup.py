"""deploys/backup.py, the entry: `pyinfra INVENTORY deploys/backup.py` runs deploys/snapshots.py."""

from __future__ import annotations

import re
from pathlib import Path

from deploys import model
from tests import plan
from tests.deploys.test_cli import inventory, pyinfra

DATA = ("--data", "cluster_name=prod", "--data", "etcd_version=3.6.6")
HEALTH = '{"health":"%s","reason":""}'
ONE_PLUS_ONE = '''
cp = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": {"/proc/swaps": ["iface=eth0", "done=kubeadm-join"],
      "2381/health": ['%s']}}
control_plane = [("@fake/cp0", {"node_ip": "10.1.0.10", "node_name": "cp0", **cp})]
workers = [("@fake/w0", {"node_ip": "10.1.0.20", "node_name": "w0", "fake_delay": 0, "fake_delay_jitter": 0})]
'''


def test_the_entry_names_the_snapshot_and_its_folder(tmp_path: Path) -> None:
    healthy = inventory(tmp_path, ONE_PLUS_ONE % (HEALTH % "true"), name="healthy")
    result = pyinfra(plan.REPO, tmp_path, str(healthy), "deploys/backup.py", "--dry",
                     *DATA, "--data", f"backup_dir={tmp_path / 'backups'}")
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Traceback" not in output, output
    (line,) = [line for line in output.splitlines() if "etcd backup | etcd snapshot and PKI copied to" in line]
    assert re.search(rf"copied to {tmp_path / 'backups'}/prod/\d{{8}}T\d{{6}}Z\s+1 \(@fake/cp0\)", line), output
    assert "etcdctl and etcdutl 3.6.6 installed" in output, output
    assert not (tmp_path / "backups").exists()  # --dry: nothing copied


def test_the_entry_refuses_without_a_healthy_member(tmp_path: Path) -> None:
    unhealthy = inventory(tmp_path, ONE_PLUS_ONE % (HEALTH % "false"), name="unhealthy")
    result = pyinfra(plan.REPO, tmp_path, str(unhealthy), "deploys/backup.py", "-y", *DATA,
                     "--data", f"backup_dir={tmp_path / 'backups'}")
    output = result.stdout + result.stderr
    assert result.returncode == model.EXIT_INVALID, output
    assert "no control plane has a healthy etcd member (@fake/cp0:" in result.stderr, output
    assert "Traceback" not in output and "Beginning operation run" not in output, output
    assert not (tmp_path / "backups").exists()
