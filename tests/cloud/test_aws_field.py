"""AWS behaviours moto does not enforce, checked on moto or on the requests sent (issue 14).

CPU credits, the API health check, `down` after an interrupted `up`, load balancer names, waiting for
SSH, disk prices, and the operator's access to the API (public endpoint or SSH tunnel).
"""

from __future__ import annotations

import copy
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3", reason="needs the aws extra (boto3)")
pytest.importorskip("moto.server", reason="needs moto[server] (the test extra)")
import yaml
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from cloud import CloudError, down, spec, up
from cloud.resources import survey, tags_of
from cloud.session import connect
from deploys import components, model
from tests.cloud.conftest import OPERATOR_CIDR, REGION, Aws

REPO = Path(__file__).resolve().parents[2]
Sent = list[tuple[str, dict[str, Any]]]


def found(cluster: str) -> Any:
    return survey(connect(REGION), cluster)


def aws_inventory(monkeypatch: pytest.MonkeyPatch, cluster: str) -> Any:
    """inventories/aws.py for CLUSTER, loaded the way the pyinfra CLI loads it."""
    monkeypatch.setenv("AWS_CLUSTER", cluster)
    with ctx_state.use(State()):
        return make_inventory(str(REPO / "inventories" / "aws.py"), cwd=str(REPO))


def launches(sent: Sent) -> list[dict[str, Any]]:
    return [params for operation, params in sent if operation == "RunInstances"]


def ingress(cluster: str) -> set[tuple[str, int, int, str]]:
    """The cluster's security group rules as (protocol, from, to, CIDR or group id)."""
    (group,) = found(cluster).security_groups
    rules = set()
    for perm in group["IpPermissions"]:
        key = (perm["IpProtocol"], perm.get("FromPort", -1), perm.get("ToPort", -1))
        rules |= {(*key, pair["GroupId"]) for pair in perm.get("UserIdGroupPairs", [])}
        rules |= {(*key, item["CidrIp"]) for item in perm.get("IpRanges", [])}
    return rules


def nothing_created(lines: list[str]) -> bool:
    return not [line for line in lines if "created" in line or "changed" in line]


# ------------------------------------------------------------ CPU credits


def test_t3_launches_unlimited_by_default_as_aws_does(aws_env: Aws, sent: Sent) -> None:
    rc, _, err = aws_env.up("demo", "1+1")
    assert rc == 0, err
    assert [p.get("CreditSpecification") for p in launches(sent)] == [{"CpuCredits": "unlimited"}] * 2


def test_cpu_credits_standard_is_an_option(aws_env: Aws, sent: Sent) -> None:
    rc, _, err = aws_env.up("demo", "1+1", "--cpu-credits", "standard")
    assert rc == 0, err
    assert [p.get("CreditSpecification") for p in launches(sent)] == [{"CpuCredits": "standard"}] * 2


def test_non_burstable_type_is_launched_without_credit_option(aws_env: Aws, sent: Sent) -> None:
    rc, _, err = aws_env.up("demo", "1+0", "--instance-type", "m5.large")
    assert rc == 0, err
    (launch,) = launches(sent)
    assert launch["InstanceType"] == "m5.large" and "CreditSpecification" not in launch


def test_cpu_credit_defaults_follow_aws_per_family() -> None:
    assert spec.cpu_credits("t3.small", None) == "unlimited"
    assert spec.cpu_credits("t3a.medium", None) == "unlimited"
    assert spec.cpu_credits("t4g.small", None) == "unlimited"
    assert spec.cpu_credits("t2.medium", None) == "standard"
    assert spec.cpu_credits("m5.large", None) is None
    assert spec.cpu_credits("t3.small", "standard") == "standard"
    with pytest.raises(CloudError, match="m5.large is not one"):
        spec.cpu_credits("m5.large", "unlimited")


def test_cpu_credits_on_a_non_burstable_type_creates_nothing(aws_env: Aws) -> None:
    before = aws_env.snapshot()
    rc, _, err = aws_env.up("demo", "1+1", "--instance-type", "m5.large", "--cpu-credits", "unlimited")
    assert rc == 2 and "--cpu-credits applies to burstable types" in err and "nothing was created" in err
    assert aws_env.snapshot() == before


# ----------------------------------------------------------- health check


def health_check(group: dict[str, Any]) -> dict[str, Any]:
    keys = ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckPath", "HealthCheckIntervalSeconds")
    keys += ("HealthCheckTimeoutSeconds", "HealthyThresholdCount", "UnhealthyThresholdCount")
    return {**{key: group.get(key) for key in keys}, "HttpCode": group.get("Matcher", {}).get("HttpCode")}


READYZ = {
    "HealthCheckProtocol": "HTTPS",
    "HealthCheckPort": "traffic-port",
    "HealthCheckPath": "/readyz",
    "HealthCheckIntervalSeconds": 10,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "HttpCode": "200",
}


def test_api_target_group_checks_https_readyz_on_the_traffic_port(aws_env: Aws) -> None:
    rc, _, err = aws_env.up("ha", "3+3")
    assert rc == 0, err
    (group,) = found("ha").target_groups
    assert (group["Protocol"], group["Port"]) == ("TCP", 6443)
    assert health_check(group) == READYZ


def test_up_moves_an_old_tcp_health_check_to_readyz(aws_env: Aws) -> None:
    assert aws_env.up("ha", "3+3")[0] == 0
    (group,) = found("ha").target_groups
    aws_env.elbv2.modify_target_group(TargetGroupArn=group["TargetGroupArn"], HealthCheckProtocol="TCP")
    assert found("ha").target_groups[0]["HealthCheckProtocol"] == "TCP"
    rc, lines, err = aws_env.up("ha", "3+3")
    assert rc == 0, err
    assert "  changed  target-group ha-api: health check HTTPS /readyz on the API port" in lines
    assert health_check(found("ha").target_groups[0]) == READYZ
    assert nothing_created(aws_env.up("ha", "3+3")[1])


# ---------------------------------------------------- down after bad `up`


@pytest.fixture()
def slow_states(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """Instance id -> how many terminate requests moto ignores for it (an instance still pending/stopping)."""
    from moto.ec2.models.instances import Instance

    ignore: dict[str, int] = {}
    original = Instance.terminate

    def terminate(instance: Instance) -> Any:
        if ignore.get(instance.id, 0) > 0:
            ignore[instance.id] -= 1
            return copy.copy(instance._state)
        return original(instance)

    monkeypatch.setattr(Instance, "terminate", terminate)
    yield ignore


def set_state(instance_id: str, name: str, code: int) -> None:
    """Put a moto instance in state NAME (what AWS shows mid-launch or mid-stop)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ec2.models import ec2_backends

    instance = ec2_backends[DEFAULT_ACCOUNT_ID][REGION].get_instance(instance_id)
    instance._state.name, instance._state.code = name, code


def test_down_right_after_an_interrupted_up_waits_out_pending_and_stopping(
    aws_env: Aws, slow_states: dict[str, int], sent: Sent
) -> None:
    assert aws_env.up("demo", "1+4")[0] == 0
    instances = found("demo").instances
    pending, stopping = instances[1]["InstanceId"], instances[2]["InstanceId"]
    set_state(pending, "pending", 0)
    set_state(stopping, "stopping", 64)
    slow_states.update({pending: 2, stopping: 1})  # they stay so for the first terminate request(s)

    rc, lines, err = aws_env.cli("down", "--cluster", "demo")
    assert rc == 0, err
    assert found("demo").empty
    terminated = [p["InstanceIds"] for op, p in sent if op == "TerminateInstances"]
    assert terminated[0] == [i["InstanceId"] for i in instances]
    assert terminated[1:] == [[pending, stopping], [pending]]  # asked again until they settle
    assert lines[-1] == f"{len([line for line in lines if '  deleted  ' in line])} resource(s) deleted"


def test_down_gives_up_on_an_instance_that_never_terminates(
    aws_env: Aws, slow_states: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aws_env.up("demo", "1+1")[0] == 0
    stuck = found("demo").instances[1]["InstanceId"]
    set_state(stuck, "stopping", 64)
    slow_states[stuck] = 10**6
    monkeypatch.setattr(down, "TERMINATE_TIMEOUT", 0)
    rc, _, err = aws_env.cli("down", "--cluster", "demo")
    assert rc == 2 and f"instances not terminated after 0 s: {stuck} (stopping)" in err
    assert "`down` again resumes" in err


# ---------------------------------------------------- load balancer names


@pytest.mark.parametrize("cluster", ["internal", "internal-b"])
def test_cluster_name_making_a_rejected_nlb_name_creates_nothing(aws_env: Aws, cluster: str) -> None:
    before = aws_env.snapshot()
    rc, lines, err = aws_env.up(cluster, "3+3")
    assert rc == 2 and f"makes the load balancer name '{cluster}-api', which AWS rejects" in err
    assert "nothing was created" in err and nothing_created(lines)
    assert aws_env.snapshot() == before


def test_load_balancer_name_rules() -> None:
    spec.check_elb_name("internalx", "internalx-api")  # only "internal-" is reserved
    for name in ("internal-api", "a" * 33, "-api", "api-", "a_b"):
        with pytest.raises(CloudError, match="which AWS rejects"):
            spec.check_elb_name("x", name)
    assert spec.load_balancer_names("internal", spec.topology("1+4"), public_api=True) == []  # no NLB, no clash
    names = spec.load_balancer_names("a" * 20, spec.topology("3+3"), public_api=True)
    assert names == ["a" * 20 + "-api", "a" * 20 + "-api-public"] and max(map(len, names)) <= 32


# -------------------------------------------------------------------- SSH


def test_up_returns_only_when_ssh_answers_on_every_instance(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: dict[str, int] = {}

    def probe(address: str) -> bool:  # each address answers at its third attempt (sshd starting)
        attempts[address] = attempts.get(address, 0) + 1
        return attempts[address] >= 3

    monkeypatch.setattr(up, "SSH_PROBE", probe)
    rc, lines, err = aws_env.up("demo", "1+4")
    assert rc == 0, err
    addresses = {i["PublicIpAddress"] for i in found("demo").instances}
    assert attempts == {address: 3 for address in addresses}
    assert lines.index("  ssh      answers on all 5 instance(s)") > max(
        i for i, line in enumerate(lines) if "created  instance" in line
    )


def test_up_fails_clearly_when_ssh_never_answers(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(up, "SSH_PROBE", lambda address: False)
    monkeypatch.setattr(up, "SSH_TIMEOUT", 0)
    rc, _, err = aws_env.up("demo", "1+1")
    cp0 = next(i for i in found("demo").instances if tags_of(i)["Name"] == "demo-cp0")
    assert rc == 2 and f"SSH does not answer on demo-cp0 ({cp0['PublicIpAddress']}), demo-worker0" in err
    assert f"is {OPERATOR_CIDR} (--ssh-cidr) the network you connect from?" in err
    assert "`up` again waits again" in err


def test_up_waits_for_ssh_again_on_a_second_run(aws_env: Aws) -> None:
    assert aws_env.up("demo", "1+1")[0] == 0
    aws_env.ssh_probed.clear()
    rc = aws_env.up("demo", "1+1")[0]
    assert rc == 0 and sorted(aws_env.ssh_probed) == sorted(i["PublicIpAddress"] for i in found("demo").instances)


@pytest.fixture()
def loopback_server() -> Iterator[Any]:
    """start(greeting) -> a port on 127.0.0.1 that sends GREETING to every connection."""
    servers: list[socket.socket] = []

    def start(greeting: bytes) -> int:
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen()
        servers.append(server)

        def serve() -> None:
            while True:
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                with connection:
                    connection.sendall(greeting)

        threading.Thread(target=serve, daemon=True).start()
        return int(server.getsockname()[1])

    yield start
    for server in servers:
        server.close()


def test_ssh_probe_reads_an_ssh_banner_on_loopback(loopback_server: Any) -> None:
    assert up.ssh_answers("127.0.0.1", loopback_server(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"), timeout=2)
    assert not up.ssh_answers("127.0.0.1", loopback_server(b"HTTP/1.1 400 Bad Request\r\n\r\n"), timeout=2)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = int(closed.getsockname()[1])  # bound, never listening: connection refused
        assert not up.ssh_answers("127.0.0.1", port, timeout=2)


# ------------------------------------------------------------------ disks


def test_status_prices_disks_at_their_actual_size(aws_env: Aws) -> None:
    assert aws_env.up("demo", "1+4", "--disk-gib", "50")[0] == 0
    sizes = [v["Size"] for v in aws_env.ec2.describe_volumes()["Volumes"]]
    assert sizes.count(50) == 5
    rc, lines, _ = aws_env.cli("status", "--cluster", "demo")
    (cost,) = [line for line in lines if "cost:" in line]
    hourly = 5 * (spec.HOURLY_USD["t3.small"] + spec.PUBLIC_IPV4_USD_HOUR) + 250 * spec.GP3_USD_GIB_MONTH / 730
    assert rc == 0 and f"about {hourly:.3f} USD/hour" in cost and "250 GiB of gp3 disks" in cost


# ------------------------------------------------------------- public API


def test_public_api_single_control_plane_gets_an_elastic_ip(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, lines, err = aws_env.up("demo", "1+4", "--public-api")
    assert rc == 0, err
    cluster = found("demo")
    (address,) = cluster.addresses
    cp0 = next(i for i in cluster.instances if tags_of(i)["Name"] == "demo-cp0")
    assert address["InstanceId"] == cp0["InstanceId"] and cp0["PublicIpAddress"] == address["PublicIp"]
    assert tags_of(address)[spec.TAG_CLUSTER] == "demo"
    assert address["PublicIp"] in aws_env.ssh_probed  # SSH waited for on the address it now has
    assert ("tcp", 6443, 6443, OPERATOR_CIDR) in ingress("demo")
    assert ("tcp", 16443, 16443, OPERATOR_CIDR) not in ingress("demo")
    assert lines[-1] == "then:   python -m cloud.aws kubeconfig --cluster demo --region us-east-1"

    inventory = aws_inventory(monkeypatch, "demo")
    (host,) = inventory.get_group("control_plane")
    assert host.data.ssh_hostname == address["PublicIp"]
    assert host.data.apiserver_cert_sans == [address["PublicIp"]]
    built = model.build(inventory, components.defaults(), write_secrets=False)
    assert built.endpoint == f"{cp0['PrivateIpAddress']}:6443"  # the cluster itself stays private
    assert address["PublicIp"] in built.apiserver_cert_sans

    before = aws_env.snapshot()
    rc, again, _ = aws_env.up("demo", "1+4", "--public-api")
    assert rc == 0 and nothing_created(again) and aws_env.snapshot() == before
    status = "\n".join(aws_env.cli("status", "--cluster", "demo")[1])
    assert f"elastic-ip      {address['PublicIp']}  {cp0['InstanceId']}" in status

    assert aws_env.cli("down", "--cluster", "demo")[0] == 0
    assert aws_env.ec2.describe_addresses()["Addresses"] == [] and found("demo").empty


def test_public_api_ha_adds_an_internet_facing_nlb(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    rc, _, err = aws_env.up("ha", "3+3", "--public-api")
    assert rc == 0, err
    cluster = found("ha")
    balancers = {b["LoadBalancerName"]: b for b in cluster.load_balancers}
    assert {name: b["Scheme"] for name, b in balancers.items()} == {
        "ha-api": "internal",
        "ha-api-public": "internet-facing",
    }
    group_id = cluster.security_groups[0]["GroupId"]
    assert all(b["SecurityGroups"] == [group_id] for b in balancers.values())
    groups = {g["TargetGroupName"]: g for g in cluster.target_groups}
    assert sorted(groups) == ["ha-api", "ha-api-public"]
    assert all(health_check(g) == READYZ for g in groups.values())
    for name, balancer in balancers.items():
        (listener,) = aws_env.elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
        assert (
            listener["Port"] == 16443
            and listener["DefaultActions"][0]["TargetGroupArn"] == groups[name]["TargetGroupArn"]
        )
        health = aws_env.elbv2.describe_target_health(TargetGroupArn=groups[name]["TargetGroupArn"])
        assert len(health["TargetHealthDescriptions"]) == 3
    assert ("tcp", 16443, 16443, OPERATOR_CIDR) in ingress("ha")
    assert ("tcp", 6443, 6443, OPERATOR_CIDR) not in ingress("ha")
    assert cluster.addresses == []

    inventory = aws_inventory(monkeypatch, "ha")
    public_dns = balancers["ha-api-public"]["DNSName"]
    built = model.build(inventory, components.defaults(), write_secrets=False)
    assert built.endpoint == f"{balancers['ha-api']['DNSName']}:16443"  # nodes use the internal NLB
    assert inventory.get_group("control_plane")[0].data.apiserver_cert_sans == [public_dns]
    assert public_dns in built.apiserver_cert_sans

    before = aws_env.snapshot()
    rc, again, _ = aws_env.up("ha", "3+3", "--public-api")
    assert rc == 0 and nothing_created(again) and aws_env.snapshot() == before
    assert aws_env.cli("down", "--cluster", "ha")[0] == 0
    assert found("ha").empty and aws_env.elbv2.describe_load_balancers()["LoadBalancers"] == []


def test_without_public_api_the_api_stays_private(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws_env.up("ha", "3+3")[0] == 0
    assert [b["Scheme"] for b in found("ha").load_balancers] == ["internal"]
    assert not [rule for rule in ingress("ha") if rule[3] == OPERATOR_CIDR and rule[1] != 22]
    host = aws_inventory(monkeypatch, "ha").get_group("control_plane")[0]
    assert host.data.get("apiserver_cert_sans") is None


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ((), ("--public-api",), "exists without a public API endpoint: leave out --public-api"),
        (("--public-api",), (), "exists with a public API endpoint: pass --public-api"),
    ],
)
def test_public_api_cannot_be_switched_on_an_existing_cluster(
    aws_env: Aws, first: tuple[str, ...], second: tuple[str, ...], message: str
) -> None:
    assert aws_env.up("demo", "1+1", *first)[0] == 0
    before = aws_env.snapshot()
    rc, _, err = aws_env.up("demo", "1+1", *second)
    assert rc == 2 and message in err and "nothing was created" in err
    assert aws_env.snapshot() == before


# ------------------------------------------------------------- kubeconfig


def admin_conf(path: Path, server: str) -> dict[str, Any]:
    """An admin.conf as kubeadm writes it (dummy credentials), at PATH."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "demo", "cluster": {"certificate-authority-data": "Q0E=", "server": server}}],
        "contexts": [{"name": "kubernetes-admin@demo", "context": {"cluster": "demo", "user": "kubernetes-admin"}}],
        "current-context": "kubernetes-admin@demo",
        "users": [
            {"name": "kubernetes-admin", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}
        ],
    }
    path.write_text(yaml.safe_dump(config))
    return config


def test_kubeconfig_tunnel_goes_through_ssh_to_the_private_endpoint(aws_env: Aws, tmp_path: Path) -> None:
    assert aws_env.up("ha", "3+3")[0] == 0
    dns = found("ha").load_balancers[0]["DNSName"]
    source, out = tmp_path / "ha.conf", tmp_path / "kube" / "ha-tunnel.conf"
    original = admin_conf(source, f"https://{dns}:16443")
    tunnel = ("kubeconfig", "--cluster", "ha", "--tunnel", "--kubeconfig", str(source), "--out", str(out))
    rc, lines, err = aws_env.cli(*tunnel)
    assert rc == 0, err
    cp0 = next(i for i in found("ha").instances if tags_of(i)["Name"] == "ha-cp0")
    assert f"  ssh -N -L 127.0.0.1:16443:{dns}:16443 admin@{cp0['PublicIpAddress']}" in lines
    written = yaml.safe_load(out.read_text())
    assert written["clusters"][0]["cluster"] == {
        "certificate-authority-data": "Q0E=",
        "server": "https://127.0.0.1:16443",
        "tls-server-name": "kubernetes",  # always in kubeadm's API server certificate
    }
    assert written["users"] == original["users"] and written["contexts"] == original["contexts"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert yaml.safe_load(source.read_text()) == original  # the deploy's copy is left as it is

    rc, lines, _ = aws_env.cli(*tunnel, "--local-port", "8443")
    assert rc == 0 and f"  ssh -N -L 127.0.0.1:8443:{dns}:16443 admin@{cp0['PublicIpAddress']}" in lines
    assert yaml.safe_load(out.read_text())["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:8443"


def test_kubeconfig_public_uses_the_elastic_ip(aws_env: Aws, tmp_path: Path) -> None:
    assert aws_env.up("demo", "1+1", "--public-api")[0] == 0
    (address,) = found("demo").addresses
    cp0 = next(i for i in found("demo").instances if tags_of(i)["Name"] == "demo-cp0")
    source, out = tmp_path / "demo.conf", tmp_path / "demo-public.conf"
    admin_conf(source, f"https://{cp0['PrivateIpAddress']}:6443")
    rc, _, err = aws_env.cli("kubeconfig", "--cluster", "demo", "--kubeconfig", str(source), "--out", str(out))
    assert rc == 0, err
    cluster = yaml.safe_load(out.read_text())["clusters"][0]["cluster"]
    assert cluster["server"] == f"https://{address['PublicIp']}:6443" and "tls-server-name" not in cluster


def test_kubeconfig_public_uses_the_internet_facing_nlb(aws_env: Aws, tmp_path: Path) -> None:
    assert aws_env.up("ha", "3+3", "--public-api")[0] == 0
    public = next(b for b in found("ha").load_balancers if b["Scheme"] == "internet-facing")
    source, out = tmp_path / "ha.conf", tmp_path / "ha-public.conf"
    admin_conf(source, "https://internal.example:16443")
    rc, _, err = aws_env.cli("kubeconfig", "--cluster", "ha", "--kubeconfig", str(source), "--out", str(out))
    assert rc == 0, err
    assert yaml.safe_load(out.read_text())["clusters"][0]["cluster"]["server"] == f"https://{public['DNSName']}:16443"


def test_kubeconfig_says_what_is_missing(aws_env: Aws, tmp_path: Path) -> None:
    assert aws_env.up("demo", "1+1")[0] == 0
    source = tmp_path / "demo.conf"
    rc, _, err = aws_env.cli("kubeconfig", "--cluster", "demo", "--kubeconfig", str(source))
    assert rc == 2 and "no such file; the deploy fetches the admin kubeconfig there" in err
    admin_conf(source, "https://10.20.0.4:6443")
    rc, _, err = aws_env.cli(
        "kubeconfig", "--cluster", "demo", "--kubeconfig", str(source), "--out", str(tmp_path / "x")
    )
    assert rc == 2 and "has no public API endpoint (`up` ran without --public-api): use --tunnel" in err
    assert not (tmp_path / "x").exists()
