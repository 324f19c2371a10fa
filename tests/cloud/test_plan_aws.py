"""Planning the deploy (@fake hosts) with the AWS inventory: the HA cluster goes through the NLB."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("boto3", reason="needs the aws extra (boto3)")
pytest.importorskip("moto.server", reason="needs moto[server] (the test extra)")

from cloud.resources import survey, tags_of
from cloud.session import connect
from tests import plan
from tests.cloud.conftest import REGION, Aws

LB_PARTS = ("HAProxy", "haproxy", "keepalived", "VRRP")


@pytest.fixture()
def private(tmp_path: Path) -> dict[str, str]:
    """Secrets and kubeconfig inside the test's temp dir."""
    return {"secrets_dir": str(tmp_path / "secrets"), "kubeconfig_path": str(tmp_path / "kube" / "admin.conf")}


def aws_plan(
    aws_env: Aws, monkeypatch: pytest.MonkeyPatch, cluster: str, topology: str, private: dict[str, str], *extra: str
) -> plan.Plan:
    """`up` in moto, then the deploy planned against @fake copies of inventories/aws.py's hosts."""
    rc, _, err = aws_env.up(cluster, topology, *extra)
    assert rc == 0, err
    monkeypatch.setenv("AWS_CLUSTER", cluster)
    return plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "aws.py", **private))


def join_endpoint(deployed: plan.Plan, host: str) -> str:
    """The API endpoint HOST's `kubeadm join --config` discovers the cluster through."""
    (join,) = [c for c in deployed.commands(host) if "kubeadm join" in c]
    assert "kubeadm join --config /etc/kubernetes/kubeadm-join.yaml" in join, join
    config = yaml.safe_load(plan.uploads(deployed, host)["/etc/kubernetes/kubeadm-join.yaml"])
    return str(config["discovery"]["bootstrapToken"]["apiServerEndpoint"])


def kubeadm_config(deployed: plan.Plan) -> str:
    """The kubeadm configuration uploaded for `kubeadm init` on the first control plane."""
    host = deployed.cluster.first_control_plane.name.removeprefix("@fake/")
    return plan.uploads(deployed, host)["/etc/kubernetes/kubeadm-config.yaml"].decode()


def test_ha_plan_uses_the_nlb_and_runs_no_haproxy_or_keepalived(
    aws_env: Aws, monkeypatch: pytest.MonkeyPatch, private: dict[str, str]
) -> None:
    deployed = aws_plan(aws_env, monkeypatch, "ha", "3+3", private)
    dns = survey(connect(REGION), "ha").load_balancers[0]["DNSName"]
    assert deployed.cluster.endpoint == f"{dns}:16443"
    assert deployed.cluster.load_balancer == "external" and not deployed.cluster.keepalived
    assert deployed.cluster.setting("calico_encapsulation") == "VXLAN"

    lb_steps = [(name, hosts) for name, hosts in deployed.steps if any(part in name for part in LB_PARTS)]
    assert lb_steps, "the HAProxy/keepalived operations are planned (and skipped)"
    assert all(hosts == [] for _, hosts in lb_steps), lb_steps
    assert not [name for name, _ in deployed.changed if any(part in name for part in LB_PARTS)]
    for host in ("ha-cp0", "ha-cp1", "ha-cp2", "ha-worker0"):
        commands = deployed.commands(host)
        assert not [c for c in commands if "haproxy" in c or "keepalived" in c], host

    config = kubeadm_config(deployed)
    assert f'controlPlaneEndpoint: "{dns}:16443"' in config and f'- "{dns}"' in config  # endpoint + API cert SAN
    assert deployed.hosts_of("kubeadm init") == ["ha-cp0"]
    for host in ("ha-cp1", "ha-cp2", "ha-worker0", "ha-worker1", "ha-worker2"):
        assert join_endpoint(deployed, host) == f"{dns}:16443", host
    assert deployed.hosts_of("Control plane joins") == ["ha-cp1", "ha-cp2"]
    assert deployed.hosts_of("Worker joins") == ["ha-worker0", "ha-worker1", "ha-worker2"]


def test_single_control_plane_plan_joins_its_private_address(
    aws_env: Aws, monkeypatch: pytest.MonkeyPatch, private: dict[str, str]
) -> None:
    deployed = aws_plan(aws_env, monkeypatch, "demo", "1+4", private)
    cp0 = next(i for i in survey(connect(REGION), "demo").instances if tags_of(i)["Name"] == "demo-cp0")
    assert deployed.cluster.endpoint == f"{cp0['PrivateIpAddress']}:6443"
    assert deployed.cluster.node("@fake/demo-cp0").node_ip == cp0["PrivateIpAddress"]
    assert join_endpoint(deployed, "demo-worker3") == f"{cp0['PrivateIpAddress']}:6443"


def test_public_api_plan_puts_the_public_endpoint_in_the_api_certificate(
    aws_env: Aws, monkeypatch: pytest.MonkeyPatch, private: dict[str, str]
) -> None:
    deployed = aws_plan(aws_env, monkeypatch, "ha", "3+3", private, "--public-api")
    balancers = {b["Scheme"]: b["DNSName"] for b in survey(connect(REGION), "ha").load_balancers}
    config = kubeadm_config(deployed)
    assert f'controlPlaneEndpoint: "{balancers["internal"]}:16443"' in config
    assert f'- "{balancers["internet-facing"]}"' in config  # the operator's endpoint is a SAN too
    assert join_endpoint(deployed, "ha-worker0") == f"{balancers['internal']}:16443"
