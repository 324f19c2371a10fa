"""Provisioning against moto on loopback: idempotent `up`, exact rules, inventory, `down`, bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("boto3", reason="needs the aws extra (boto3)")
pytest.importorskip("moto.server", reason="needs moto[server] (the test extra)")
from pyinfra.api import State
from pyinfra.api.exceptions import InventoryError
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from cloud import CloudError, spec
from cloud.resources import survey, tags_of
from cloud.session import connect
from deploys import components, model
from tests.cloud.conftest import OPERATOR_CIDR, REGION, Aws

REPO = Path(__file__).resolve().parents[2]
ONE_SET = {
    "vpcs": 1,
    "subnets": 1,
    "route_tables": 1,
    "internet_gateways": 1,
    "security_groups": 1,
    "key_pairs": 1,
    "instances": 5,
    "addresses": 0,
    "load_balancers": 0,
    "target_groups": 0,
}


def found(cluster: str = "demo") -> Any:
    return survey(connect(REGION), cluster)


def aws_inventory() -> Any:
    """inventories/aws.py loaded the way the pyinfra CLI loads it (with group_data/)."""
    with ctx_state.use(State()):
        return make_inventory(str(REPO / "inventories" / "aws.py"), cwd=str(REPO))


def expected_rules(group_id: str) -> set[tuple[str, int, int, str]]:
    self_rules = {
        ("tcp", 6443, 6443),
        ("tcp", 16443, 16443),
        ("tcp", 2379, 2380),
        ("tcp", 10250, 10250),
        ("tcp", 10257, 10257),
        ("tcp", 10259, 10259),
        ("tcp", 30000, 32767),
        ("udp", 30000, 32767),
        ("udp", 4789, 4789),
        ("tcp", 179, 179),
        ("tcp", 5473, 5473),
    }
    return {(p, lo, hi, group_id) for p, lo, hi in self_rules} | {("tcp", 22, 22, OPERATOR_CIDR)}


def actual_rules(group: dict[str, Any]) -> set[tuple[str, int, int, str]]:
    rules = set()
    for perm in group["IpPermissions"]:
        key = (perm["IpProtocol"], perm.get("FromPort", -1), perm.get("ToPort", -1))
        rules |= {(*key, pair["GroupId"]) for pair in perm.get("UserIdGroupPairs", [])}
        rules |= {(*key, item["CidrIp"]) for item in perm.get("IpRanges", [])}
        rules |= {(*key, item["CidrIpv6"]) for item in perm.get("Ipv6Ranges", [])}
    return rules


# --------------------------------------------------------------------- up


def test_up_twice_creates_one_set(aws_env: Aws) -> None:
    rc, first, err = aws_env.up()
    assert rc == 0, err
    assert any(line.startswith("  created  vpc ") for line in first)
    assert found().counts() == ONE_SET
    before = aws_env.snapshot()

    rc, second, err = aws_env.up()
    assert rc == 0, err
    assert not [line for line in second if "created" in line or "changed" in line], second
    assert "nothing to create: the cluster is up" in second
    assert aws_env.snapshot() == before


def test_instances_tagged_with_cluster_and_role(aws_env: Aws) -> None:
    assert aws_env.up()[0] == 0
    instances = found().instances
    roles = [(tags_of(i)["Name"], tags_of(i)[spec.TAG_ROLE]) for i in instances]
    assert roles == [("demo-cp0", "control-plane")] + [(f"demo-worker{i}", "worker") for i in range(4)]
    for instance in instances:
        assert tags_of(instance)[spec.TAG_CLUSTER] == "demo"
        assert instance["InstanceType"] == "t3.small"
        assert instance["ImageId"] == aws_env.image_id  # from the Debian 12 SSM parameter
        assert instance["KeyName"] == "kubeadm-pyinfra-demo"
        assert instance["PublicIpAddress"] and instance["PrivateIpAddress"].startswith("10.20.0.")
    vpc = found().vpcs[0]
    assert vpc["CidrBlock"] == spec.VPC_CIDR and tags_of(vpc)[spec.TAG_TOPOLOGY] == "1+4"


def test_security_group_holds_exactly_the_cluster_rules(aws_env: Aws) -> None:
    assert aws_env.up()[0] == 0
    (group,) = found().security_groups
    assert actual_rules(group) == expected_rules(group["GroupId"])
    ssh = [p for p in group["IpPermissions"] if p.get("FromPort") == 22]
    assert ssh and not ssh[0]["UserIdGroupPairs"] and [r["CidrIp"] for r in ssh[0]["IpRanges"]] == [OPERATOR_CIDR]


def test_up_resets_drifted_rules(aws_env: Aws) -> None:
    assert aws_env.up()[0] == 0
    (group,) = found().security_groups
    gid = group["GroupId"]
    aws_env.ec2.authorize_security_group_ingress(
        GroupId=gid,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    rules = aws_env.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [gid]}])
    vxlan = [r["SecurityGroupRuleId"] for r in rules["SecurityGroupRules"] if r["FromPort"] == 4789]
    aws_env.ec2.revoke_security_group_ingress(GroupId=gid, SecurityGroupRuleIds=vxlan)
    rc, lines, _ = aws_env.up()
    assert rc == 0
    assert any("revoked tcp 22-22 from 0.0.0.0/0" in line for line in lines)
    assert any("created  rule udp/4789" in line for line in lines)
    assert actual_rules(found().security_groups[0]) == expected_rules(gid)


def test_up_replaces_a_lost_instance_only(aws_env: Aws) -> None:
    assert aws_env.up()[0] == 0
    lost = next(i for i in found().instances if tags_of(i)["Name"] == "demo-worker2")
    aws_env.ec2.terminate_instances(InstanceIds=[lost["InstanceId"]])
    rc, lines, _ = aws_env.up()
    assert rc == 0
    assert [line for line in lines if line.startswith("  created")] == [
        next(line for line in lines if "created  instance" in line and "demo-worker2" in line)
    ]
    assert found().counts() == ONE_SET


def test_ha_up_creates_internal_nlb_16443_to_6443(aws_env: Aws) -> None:
    rc, _, err = aws_env.up("ha", "3+3")
    assert rc == 0, err
    cluster = found("ha")
    assert cluster.counts() == {**ONE_SET, "instances": 6, "load_balancers": 1, "target_groups": 1}
    (balancer,) = cluster.load_balancers
    assert balancer["Type"] == "network" and balancer["Scheme"] == "internal"
    assert balancer["SecurityGroups"] == [cluster.security_groups[0]["GroupId"]]
    (listener,) = aws_env.elbv2.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    (group,) = cluster.target_groups
    assert (listener["Port"], listener["Protocol"]) == (16443, "TCP")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == group["TargetGroupArn"]
    assert (group["Port"], group["Protocol"], group["TargetType"]) == (6443, "TCP", "ip")
    health = aws_env.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])["TargetHealthDescriptions"]
    control_planes = [i for i in cluster.instances if tags_of(i)[spec.TAG_ROLE] == "control-plane"]
    assert {t["Target"]["Id"] for t in health} == {i["PrivateIpAddress"] for i in control_planes}
    attributes = aws_env.elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]
    assert {"Key": "preserve_client_ip.enabled", "Value": "false"} in attributes

    before = aws_env.snapshot()
    rc, again, _ = aws_env.up("ha", "3+3")
    assert rc == 0 and "nothing to create: the cluster is up" in again
    assert not [line for line in again if "created" in line or "changed" in line]
    assert aws_env.snapshot() == before


def test_status_lists_the_cluster(aws_env: Aws) -> None:
    assert aws_env.up("ha", "3+3")[0] == 0
    rc, lines, _ = aws_env.cli("status", "--cluster", "ha")
    text = "\n".join(lines)
    assert rc == 0
    assert "topology 3+3" in text and text.count("  instance ") == 6
    for instance in found("ha").instances:
        assert instance["PublicIpAddress"] in text and instance["PrivateIpAddress"] in text
    assert f"{found('ha').load_balancers[0]['DNSName']}:16443" in text
    assert "cost: about" in text
    rc, lines, _ = aws_env.cli("status", "--cluster", "nosuch")
    assert rc == 0 and "nothing tagged" in lines[0]


# -------------------------------------------------------------- inventory


def test_inventory_groups_and_addresses(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws_env.up()[0] == 0
    monkeypatch.setenv("AWS_CLUSTER", "demo")
    inventory = aws_inventory()
    by_name = {i["Tags"] and tags_of(i)["Name"]: i for i in found().instances}
    assert [h.name for h in inventory.get_group("control_plane")] == ["demo-cp0"]
    assert [h.name for h in inventory.get_group("workers")] == [f"demo-worker{i}" for i in range(4)]
    for host in inventory:
        instance = by_name[host.name]
        assert host.data.ssh_hostname == instance["PublicIpAddress"]
        assert host.data.node_ip == instance["PrivateIpAddress"]
        assert host.data.ssh_user == "admin" and host.data._sudo is True
        assert host.data.calico_encapsulation == "VXLAN"
        assert host.data.node_network == spec.SUBNET_CIDR
        assert host.data.get("control_plane_endpoint") is None
    built = model.build(inventory, components.defaults(), write_secrets=False)
    assert built.name == "demo" and built.load_balancer is None
    assert built.endpoint == f"{by_name['demo-cp0']['PrivateIpAddress']}:6443"


def test_ha_inventory_uses_the_nlb(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    assert aws_env.up("ha", "3+3")[0] == 0
    monkeypatch.setenv("AWS_CLUSTER", "ha")
    inventory = aws_inventory()
    dns = found("ha").load_balancers[0]["DNSName"]
    assert len(inventory.get_group("control_plane")) == 3 and len(inventory.get_group("workers")) == 3
    built = model.build(inventory, components.defaults(), write_secrets=False)
    assert built.load_balancer == "external" and not built.keepalived
    assert built.endpoint == f"{dns}:16443"


def test_inventory_without_cluster_name_or_instances_says_why(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InventoryError, match="set AWS_CLUSTER"):
        aws_inventory()
    monkeypatch.setenv("AWS_CLUSTER", "empty")
    with pytest.raises(InventoryError, match="no instances tagged"):
        aws_inventory()


# ------------------------------------------------------------------- down


def tagged_anywhere(aws_env: Aws, cluster: str) -> list[str]:
    """Every resource still carrying the cluster's tag (terminated instances excepted)."""
    tag = [{"Name": f"tag:{spec.TAG_CLUSTER}", "Values": [cluster]}]
    ec2 = aws_env.ec2
    left = [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]]
    left += [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]]
    left += [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=tag)["RouteTables"]]
    left += [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]]
    left += [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]]
    left += [k["KeyName"] for k in ec2.describe_key_pairs(Filters=tag)["KeyPairs"]]
    left += [v["VolumeId"] for v in ec2.describe_volumes(Filters=tag)["Volumes"]]
    left += [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=tag)["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] != "terminated"
    ]
    arns = [lb["LoadBalancerArn"] for lb in aws_env.elbv2.describe_load_balancers()["LoadBalancers"]]
    arns += [tg["TargetGroupArn"] for tg in aws_env.elbv2.describe_target_groups()["TargetGroups"]]
    if arns:
        for item in aws_env.elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]:
            if tags_of(item).get(spec.TAG_CLUSTER) == cluster:
                left.append(item["ResourceArn"])
    return left


def test_down_leaves_nothing_tagged_and_spares_other_clusters(aws_env: Aws) -> None:
    assert aws_env.up("ha", "3+3")[0] == 0
    assert aws_env.up("other", "1+1")[0] == 0
    assert tagged_anywhere(aws_env, "ha")
    other_before = tagged_anywhere(aws_env, "other")

    rc, lines, err = aws_env.cli("down", "--cluster", "ha")
    assert rc == 0, err
    assert tagged_anywhere(aws_env, "ha") == []
    assert found("ha").empty
    assert any("deleted  load-balancer ha-api" in line for line in lines)
    assert sorted(tagged_anywhere(aws_env, "other")) == sorted(other_before)

    rc, lines, _ = aws_env.cli("down", "--cluster", "ha")
    assert rc == 0 and "nothing tagged" in lines[0] and lines[-1] == "0 resource(s) deleted"
    assert aws_env.cli("down", "--cluster", "other")[0] == 0
    assert tagged_anywhere(aws_env, "other") == []


# -------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--instance-type", "t3.micro"], "t3.micro has 2 vCPU and 1 GiB; kubeadm needs at least 2 vCPU and 2 GiB"),
        (["--instance-type", "t2.small"], "t2.small has 1 vCPU and 2 GiB"),
        (["--instance-type", "m1.small"], "m1.small has 1 vCPU"),  # not in the table: DescribeInstanceTypes
        (["--instance-type", "x9.huge"], "instance type 'x9.huge' does not exist"),
        (["--ssh-cidr", "203.0.113.300/32"], "is not an IPv4 network in CIDR form"),
        (["--ssh-cidr", "203.0.113.7/24"], "has host bits set"),
        (["--ssh-cidr", "everywhere"], "is not an IPv4 network in CIDR form"),
        (["--topology", "2+3"], "odd number of control planes"),
        (["--cluster", "Bad_Name"], "cluster name 'Bad_Name' is invalid"),
        (["--public-key", "/nonexistent/key.pub"], "no such file"),
        (["--ami-parameter", "/nonexistent/parameter"], "AMI parameter /nonexistent/parameter unreadable"),
    ],
)
def test_bad_input_creates_nothing(aws_env: Aws, extra: list[str], message: str) -> None:
    before = aws_env.snapshot()
    rc, lines, err = aws_env.up("demo", "1+4", *extra)
    assert rc == 2 and message in err, err
    assert not [line for line in lines if "created" in line]
    assert aws_env.snapshot() == before
    assert tagged_anywhere(aws_env, "demo") == []


def test_no_region_creates_nothing(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    before = aws_env.snapshot()
    rc, _, err = aws_env.up()
    assert rc == 2 and "no AWS region" in err and "nothing was created" in err
    assert aws_env.snapshot() == before


def test_no_credentials_creates_nothing(aws_env: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    before = aws_env.snapshot()
    rc, _, err = aws_env.up()
    assert rc == 2 and "no AWS credentials" in err
    assert aws_env.snapshot() == before


def test_other_topology_of_existing_cluster_is_refused(aws_env: Aws) -> None:
    assert aws_env.up()[0] == 0
    before = aws_env.snapshot()
    rc, _, err = aws_env.up("demo", "3+3")
    assert rc == 2 and "exists with topology 1+4" in err
    assert aws_env.snapshot() == before


def test_foreign_key_pair_of_the_same_name_is_refused(aws_env: Aws) -> None:
    aws_env.ec2.import_key_pair(KeyName="kubeadm-pyinfra-demo", PublicKeyMaterial=aws_env.public_key.read_bytes())
    before = aws_env.snapshot()
    rc, _, err = aws_env.up()
    assert rc == 2 and "key pair kubeadm-pyinfra-demo exist(s) without the tag" in err
    assert aws_env.snapshot() == before


def test_spec_validation_needs_no_network() -> None:
    assert str(spec.topology("3+3")) == "3+3" and spec.topology("1+4").workers == 4
    assert spec.ssh_cidr("198.51.100.7") == "198.51.100.7/32"
    with pytest.raises(CloudError, match="--ssh-cidr CIDR is required"):
        spec.ssh_cidr(None)
    spec.check_size("t3.small", *spec.INSTANCE_TYPES["t3.small"])
    with pytest.raises(CloudError, match="t3.nano"):
        spec.check_size("t3.nano", *spec.INSTANCE_TYPES["t3.nano"])
