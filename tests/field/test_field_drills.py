"""Drills for any cluster: `make drills INVENTORY=FILE` (DESTRUCTIVE=1 for the disruptive ones).

The same figures as the lab's drills (tests/drills/), measured on the user's own hosts: that is
how real Kubernetes on real machines proves the design where CI cannot.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.field.conftest import figure
from tests.field.probe import REPO, Poller, healthz, run_deploy, vip_holders, wait_until, watcher
from tests.verify import targets

FLOOR = 5.0  # seconds the API may go unanswered through the endpoint (issue floor for failover and upgrade)


def test_api_answers_through_the_endpoint(cluster: targets.Cluster) -> None:
    """Not disruptive: the endpoint answers from a node, polled for a few seconds without a gap."""
    with Poller(watcher(cluster), cluster.model.endpoint) as poll:
        time.sleep(3)
    figure(f"endpoint {cluster.model.endpoint}: longest gap over 3 s of polling {poll.gap():.2f}s")
    assert poll.gap() < 1.0, poll.samples()


@pytest.mark.usefixtures("destructive", "ha")
def test_vip_failover_when_haproxy_stops(cluster: targets.Cluster) -> None:
    """HAProxy stopped on the VIP holder: the VIP moves and the endpoint answers again within the floor."""
    (holder,) = vip_holders(cluster)
    node = cluster.targets[holder]
    with Poller(watcher(cluster, avoid=holder), cluster.model.endpoint) as poll:
        assert node.run("systemctl stop haproxy").rc == 0
        try:
            moved = wait_until(lambda: [h for h in vip_holders(cluster) if h != holder] != [], timeout=30)
            wait_until(lambda: healthz(poll.watcher, cluster.model.endpoint), timeout=30)
            time.sleep(1)
        finally:
            node.run("systemctl start haproxy")
    figure(f"VIP failover: left {holder}, moved in {moved:.2f}s; longest API gap {poll.gap():.2f}s (floor {FLOOR:.0f} s)")
    wait_until(lambda: len(vip_holders(cluster)) == 1, timeout=30)
    assert poll.gap() < FLOOR


@pytest.mark.usefixtures("destructive", "ha")
def test_control_plane_down(cluster: targets.Cluster) -> None:
    """The VIP holder loses its control plane and load balancer (static pods stopped, keepalived and
    HAProxy stopped); the API answers through the endpoint from the others; then it comes back."""
    (holder,) = vip_holders(cluster)
    node = cluster.targets[holder]
    aside = "/etc/kubernetes/drill-manifests"
    down = (f"mkdir -p {aside} && mv /etc/kubernetes/manifests/*.yaml {aside}/ && "
            "systemctl stop keepalived haproxy")
    with Poller(watcher(cluster, avoid=holder), cluster.model.endpoint) as poll:
        assert node.run(down).rc == 0
        try:
            answered = wait_until(lambda: healthz(poll.watcher, cluster.model.endpoint)
                                  and len([h for h in vip_holders(cluster) if h != holder]) == 1, timeout=60)
            time.sleep(2)
        finally:
            node.run(f"mv {aside}/*.yaml /etc/kubernetes/manifests/ && rmdir {aside}; "
                     "systemctl start haproxy keepalived")
    figure(f"control plane {holder} down: API through the endpoint after {answered:.2f}s; "
           f"longest gap {poll.gap():.2f}s")
    back = wait_until(lambda: node.run("curl -sk --max-time 1 https://127.0.0.1:"
                                       f"{cluster.model.apiserver_port}/healthz").stdout == "ok", timeout=300, step=1)
    figure(f"control plane {holder} back: its API server answered {back:.1f}s after its manifests returned")
    assert poll.gap() < FLOOR * 2


def _newest_snapshot(name: str) -> Path:
    """The newest snapshot deploys/backup.py copied to this machine."""
    found = sorted((REPO / "backups" / name).glob("*/*.db"))
    assert found, f"no snapshot under backups/{name}/"
    return found[-1]


def test_backup_is_taken_and_verified(inventory: str, cluster: targets.Cluster) -> None:
    """Not disruptive: deploys/backup.py takes an etcd snapshot and copies it here with its checksums."""
    took, _ = run_deploy(inventory, "backup.py")
    snapshot = _newest_snapshot(cluster.model.name)
    sums = (snapshot.parent / "SHA256SUMS").read_text()
    assert snapshot.name in sums
    assert snapshot.stat().st_mode & 0o077 == 0, "the snapshot holds every secret: 0600"
    figure(f"backup: {snapshot.stat().st_size} bytes snapshot taken, verified and copied in {took:.1f}s")


@pytest.mark.usefixtures("destructive")
def test_backup_then_restore_a_test_namespace(inventory: str, cluster: targets.Cluster) -> None:
    """A namespace's object made before the backup is back after the restore; one made after is gone."""
    ns = f"kpl-drill-{int(time.time())}"
    assert cluster.kubectl(f"create namespace {ns}").rc == 0
    assert cluster.kubectl(f"-n {ns} create configmap before --from-literal=at=backup").rc == 0
    run_deploy(inventory, "backup.py")
    snapshot = _newest_snapshot(cluster.model.name)
    assert cluster.kubectl(f"-n {ns} create configmap after --from-literal=at=restore").rc == 0
    took, _ = run_deploy(inventory, "restore.py", f"snapshot={snapshot}", f"confirm_restore={cluster.model.name}")
    wait_until(lambda: cluster.kubectl(f"-n {ns} get configmap before").rc == 0, timeout=300, step=2)
    figure(f"restore from {snapshot.parent.name}: the API answered with the snapshot's objects after {took:.1f}s")
    assert cluster.kubectl(f"-n {ns} get configmap after").rc != 0, "an object made after the backup survived"
    cluster.kubectl(f"delete namespace {ns} --wait=false")


@pytest.mark.usefixtures("destructive")
def test_upgrade_with_the_api_polled(request: pytest.FixtureRequest, inventory: str,
                                     cluster: targets.Cluster) -> None:
    """deploys/upgrade.py while the endpoint is polled every 0.2 s: time, longest gap, every node at the target."""
    target = request.config.getoption("--upgrade-to") or cluster.model.kube_version
    data = [f"kube_version={target}"] if request.config.getoption("--upgrade-to") else []
    with Poller(watcher(cluster), cluster.model.endpoint) as poll:
        took, _ = run_deploy(inventory, "upgrade.py", *data)
    versions = cluster.kubectl(f"get nodes -o jsonpath='{{.items[*].status.nodeInfo.kubeletVersion}}'")
    figure(f"upgrade to {target}: {took:.1f}s; longest API gap {poll.gap():.2f}s "
           f"({'floor ' + str(int(FLOOR)) + ' s' if cluster.model.keepalived else 'one control plane: no floor'})")
    assert set(versions.stdout.split()) == {f"v{target}"}, versions.stdout
    if cluster.model.keepalived:
        assert poll.gap() < FLOOR
