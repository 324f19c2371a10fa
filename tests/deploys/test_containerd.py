"""containerd: config schema follows the installed major version; systemd cgroups; pause image."""

from __future__ import annotations

import tomllib

import pytest

from deploys import containerd
from tests import plan


@pytest.mark.parametrize(("version", "schema"), [("1.6.20~ds1-1", 2), ("1.7.28", 2), ("2.1.4", 3), (None, 2)])
def test_schema_by_major_version(version: str | None, schema: int) -> None:
    assert containerd.config_version(version) == schema


def test_v2_config_for_containerd_1(test_plan: plan.Plan) -> None:
    config = tomllib.loads(plan.uploads(test_plan, "k8s-test-worker0")["/etc/containerd/config.toml"].decode())
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["version"] == 2
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10.1"


def test_v3_config_for_containerd_2(private: dict) -> None:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "package containerd 2.1.4-1 hold ok installed"]}
    inv = plan.fake_inventory([("cp0", {"node_ip": "10.3.0.10"})], [("w0", {"node_ip": "10.3.0.20"})], {**private, "kube_version": "1.31.5"}, responses)
    config = tomllib.loads(plan.uploads(plan.run(inv), "w0")["/etc/containerd/config.toml"].decode())
    assert config["version"] == 3
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runtime["options"]["SystemdCgroup"] is True
    assert config["plugins"]["io.containerd.cri.v1.images"]["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"


def test_restart_only_when_config_changes(test_plan: plan.Plan) -> None:
    commands = test_plan.commands("k8s-test-worker1")
    assert commands.index("systemctl restart containerd") > commands.index("install -m 644 /dev/null /etc/containerd/config.toml")
    assert "apt-mark hold containerd" in commands
