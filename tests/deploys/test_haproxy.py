"""HAProxy: the rendered configuration passes `haproxy -c`, checks /healthz, hides the password."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests import plan

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (make deps)")


def check(config: bytes, tmp_path: Path, password: str = "s3cret") -> subprocess.CompletedProcess[str]:
    path = tmp_path / "haproxy.cfg"
    path.write_bytes(config)
    env = {**os.environ, "HAPROXY_STATS_PASSWORD": password}
    return subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, env=env)


def test_config_is_valid_for_haproxy(prod_plan: plan.Plan, tmp_path: Path) -> None:
    for node in prod_plan.cluster.control_planes:
        config = plan.uploads(prod_plan, node.node_name)["/etc/haproxy/haproxy.cfg"]
        result = check(config, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_broken_config_is_rejected(prod_plan: plan.Plan, tmp_path: Path) -> None:
    config = plan.uploads(prod_plan, "k8s-master-node0")["/etc/haproxy/haproxy.cfg"]
    assert check(config.replace(b"balance roundrobin", b"balance roundrobbin"), tmp_path).returncode != 0


def test_backends_health_checked_over_tls(prod_plan: plan.Plan) -> None:
    text = plan.uploads(prod_plan, "k8s-master-node0")["/etc/haproxy/haproxy.cfg"].decode()
    assert "bind *:16443" in text
    for ip in ("192.168.11.220", "192.168.11.221", "192.168.11.222"):
        assert f"{ip}:6443" in text
    assert "http-check send meth GET uri /healthz" in text and "check-ssl" in text


def test_stats_on_loopback_with_generated_password(prod_plan: plan.Plan) -> None:
    uploads = plan.uploads(prod_plan, "k8s-master-node1")
    text = uploads["/etc/haproxy/haproxy.cfg"].decode()
    assert "bind 127.0.0.1:1080" in text and "192.168.11.221:1080" not in text and "*:1080" not in text
    password = prod_plan.cluster.secrets["haproxy_stats_password"]
    assert password not in text and "awesomePassword" not in text
    assert uploads["/etc/haproxy/stats.env"].decode() == f"HAPROXY_STATS_PASSWORD={password}\n"
    commands = " ".join(c for host in ("k8s-master-node1",) for c in prod_plan.commands(host))
    assert password not in commands and "install -m 600 /dev/null /etc/haproxy/stats.env" in commands


def test_not_on_workers_nor_single_control_plane(prod_plan: plan.Plan, test_plan: plan.Plan) -> None:
    assert prod_plan.hosts_of("HAProxy configuration") == ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
    assert test_plan.hosts_of("HAProxy configuration") == []


def test_stats_on_the_node_ip_when_asked(private: dict, tmp_path: Path) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", haproxy_stats_bind="node_ip", **private)
    config = plan.uploads(plan.run(inv), "k8s-master-node2")["/etc/haproxy/haproxy.cfg"]
    assert b"bind 192.168.11.222:1080" in config and b"127.0.0.1:1080" not in config
    assert check(config, tmp_path).returncode == 0
