"""Upgrade drills in the lab: two minors under an API availability poll, and an upgrade killed half-way.

Each prints its figures (pytest -s; CI's log keeps them). Needs root and systemd-nspawn; minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from lab import config, core
from lab.sshconf import ssh
from tests.drills.conftest import FIGURES
from tests.labtools import REQUIRES_LAB, changed, deploy, on

pytestmark = REQUIRES_LAB
VIP = "10.77.0.100"
UPGRADE = [config.PYINFRA, "-y", "inventories/lab.py", "deploys/upgrade.py"]
POLL_LOG = "/root/upgrade-poll.log"
# From inside the lab (a worker): one answer every 0.2 s, each line "epoch ok|fail".
POLL = (
    f"nohup sh -c 'while :; do if curl -sk --max-time 1 https://{VIP}:16443/healthz | grep -qx ok; "
    f"then echo \"$(date +%s.%N) ok\"; else echo \"$(date +%s.%N) fail\"; fi; sleep 0.2; done' "
    f">{POLL_LOG} 2>&1 </dev/null & echo $! >/root/upgrade-poll.pid"
)


def figure(line: str) -> None:
    print(f"\n[drill] {line}")
    FIGURES.append(line)


def upgrade(*extra: str) -> str:
    res = subprocess.run([*UPGRADE, *extra], cwd=config.REPO, capture_output=True, text=True, timeout=1800)
    out = res.stdout + res.stderr
    errors = [line for line in out.splitlines() if "rror" in line and "Upgrade |" not in line][:30]
    assert res.returncode == 0, "\n".join(errors) + "\n...\n" + out[-3000:]
    return out


def upgrade_killed_at(marker: str, delay: float) -> str:
    """Start the upgrade, SIGKILL it DELAY seconds after its output shows MARKER; its output."""
    proc = subprocess.Popen(UPGRADE, cwd=config.REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
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
    figure(f"upgrade killed {delay:.1f}s after: {marker.strip()}")
    return "".join(seen)


def kubelet_versions() -> dict[str, str]:
    out = on("lab-cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o "
                        "jsonpath='{range .items[*]}{.metadata.name} {.status.nodeInfo.kubeletVersion}{\"\\n\"}{end}'")
    return dict(line.split() for line in out.splitlines() if line.strip())


def cluster_version() -> str:
    out = on("lab-cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get configmap kubeadm-config "
                        "-o jsonpath='{.data.ClusterConfiguration}'")
    return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("kubernetesVersion:"))


def longest_gap(log: str) -> tuple[float, int, int]:
    """(longest time between two answered polls, polls answered, polls failed)."""
    answered, failed, last, gap = 0, 0, None, 0.0
    for line in log.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        when = float(parts[0])
        if parts[1] == "ok":
            answered += 1
            if last is not None:
                gap = max(gap, when - last)
            last = when
        else:
            failed += 1
    return gap, answered, failed


def test_upgrade_two_minors_under_an_availability_poll() -> None:
    """3+3 at 1.35, upgraded to the default 1.37 while a worker polls the API through the VIP every 0.2 s."""
    core.down()
    core.up("3+3")
    try:
        deploy("--data", "kube_version=1.35.9")
        assert set(kubelet_versions().values()) == {"v1.35.9"}
        on("lab-w3", POLL)
        start = time.monotonic()
        out = upgrade()
        took = time.monotonic() - start
        on("lab-w3", "kill $(cat /root/upgrade-poll.pid)")
        gap, answered, failed = longest_gap(on("lab-w3", f"cat {POLL_LOG}"))
        versions = kubelet_versions()
        figure(f"upgrade 3+3 1.35.9 -> 1.37.1 (two steps) in {took:.0f}s; API polled every 0.2 s through the VIP: "
               f"{answered} answered, {failed} failed, longest gap {gap:.2f}s (floor: no gap over 5 s)")
        assert "cluster 1.35.9 -> 1.37.1 in 2 step(s)" in out, out[-3000:]
        assert set(versions.values()) == {"v1.37.1"} and len(versions) == 6, versions
        assert cluster_version() == "v1.37.1"
        assert gap <= 5.0, f"the API was unanswered for {gap:.2f}s"
        start = time.monotonic()
        again = upgrade()
        assert changed(again) == 0, again[-3000:]
        assert changed(deploy()) == 0
        figure(f"after the upgrade: upgrade.py re-run and cluster.py re-run 0 changes ({time.monotonic() - start:.0f}s)")
    finally:
        assert core.down() == []


def test_killed_upgrade_is_finished_by_the_next_run() -> None:
    """1+2 at 1.36: killed right after `kubeadm upgrade apply`, then during a worker's drain; the re-run finishes."""
    core.down()
    core.up("1+2")
    try:
        deploy("--data", "kube_version=1.36.4")
        upgrade_killed_at("lab-cp1: kubelet, kubectl 1.37.1-1.1", 0.0)
        assert cluster_version() == "v1.37.1"  # applied; the workers not started
        assert kubelet_versions()["lab-w1"] == "v1.36.4"
        upgrade_killed_at("cordon and drain lab-w1", 1.0)
        start = time.monotonic()
        upgrade()
        took = time.monotonic() - start
        assert set(kubelet_versions().values()) == {"v1.37.1"}
        unschedulable = on("lab-cp1", "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes -o "
                                      "jsonpath='{.items[*].spec.unschedulable}'")
        assert "true" not in unschedulable
        assert changed(upgrade()) == 0
        assert changed(deploy()) == 0
        figure(f"upgrade killed after `kubeadm upgrade apply` and during a drain (1+2, 1.36.4 -> 1.37.1): "
               f"the next run finished it in {took:.0f}s; re-runs 0 changes")
    finally:
        assert core.down() == []
