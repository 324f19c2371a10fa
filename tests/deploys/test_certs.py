"""deploys/certs.py: only due control planes renew, one at a time with a gate; re-run and --dry."""

from __future__ import annotations

import datetime
import subprocess
from typing import Any

import pytest

from deploys import certificates, certs, model
from tests import plan

IPS = {"cp1": "10.0.0.11", "cp2": "10.0.0.12", "cp3": "10.0.0.13", "w1": "10.0.0.21"}
ADMIN = ["mode 600 /etc/kubernetes/admin.conf", "sha1 " + "2" * 40 + "  /etc/kubernetes/admin.conf"]
NOW = datetime.datetime.now(datetime.timezone.utc)


def table(days: float) -> list[str]:
    """`kubeadm certs check-expiration` with leaf certificates expiring in DAYS days."""
    leaf = (NOW + datetime.timedelta(days=days)).strftime("%b %d, %Y %H:%M UTC")
    ca = (NOW + datetime.timedelta(days=3000)).strftime("%b %d, %Y %H:%M UTC")
    return [
        '[check-expiration] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...',
        "",
        "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED",
        f"admin.conf                 {leaf}   {int(days)}d            ca                      no",
        f"apiserver                  {leaf}   {int(days)}d            ca                      no",
        "!MISSING! super-admin.conf",
        "",
        "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED",
        f"ca                      {ca}   8y              no",
    ]


def run(private: dict[str, Any], days: dict[str, float], parked: tuple[str, ...] = (), **data: Any) -> plan.Plan:
    def host(name: str) -> tuple[str, dict[str, Any]]:
        responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "done=kubeadm-join", *ADMIN]}
        if name in days:
            responses["check-expiration"] = table(days[name])
        responses["manifests-parked 2>/dev/null"] = ["2" if name in parked else "0"]
        return name, {"node_ip": IPS[name], "fake_responses": responses}

    inventory = plan.fake_inventory(
        [host(n) for n in ("cp1", "cp2", "cp3")], [host("w1")],
        {"cluster_name": "crt", "vip": "10.0.0.100", "node_network": "10.0.0.0/24", **private, **data},
    )
    return plan.run(inventory, entry_build=certs.run)


def test_only_due_control_planes_renew_then_the_kubeconfig(private: dict[str, Any]) -> None:
    p = run(private, {"cp1": 10, "cp2": 200, "cp3": 29.5})
    assert p.hosts_of("Certificates renewed") == ["cp1", "cp3"]
    script = next(c for c in p.commands("cp1") if "kubeadm certs renew all" in c)
    order = [script.index(part) for part in (
        "kubeadm certs renew all", "mv /etc/kubernetes/manifests/$p.yaml /etc/kubernetes/manifests-parked/",
        "sleep 20", "mv /etc/kubernetes/manifests-parked/$p.yaml /etc/kubernetes/manifests/",
        "https://10.0.0.11:6443/healthz", "https://127.0.0.1:2379/health",
    )]
    assert order == sorted(order)
    for pod in certificates.STATIC_PODS:
        assert pod in script
    # One control plane at a time: the operation is serial.
    meta = next(m for m in p.state.op_meta.values() if any("Certificates renewed" in n for n in m.names))
    assert meta.global_arguments["_serial"] is True
    assert p.index("Certificates renewed") < p.index("Admin kubeconfig")
    assert p.hosts_of("Admin kubeconfig") == ["cp1"]  # admin.conf changed: fetched again


def test_nothing_due_changes_nothing(private: dict[str, Any]) -> None:
    p = run(private, {"cp1": 300, "cp2": 300, "cp3": 300})
    assert p.hosts_of("Certificates renewed") == []
    assert not any("kubeadm certs renew" in c for n in ("cp1", "cp2", "cp3") for c in p.commands(n))


def test_a_run_killed_with_manifests_parked_is_finished(private: dict[str, Any]) -> None:
    p = run(private, {"cp1": 364, "cp2": 364, "cp3": 364}, parked=("cp2",))
    assert p.hosts_of("Certificates renewed") == ["cp2"]


def test_forced(private: dict[str, Any]) -> None:
    p = run(private, {"cp1": 300, "cp2": 300, "cp3": 300}, cert_renew_force=True)
    assert p.hosts_of("Certificates renewed") == ["cp1", "cp2", "cp3"]


def test_threshold_is_a_key(private: dict[str, Any]) -> None:
    p = run(private, {"cp1": 50, "cp2": 300, "cp3": 300}, cert_renew_days=60)
    assert p.hosts_of("Certificates renewed") == ["cp1"]


def test_workers_never_asked(private: dict[str, Any]) -> None:
    p = run(private, {"cp1": 300, "cp2": 300, "cp3": 300})
    assert not any("check-expiration" in c for c in plan.fake_calls(p, "w1"))


@pytest.mark.parametrize("value", [0, 4000, "30", True])
def test_bad_threshold_refused(private: dict[str, Any], value: Any) -> None:
    with pytest.raises(model.ClusterConfigError, match="cert_renew_days"):
        run(private, {}, cert_renew_days=value)


def test_parse_expiration() -> None:
    parsed = certificates.parse_expiration("\n".join(table(10)))
    assert set(parsed) == {"admin.conf", "apiserver", "ca"}
    assert certificates.earliest(parsed)[0] in ("admin.conf", "apiserver")
    assert certificates.parse_expiration("error: open /etc/kubernetes/pki/ca.crt") == {}


def test_the_script_is_valid_shell() -> None:
    assert subprocess.run(["sh", "-n", "-c", certificates.renew_script("10.0.0.11", 6443)]).returncode == 0
