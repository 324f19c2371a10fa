"""The kubeadm stand-in's `certs renew all` and the lab's short-lived-certificate switch, host-free."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.lab.test_kubeadm_standin import INIT, Probe, fail_after, kubeadm, node  # noqa: F401 (fixtures)


def _init(kubeadm: Any, node: Probe, tmp_path: Path) -> Path:  # noqa: F811
    config = tmp_path / "kubeadm.yaml"
    config.write_text(INIT.replace("10.77.0.11", "127.0.0.1"))
    fail_after(kubeadm, "kubelet-start")
    flags, args, given = kubeadm.parse(("init",), ["--config", str(config)])
    with pytest.raises(kubeadm.PhaseError):
        kubeadm.cmd_init(flags, args, given, probe=node)
    return config


def _table(kubeadm: Any, capsys: pytest.CaptureFixture[str]) -> str:  # noqa: F811
    capsys.readouterr()
    assert kubeadm.main(["certs", "check-expiration"]) == 0
    return capsys.readouterr().out


def _openssl_text(kubeadm: Any, pem: bytes) -> str:  # noqa: F811
    return kubeadm._openssl("x509", "-noout", "-text", data=pem).decode()


def test_short_lived_then_renewed(kubeadm: Any, node: Probe, tmp_path: Path,  # noqa: F811
                                  capsys: pytest.CaptureFixture[str]) -> None:
    switch = kubeadm.host(kubeadm.CERT_DAYS)
    switch.parent.mkdir(parents=True, exist_ok=True)
    switch.write_text("10\n")
    config = _init(kubeadm, node, tmp_path)
    table = _table(kubeadm, capsys)
    assert re.search(r"^apiserver +\w{3} \d\d, \d{4} \d\d:\d\d UTC +(9|10)d +ca +no$", table, re.M)
    assert re.search(r"^admin.conf +\w{3} \d\d, \d{4} \d\d:\d\d UTC +(9|10)d +ca +no$", table, re.M)
    assert re.search(r"^ca +\w{3} \d\d, \d{4} \d\d:\d\d UTC +9y +no$", table, re.M)  # CAs are not leaf certificates
    pki = kubeadm.host("/etc/kubernetes/pki")
    old_key = (pki / "apiserver.key").read_bytes()
    old_admin = yaml.safe_load(kubeadm.host("/etc/kubernetes/admin.conf").read_text())["users"][0]["user"]
    switch.unlink()
    kubeadm.host("/etc/kubernetes/super-admin.conf").unlink()  # only the init node has it
    capsys.readouterr()
    assert kubeadm.main(["certs", "renew", "all", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "certificate for serving the Kubernetes API renewed" in out
    assert "MISSING! certificate embedded in the kubeconfig file for the super-admin" in out
    assert out.rstrip().endswith("Done renewing certificates. You must restart the kube-apiserver, "
                                 "kube-controller-manager, kube-scheduler and etcd, so that they can use the new "
                                 "certificates.")
    table = _table(kubeadm, capsys)
    assert re.search(r"^apiserver +\w{3} \d\d, \d{4} \d\d:\d\d UTC +36[45]d +ca +no$", table, re.M)
    assert re.search(r"^etcd-peer +\w{3} \d\d, \d{4} \d\d:\d\d UTC +36[45]d +etcd-ca +no$", table, re.M)
    assert re.search(r"^admin.conf +\w{3} \d\d, \d{4} \d\d:\d\d UTC +36[45]d +ca +no$", table, re.M)
    # Same subject, SANs and usages; a new key (renewal.certToConfig, FileRenewer).
    assert (pki / "apiserver.key").read_bytes() != old_key and (pki / "apiserver.key").stat().st_mode & 0o777 == 0o600
    text = _openssl_text(kubeadm, (pki / "apiserver.crt").read_bytes())
    assert "DNS:kubernetes.default.svc.cluster.local" in text and "IP Address:10.77.0.100" in text
    assert "TLS Web Server Authentication" in text
    admin = yaml.safe_load(kubeadm.host("/etc/kubernetes/admin.conf").read_text())["users"][0]["user"]
    assert admin["client-certificate-data"] != old_admin["client-certificate-data"]
    import base64

    subject = _openssl_text(kubeadm, base64.b64decode(admin["client-certificate-data"]))
    assert re.search(r"Subject: O ?= ?kubeadm:cluster-admins, CN ?= ?kubernetes-admin", subject)


def test_renewal_needs_the_ca_key(kubeadm: Any, node: Probe, tmp_path: Path,  # noqa: F811
                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = _init(kubeadm, node, tmp_path)
    kubeadm.host("/etc/kubernetes/pki/ca.key").unlink()
    assert kubeadm.main(["certs", "renew", "all", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "failed to renew certificate admin.conf: certificate authority ca is not present" in err


def test_renew_takes_only_its_flags(kubeadm: Any, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    assert kubeadm.main(["certs", "renew", "all", "--ttl", "1h"]) == 1
    assert "unknown flag: --ttl" in capsys.readouterr().err
