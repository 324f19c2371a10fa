"""keepalived: valid for `keepalived --config-test`, MASTER first, HAProxy checked with systemctl."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deploys import model
from tests import plan

pytestmark = pytest.mark.skipif(shutil.which("keepalived") is None, reason="keepalived not installed (make deps)")


def config_test(p: plan.Plan, host: str, tmp_path: Path, auth: bytes | None = None) -> subprocess.CompletedProcess[str]:
    uploads = plan.uploads(p, host)
    (tmp_path / "auth.conf").write_bytes(auth if auth is not None else uploads["/etc/keepalived/vrrp-auth.conf"])
    conf = uploads["/etc/keepalived/keepalived.conf"].decode().replace("/etc/keepalived/vrrp-auth.conf", str(tmp_path / "auth.conf"))
    (tmp_path / "keepalived.conf").write_text(conf)
    return isolated_config_test(tmp_path / "keepalived.conf", set(re.findall(r"(?:interface|dev) (\S+)", conf)))


def isolated_config_test(path: Path, interfaces: set[str]) -> subprocess.CompletedProcess[str]:
    """`keepalived --config-test` in a network namespace of its own holding exactly INTERFACES.

    keepalived checks that the interfaces exist; the test must not depend on this machine's names.
    """
    links = " && ".join(f"ip link add {name} type veth peer name kplp{i}" for i, name in enumerate(sorted(interfaces)))
    script = f"{links + ' && ' if links else ''}exec keepalived --config-test -f {path}"
    return subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True)


def test_configs_pass_config_test(prod_plan: plan.Plan, tmp_path: Path) -> None:
    for node in prod_plan.cluster.control_planes:
        result = config_test(prod_plan, node.node_name, tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr


def test_bad_auth_include_is_rejected(prod_plan: plan.Plan, tmp_path: Path) -> None:
    assert config_test(prod_plan, "k8s-master-node0", tmp_path, auth=b"auth_typo PASS\n").returncode != 0


def test_master_then_descending_backups(prod_plan: plan.Plan) -> None:
    seen = []
    for node in prod_plan.cluster.control_planes:
        text = plan.uploads(prod_plan, node.node_name)["/etc/keepalived/keepalived.conf"].decode()
        state = re.search(r"state (\w+)", text).group(1)
        priority = int(re.search(r"priority (\d+)", text).group(1))
        seen.append((state, priority))
        assert 'script "/usr/bin/systemctl is-active --quiet haproxy"' in text
        assert "killall" not in text and "pidof" not in text
        assert "192.168.11.230/24 dev eth0" in text and "virtual_router_id 51" in text
    assert seen == [("MASTER", 250), ("BACKUP", 240), ("BACKUP", 230)]


def test_auth_pass_only_in_private_file(prod_plan: plan.Plan) -> None:
    secret = prod_plan.cluster.secrets["keepalived_auth_pass"]
    uploads = plan.uploads(prod_plan, "k8s-master-node2")
    assert secret not in uploads["/etc/keepalived/keepalived.conf"].decode()
    assert uploads["/etc/keepalived/vrrp-auth.conf"].decode() == f"auth_type PASS\nauth_pass {secret}\n"
    assert all(secret not in c for c in prod_plan.commands("k8s-master-node2"))


def test_unicast_peers(private: dict, tmp_path: Path) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", keepalived_unicast=True, **private)
    p = plan.run(inv)
    text = plan.uploads(p, "k8s-master-node1")["/etc/keepalived/keepalived.conf"].decode()
    assert "unicast_src_ip 192.168.11.221" in text
    peers = re.search(r"unicast_peer \{([^}]*)\}", text).group(1).split()
    assert peers == ["192.168.11.220", "192.168.11.222"]
    assert config_test(p, "k8s-master-node1", tmp_path).returncode == 0


def test_interface_autodetected_from_node_ip(private: dict) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", responses=plan.fresh_host("ens18"), **private)
    text = plan.uploads(plan.run(inv), "k8s-master-node0")["/etc/keepalived/keepalived.conf"].decode()
    assert "interface ens18" in text and "dev ens18" in text


def test_explicit_interface_wins(private: dict) -> None:
    cps = [(f"cp{i}", {"node_ip": f"10.2.0.{10 + i}", "keepalived_interface": "bond0"}) for i in range(3)]
    p = plan.run(plan.fake_inventory(cps, [("w0", {"node_ip": "10.2.0.20"})], {"vip": "10.2.0.100", **private}))
    assert "interface bond0" in plan.uploads(p, "cp0")["/etc/keepalived/keepalived.conf"].decode()
    assert isinstance(p.cluster, model.Cluster)
