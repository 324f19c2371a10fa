"""`pyinfra INVENTORY deploys/cluster.py` with bad input: stopped with exit 2 and a message, wherever it starts.

pyinfra 3.10 reads group_data/ from the current directory and from the inventory's directory
(pyinfra_cli/inventory.py); the check before connecting lives in group_data/all.py, and
deploys/cluster.py checks again before any operation when that folder was not loaded.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from deploys import model
from tests import plan

REPO = plan.REPO
DEPLOY = str(REPO / "deploys" / "cluster.py")
EVEN = '''
control_plane = [("@fake/cp0", {"node_ip": "10.1.0.10", "node_name": "cp0"}),
                 ("@fake/cp1", {"node_ip": "10.1.0.11", "node_name": "cp1"})]
workers = [("@fake/w0", {"node_ip": "10.1.0.20", "node_name": "w0"})]
'''
ONE_PLUS_ONE = '''
control_plane = [("@fake/cp0", {"node_ip": "10.1.0.10", "node_name": "cp0"})]
workers = [("@fake/w0", {"node_ip": "10.1.0.20", "node_name": "w0"})]
'''


def pyinfra(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The pyinfra CLI, as a user starts it, with HOME in a temp dir (secrets land there)."""
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "pyinfra", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120
    )


def inventory(tmp_path: Path, text: str, name: str = "bad", group_data: dict[str, str] | None = None) -> Path:
    """An inventory file of @fake hosts in its own directory, with the repository's group_data/all.py
    and GROUP_DATA files beside it, if given."""
    folder = tmp_path / "inventory"
    folder.mkdir()
    (folder / f"{name}.py").write_text(text)
    if group_data is not None:
        (folder / "group_data").mkdir()
        (folder / "group_data" / "all.py").symlink_to(REPO / "group_data" / "all.py")
        for group, data in group_data.items():
            (folder / "group_data" / f"{group}.py").write_text(data)
    return folder / f"{name}.py"


def stopped_before_connecting(result: subprocess.CompletedProcess[str], *messages: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == model.EXIT_INVALID, output
    for message in messages:
        assert message in result.stderr, output
    assert "Connected" not in output and "Disconnecting" not in output, output
    assert "no host was contacted" in result.stderr and "Traceback" not in output, output
    return output


@pytest.mark.parametrize("extra", [[], ["--limit", "@fake/w0"], ["--dry"]], ids=["plain", "limit", "dry"])
def test_from_the_repository_root(tmp_path: Path, extra: list[str]) -> None:
    bad = inventory(tmp_path, EVEN)
    result = pyinfra(REPO, tmp_path, str(bad), "deploys/cluster.py", "-y", *extra)
    stopped_before_connecting(result, "stacked etcd needs an odd number", "need a shared endpoint")
    assert not (tmp_path / ".config").exists()  # nothing written: no secrets for an invalid model


def test_from_another_directory_with_group_data_beside_the_inventory(tmp_path: Path) -> None:
    bad = inventory(tmp_path, EVEN, group_data={})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = pyinfra(elsewhere, tmp_path, str(bad), DEPLOY, "-y")
    stopped_before_connecting(result, "stacked etcd needs an odd number")
    assert list(elsewhere.iterdir()) == []


def test_from_another_directory_without_group_data_stops_before_any_operation(tmp_path: Path) -> None:
    """Nothing runs before connecting then; the deploy file checks before its first operation."""
    bad = inventory(tmp_path, EVEN)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = pyinfra(elsewhere, tmp_path, str(bad), DEPLOY, "-y")
    output = result.stdout + result.stderr
    assert result.returncode == model.EXIT_INVALID, output
    assert "stacked etcd needs an odd number" in result.stderr
    assert "hosts were contacted, but nothing was changed" in result.stderr
    assert "Beginning operation run" not in output and "Traceback" not in output, output
    assert not (tmp_path / ".config").exists()


def test_a_cluster_whose_group_data_pyinfra_skipped_is_refused(tmp_path: Path) -> None:
    """An inventory named like one of the repository's group data files, started elsewhere."""
    test = inventory(tmp_path, ONE_PLUS_ONE, name="test")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = pyinfra(elsewhere, tmp_path, str(test), DEPLOY, "-y")
    assert result.returncode == model.EXIT_INVALID, result.stdout + result.stderr
    assert f"pyinfra did not load {REPO / 'group_data' / 'test.py'}" in result.stderr
    assert f"--group-data {REPO / 'group_data'}" in result.stderr


def test_a_wrong_type_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    bad = inventory(tmp_path, ONE_PLUS_ONE, group_data={"bad": "cluster_name = 5\npod_cird = '10.0.0.0/8'\n"})
    result = pyinfra(tmp_path, tmp_path, str(bad), DEPLOY, "-y")
    stopped_before_connecting(
        result,
        "key 'cluster_name' = 5 on host '@fake/cp0' (from group data 'bad'): expected a DNS-1123 name",
        "group data 'bad': unknown key 'pod_cird'; did you mean 'pod_cidr'?",
    )
    assert not (tmp_path / "pyinfra-debug.log").exists() and not (REPO / "pyinfra-debug.log").exists()


def test_a_misspelt_host_key_and_a_loopback_ssh_address(tmp_path: Path) -> None:
    text = ONE_PLUS_ONE.replace('"node_ip": "10.1.0.20"', '"nodeip": "10.1.0.20", "ssh_hostname": "127.0.0.1"')
    bad = inventory(tmp_path, text, group_data={})
    result = pyinfra(tmp_path, tmp_path, str(bad), DEPLOY, "-y")
    stopped_before_connecting(
        result,
        "host '@fake/w0': unknown key 'nodeip'; did you mean 'node_ip'?",
        "host '@fake/w0': no 'node_ip' set, so it would be its SSH address 127.0.0.1, a loopback address",
    )


JOINED_AT_1_36 = '''
joined = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": {"/proc/swaps": [
    "iface=eth0", "package kubeadm 1.36.4-1.1 hold ok installed",
    "mode 600 /etc/kubernetes/kubelet.conf", "sha1 " + "1" * 40 + "  /etc/kubernetes/kubelet.conf"]}}
control_plane = [("@fake/cp0", {"node_ip": "10.1.0.10", "node_name": "cp0", **joined})]
workers = [("@fake/w0", {"node_ip": "10.1.0.20", "node_name": "w0", **joined})]
'''


def test_a_version_change_found_while_planning_is_invalid_input_too(tmp_path: Path) -> None:
    running = inventory(tmp_path, JOINED_AT_1_36, name="running")
    result = pyinfra(REPO, tmp_path, str(running), "deploys/cluster.py", "-y")
    output = result.stdout + result.stderr
    assert result.returncode == model.EXIT_INVALID, output
    assert "kubeadm 1.36.4-1.1 is installed on this joined node but kube_version is 1.37.1" in result.stderr
    assert "hosts were contacted, but nothing was changed" in result.stderr
    assert "Traceback" not in output and "Beginning operation run" not in output


FRESH_1_PLUS_1 = '''
fresh = {"fake_delay": 0, "fake_delay_jitter": 0, "fake_responses": {"/proc/swaps": ["iface=eth0"]}}
control_plane = [("@fake/cp0", {"node_ip": "10.1.0.10", "node_name": "cp0", **fresh})]
workers = [("@fake/w0", {"node_ip": "10.1.0.20", "node_name": "w0", **fresh})]
'''


def test_a_limited_deploy_brings_the_first_control_plane_for_the_credentials(tmp_path: Path) -> None:
    """--limit WORKER: the first control plane is connected too (it makes the join credentials), and
    its only operation is that one."""
    limited = inventory(tmp_path, FRESH_1_PLUS_1, name="limited")
    result = pyinfra(REPO, tmp_path, str(limited), "deploys/cluster.py", "--limit", "@fake/w0", "--dry")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"\[@fake/cp0\]\s+Connected", output) and re.search(r"\[@fake/w0\]\s+Connected", output), output
    concerning_cp0 = [line for line in output.splitlines() if "(@fake/cp0)" in line]
    assert len(concerning_cp0) == 1 and "Join credentials made" in concerning_cp0[0], output
    assert "Traceback" not in output, output


def test_a_limited_reset_brings_no_other_host(tmp_path: Path) -> None:
    limited = inventory(tmp_path, FRESH_1_PLUS_1, name="limited")
    result = pyinfra(REPO, tmp_path, str(limited), "deploys/reset.py", "--limit", "@fake/w0", "--dry")
    output = result.stdout + result.stderr
    assert re.search(r"\[@fake/w0\]\s+Connected", output) and "@fake/cp0" not in output, output
