"""deploys/etcd.py: the pinned etcdctl/etcdutl on control planes only, at the cluster's etcd version."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploys import etcd, model
from tests import plan


def run(tmp_path: Path, **data: Any) -> plan.Plan:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0"]}
    cps = [(f"cp{i}", {"node_ip": f"10.0.0.{10 + i}"}) for i in range(3)]
    private = {"secrets_dir": str(tmp_path / "s"), "kubeconfig_path": str(tmp_path / "k.conf"), "vip": "10.0.0.100"}
    return plan.run(plan.fake_inventory(cps, [("w0", {"node_ip": "10.0.0.20"})], {**private, **data}, responses),
                    entry_build=etcd.install)


def test_the_minors_etcd_with_its_pinned_digest(tmp_path: Path) -> None:
    p = run(tmp_path, kube_version="1.35.9")
    assert p.hosts_of("etcdctl and etcdutl 3.6.6 installed") == ["cp0", "cp1", "cp2"]
    assert p.commands("w0") == []
    fetch = next(c for c in p.commands("cp1") if "curl" in c)
    assert "https://github.com/etcd-io/etcd/releases/download/v3.6.6/etcd-v3.6.6-linux-amd64.tar.gz" in fetch
    assert etcd.CHECKSUMS[("3.6.6", "amd64")] in fetch
    install = next(c for c in p.commands("cp1") if "strip-components" in c)
    assert "for b in etcdctl etcdutl; do install -m 755" in install and "/usr/local/bin/$b" in install


def test_the_url_is_a_mirror_knob(tmp_path: Path) -> None:
    p = run(tmp_path, kube_version="1.36.4", etcd_download_url="http://mirror.local/etcd/{version}/etcd-{arch}.tgz")
    assert any("http://mirror.local/etcd/3.6.8/etcd-amd64.tgz" in c for c in p.commands("cp0"))


def test_no_pinned_digest_is_refused_while_planning(tmp_path: Path) -> None:
    # kube 1.37 runs etcd 3.7.0, for which no digest is pinned yet
    with pytest.raises(model.ClusterConfigError, match=r"key 'etcd_sha256': no pinned digest for etcd 3.7.0 on amd64"):
        run(tmp_path)
    p = run(tmp_path, etcd_sha256="c" * 64)
    assert any("c" * 64 in c for c in p.commands("cp2"))


def test_installed_once(tmp_path: Path) -> None:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "done=etcd-3.6.6"]}
    cps = [("cp0", {"node_ip": "10.0.0.10"})]
    private = {"secrets_dir": str(tmp_path / "s"), "kubeconfig_path": str(tmp_path / "k.conf"), "etcd_version": "3.6.6"}
    p = plan.run(plan.fake_inventory(cps, [], private, responses), entry_build=etcd.install)
    assert p.changed == []
