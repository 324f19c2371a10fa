"""The verification checks of the secure defaults, against canned node answers: each can fail."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from deploys import control_plane
from tests import plan
from tests.verify import checks


@dataclass
class Answer:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class FakeTarget:
    """A node answering commands from a table: the first key (in table order) found in the command wins."""

    node: Any
    answers: dict[str, Answer]
    reachable: bool = True
    ran: list[str] = field(default_factory=list)

    def run(self, command: str) -> Answer:
        self.ran.append(command)
        return next((answer for part, answer in self.answers.items() if part in command), Answer(1))


@dataclass
class FakeCluster:
    model: Any
    targets: dict[str, FakeTarget]

    @property
    def first(self) -> FakeTarget:
        return self.targets[self.model.first_control_plane.name]


def cluster(test_plan: plan.Plan, answers: dict[str, Answer]) -> FakeCluster:
    targets = {n.name: FakeTarget(n, answers) for n in test_plan.cluster.nodes}
    return FakeCluster(test_plan.cluster, targets)


def etcd(value: bytes) -> Answer:
    return Answer(stdout=json.dumps({"kvs": [{"value": base64.b64encode(value).decode()}]}))


def test_secret_encrypted_in_etcd_passes_and_the_probe_is_deleted(test_plan: plan.Plan) -> None:
    c = cluster(test_plan, {"apply -f -": Answer(), "kv/range": etcd(b"k8s:enc:secretbox:v1:key-1:\x00\x93..."), "delete": Answer()})
    checks.secrets_encrypted_in_etcd(c)
    assert "delete secret kubeadm-pyinfra-encryption-probe" in c.first.ran[-1]


def test_secret_in_plain_text_fails(test_plan: plan.Plan) -> None:
    value = b'k8s\x00\n\x0c\n\x02v1\x12\x06Secret{"probe":"plaintext-kubeadm-pyinfra-probe"}'
    c = cluster(test_plan, {"apply -f -": Answer(), "kv/range": etcd(value), "delete": Answer()})
    with pytest.raises(AssertionError, match="stored in plain text"):
        checks.secrets_encrypted_in_etcd(c)
    assert "delete secret" in c.first.ran[-1]


def test_files_and_audit_log_on_control_planes(test_plan: plan.Plan) -> None:
    good = {"stat -c %a /etc/kubernetes/encryption/config.yaml": Answer(stdout="600\n"),
            "stat -c %a /etc/kubernetes/audit/policy.yaml": Answer(stdout="600\n"),
            "stat -c %a /etc/kubernetes/encryption": Answer(stdout="700\n"),
            "stat -c %a /etc/kubernetes/audit": Answer(stdout="700\n"),
            control_plane.AUDIT_LOG: Answer(stdout='{"kind":"Event","apiVersion":"audit.k8s.io/v1"}\n')}
    checks.control_planes_encrypt_and_audit(cluster(test_plan, good))
    loose = {**good, "stat -c %a /etc/kubernetes/encryption/config.yaml": Answer(stdout="644\n")}  # same position
    with pytest.raises(AssertionError, match="config.yaml has mode 644, expected 600"):
        checks.control_planes_encrypt_and_audit(cluster(test_plan, loose))
    without_log = {k: v for k, v in good.items() if k != control_plane.AUDIT_LOG}
    with pytest.raises(AssertionError, match="no API audit log"):
        checks.control_planes_encrypt_and_audit(cluster(test_plan, without_log))


def expiration(days: float) -> Answer:
    import datetime

    when = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)).strftime("%b %d, %Y %H:%M UTC")
    return Answer(stdout=f"CERTIFICATE  EXPIRES  RESIDUAL TIME\napiserver                  {when}   {int(days)}d   ca   no\n")


def test_certificates_reported_and_fresh_ones_pass(prod_plan: plan.Plan) -> None:
    c = cluster(prod_plan, {"check-expiration": expiration(300)})
    with pytest.warns(checks.CertificateExpiry, match=r"k8s-master-node0: apiserver expires .* \(29\dd\)") as seen:
        checks.certificates_not_expired(c)
    assert not [w for w in seen if issubclass(w.category, checks.CertificateExpiringSoon)]
    assert all("kubeadm certs check-expiration" in t.ran[0] for n, t in c.targets.items() if "master" in n)
    assert all(not t.ran for n, t in c.targets.items() if "worker" in n)


def test_certificates_expiring_soon_warn(prod_plan: plan.Plan) -> None:
    c = cluster(prod_plan, {"check-expiration": expiration(10)})
    with pytest.warns(checks.CertificateExpiringSoon, match=r"within cert_renew_days=30: k8s-master-node0: apiserver "
                                                            r"expires in 9d.*deploys/certs.py"):
        checks.certificates_not_expired(c)


def test_expired_or_unreadable_certificates_fail(prod_plan: plan.Plan) -> None:
    c = cluster(prod_plan, {"check-expiration": expiration(-1)})
    with pytest.raises(AssertionError, match="certificate apiserver expired on"), pytest.warns(checks.CertificateExpiry):
        checks.certificates_not_expired(c)
    c = cluster(prod_plan, {"check-expiration": Answer(1, "", "error: open /etc/kubernetes/pki/ca.crt")})
    with pytest.raises(AssertionError, match="check-expiration failed: error: open"):
        checks.certificates_not_expired(c)
