"""Failure drills in the lab: what the HA design exists for, and a deploy that is cut short.

Each drill prints its figures (pytest -s shows them; CI's log keeps them). Needs root and
systemd-nspawn (python -m lab deps); minutes.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from lab import config, core, state
from lab.sshconf import ssh
from tests.drills.conftest import FIGURES
from tests.labtools import REQUIRES_LAB, assert_verified, changed, deploy, on, verify

pytestmark = REQUIRES_LAB
VIP = "10.77.0.100"
HEALTHZ = f"curl -sk --max-time 1 https://{VIP}:16443/healthz"



def figure(line: str) -> None:
    """Print a drill's figure now (-s) and in the run's summary."""
    print(f"\n[drill] {line}")
    FIGURES.append(line)


def deploy_killed_at(marker: str, delay: float) -> None:
    """Start the deploy, SIGKILL it DELAY seconds after its output shows MARKER."""
    proc = subprocess.Popen(config.DEPLOY, cwd=config.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            time.sleep(delay)
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert any(marker in line for line in seen), "".join(seen)[-4000:]
    figure(f"deploy killed {delay:.1f}s after: {marker}")


def failing(out: str) -> dict[str, set[str]]:
    """host -> failed checks, from the suite's per-host summary."""
    result: dict[str, set[str]] = {}
    for host, checks in re.findall(r"^(\S+)\s+\d+ passed, \d+ failed, \d+ skipped  FAILED: (.+)$", out, re.M):
        result[host] = set(checks.split(", "))
    return result


def vip_holder(control_planes: list[str]) -> list[str]:
    return [cp for cp in control_planes if f" {VIP}/" in ssh(cp, "ip -o -4 addr show", timeout=30).stdout]


def wait_until(condition, timeout: float, step: float = 0.1) -> float:  # type: ignore[no-untyped-def]
    """Seconds until CONDITION() is true; fails after TIMEOUT."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"not within {timeout}s")


@pytest.fixture(scope="module")
def ha_lab():  # type: ignore[no-untyped-def]
    """A converged 3+3 lab for the drills that need the HA shape."""
    core.down()
    core.up("3+3")
    deploy()
    yield [n.name for n in state.load().nodes if n.role == "control_plane"]
    assert core.down() == []


def test_verification_passes_on_converged_cluster(ha_lab: list[str]) -> None:
    code, out = verify()
    assert code == 0, out[-5000:]
    assert re.search(r"^cluster\s+\d+ passed, 0 failed", out, re.M), out[-3000:]


def test_verification_names_what_was_changed_by_hand(ha_lab: list[str]) -> None:
    on("lab-w2", "systemctl stop containerd")
    on("lab-cp2", "sed -i '/server lab-cp3 /d' /etc/haproxy/haproxy.cfg && systemctl restart haproxy")
    code, out = verify()
    assert code != 0
    assert failing(out) == {
        "lab-w2": {"containerd_runs_with_systemd_cgroups"},
        "lab-cp2": {"haproxy_balances_every_control_plane"},
    }, out[-4000:]
    out = deploy()
    assert_verified()


def test_vip_failover_when_haproxy_stops(ha_lab: list[str]) -> None:
    (holder,) = vip_holder(ha_lab)
    watcher = "lab-w1"
    assert on(watcher, HEALTHZ) == "ok"
    on(holder, "systemctl stop haproxy")
    start = time.monotonic()
    moved = wait_until(lambda: vip_holder([cp for cp in ha_lab if cp != holder]) != [], timeout=15)
    answered = wait_until(lambda: ssh(watcher, HEALTHZ, timeout=10).stdout == "ok", timeout=15)
    total = time.monotonic() - start
    figure(f"VIP failover: VIP left {holder} and moved in {moved:.2f}s; "
           f"https://{VIP}:16443/healthz answered again after {total:.2f}s (floor: under 5 s)")
    assert vip_holder(ha_lab) != [holder] and len(vip_holder(ha_lab)) == 1
    assert total < 5.0, f"failover took {total:.2f}s (floor: under 5 s)"
    assert answered >= 0
    on(holder, "systemctl start haproxy")
    wait_until(lambda: vip_holder(ha_lab) == [holder], timeout=20)  # MASTER takes it back
    assert_verified()


def test_control_plane_powered_off(ha_lab: list[str]) -> None:
    (holder,) = vip_holder(ha_lab)
    core.stop_node(holder)
    try:
        took = wait_until(lambda: ssh("lab-w1", HEALTHZ, timeout=10).stdout == "ok"
                          and len(vip_holder([cp for cp in ha_lab if cp != holder])) == 1, timeout=30)
        figure(f"control plane {holder} powered off: VIP and API path answering after {took:.2f}s")
        code, out = verify()
        assert code != 0
        assert failing(out) == {holder: {"test_node_up"}}, out[-4000:]
        assert re.search(rf"^{holder}\s+0 passed, 1 failed", out, re.M), out[-3000:]
    finally:
        core.start_node(holder)
    wait_until(lambda: ssh(holder, "systemctl is-system-running --wait", timeout=120).returncode in (0, 1), 180)
    wait_until(lambda: verify()[0] == 0, timeout=120, step=5)


def test_field_drills_run_against_the_lab_inventory(ha_lab: list[str]) -> None:
    """`make drills INVENTORY=... DESTRUCTIVE=1` (tests/field) works through an inventory alone: the lab's."""
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/field", "--inventory", "inventories/lab.py", "--destructive",
         "-k", "endpoint or vip_failover or control_plane_down", "-s", "-q", "-p", "no:cacheprovider"],
        cwd=config.REPO, capture_output=True, text=True, timeout=900,
    )
    out = res.stdout + res.stderr
    assert res.returncode == 0 and re.search(r"\b3 passed\b", out), out[-5000:]
    for line in re.findall(r"^\[field drill\] (.+)$", out, re.M):
        figure(f"make drills on the lab: {line}")
    assert_verified()


def test_join_after_credentials_expired(ha_lab: list[str]) -> None:
    first = ha_lab[0]
    admin = "--kubeconfig /etc/kubernetes/admin.conf"
    on(first, "kubeadm token list | awk 'NR > 1 {print $1}' | xargs -r kubeadm token delete")
    on(first, f"kubectl {admin} -n kube-system delete secret kubeadm-certs --ignore-not-found")
    assert on(first, "kubeadm token list | awk 'NR > 1'").strip() == ""
    lab = state.load()
    core.up("3+3", workers=lab.workers + 1)
    new = [n.name for n in state.load().nodes if n.name not in {x.name for x in lab.nodes}]
    assert len(new) == 1
    start = time.monotonic()
    deploy("--limit", new[0])
    figure(f"credentials expired: {new[0]} added and joined with --limit in {time.monotonic() - start:.1f}s")
    assert new[0] in on(first, f"kubectl {admin} get nodes")
    assert_verified()


def test_reset_then_deploy_again(ha_lab: list[str]) -> None:
    """deploys/reset.py tears the cluster down (refused without confirmation); a deploy on the same hosts works."""
    reset = [config.PYINFRA, "-y", "inventories/lab.py", "deploys/reset.py"]
    refused = subprocess.run(reset, cwd=config.REPO, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "confirm_reset=lab" in refused.stdout + refused.stderr
    assert on(ha_lab[0], "test -f /etc/kubernetes/admin.conf && echo kept").strip() == "kept"
    start = time.monotonic()
    done = subprocess.run([*reset, "--data", "confirm_reset=lab"], cwd=config.REPO, capture_output=True, text=True,
                          timeout=600)
    took = time.monotonic() - start
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    for node in ha_lab:
        assert on(node, "ls /etc/kubernetes/manifests /var/lib/etcd 2>/dev/null | grep -c yaml || true").strip() == "0"
        assert on(node, "test -e /etc/kubernetes/admin.conf || test -e /var/lib/kubeadm-pyinfra || echo clean").strip() == "clean"
    start = time.monotonic()
    deploy()
    figure(f"reset of the 3+3 cluster in {took:.1f}s; deployed again on the same hosts in {time.monotonic() - start:.1f}s")
    assert_verified()


@pytest.mark.parametrize(
    ("moment", "marker", "delay"),
    [
        ("during package installation", "kubelet, kubeadm, kubectl", 1.0),
        ("between init and joins", "Control plane joins", 0.2),
    ],
)
def test_interrupted_deploy_converges(moment: str, marker: str, delay: float) -> None:
    """A deploy killed half-way: the next run converges and the cluster verifies."""
    core.down()
    core.up("1+4")
    try:
        deploy_killed_at(marker, delay)
        start = time.monotonic()
        deploy()
        figure(f"deploy killed {moment}: the next run converged in {time.monotonic() - start:.1f}s")
        assert_verified()
    finally:
        assert core.down() == []


def deploy_fails(*extra: str) -> str:
    """Run the deploy into the lab expecting it to fail; its output."""
    res = subprocess.run([*config.DEPLOY, *extra], cwd=config.REPO, capture_output=True, text=True, timeout=900)
    assert res.returncode != 0, (res.stdout + res.stderr)[-4000:]
    return res.stdout + res.stderr


FAIL_AFTER = "/etc/kubernetes/standin-fail-after"  # the stand-in kubeadm's switch: exit 1 after that phase


@pytest.mark.parametrize(
    ("node", "phase", "left"),
    [
        # init's kubeconfig phase writes admin.conf before etcd and the API server exist
        ("lab-cp1", "kubeconfig", "/etc/kubernetes/admin.conf"),
        # a control-plane join writes kubelet.conf before its etcd member is added
        ("lab-cp2", "kubelet-start", "/etc/kubernetes/kubelet.conf"),
    ],
)
def test_half_done_kubeadm_is_finished_by_the_next_run(node: str, phase: str, left: str) -> None:
    """kubeadm stopped between phases leaves files; the next run resets the node, runs it again, says so."""
    core.down()
    core.up("3+3")
    try:
        on(node, f"install -d /etc/kubernetes && echo {phase} > {FAIL_AFTER}")
        out = deploy_fails()
        assert on(node, f"test -e {left} && echo left").strip() == "left", out[-3000:]
        on(node, f"rm -f {FAIL_AFTER}")
        start = time.monotonic()
        deploy()
        log = "/var/log/kubeadm-init.log" if node == "lab-cp1" else "/var/log/kubeadm-join.log"
        assert "half-done kubeadm run" in on(node, f"cat {log}")
        figure(f"kubeadm stopped after '{phase}' on {node}: the next run reset it and finished in "
               f"{time.monotonic() - start:.1f}s")
        assert_verified()
        assert deploy_changes() == 0
    finally:
        assert core.down() == []


def deploy_changes() -> int:
    """Run the deploy once more; the number of changes it reports (0 on a converged cluster)."""
    return changed(deploy())


def test_killed_during_a_join_the_next_run_waits_for_it() -> None:
    """The run dies while `kubeadm join` runs on a node: the next run waits for that kubeadm, does not start a second."""
    core.down()
    core.up("1+4")
    try:
        deploy_killed_at("Worker joins", 0.5)
        deploy()
        for worker in ("lab-w1", "lab-w2", "lab-w3", "lab-w4"):
            calls = on(worker, "grep -c 'kubeadm join' /var/log/k8s-standin.log || true").strip()
            preflight = on(worker, "grep -c 'already exists' /var/log/kubeadm-join.log || true").strip()
            assert preflight == "0", f"{worker}: a second kubeadm join hit preflight ({calls} calls)"
        assert_verified()
    finally:
        assert core.down() == []

