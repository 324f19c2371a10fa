"""The pyinfra inventory of a provisioned cluster, discovered by tag (used by inventories/aws.py)."""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import ClientError

from cloud import CloudError, spec
from cloud.resources import Resource, instances, load_balancers, tags_of
from cloud.session import Clients, connect, describe
from deploys.model import CONTROL_PLANE_GROUP, WORKER_GROUP

Host = tuple[str, dict[str, Any]]
GROUPS = {spec.ROLE_CONTROL_PLANE: CONTROL_PLANE_GROUP, spec.ROLE_WORKER: WORKER_GROUP}


def discover(cluster: str | None, region: str | None = None) -> dict[str, list[Host]]:
    """Groups 'control_plane' and 'workers' of CLUSTER's running instances."""
    if not cluster:
        raise CloudError(
            "set AWS_CLUSTER to the cluster's name (and AWS_REGION), e.g. "
            "AWS_CLUSTER=demo AWS_REGION=us-east-1 pyinfra inventories/aws.py deploys/cluster.py"
        )
    try:
        return groups(connect(region), spec.cluster_name(cluster))
    except ClientError as exc:
        raise CloudError(f"AWS refused: {describe(exc)}") from None


def groups(clients: Clients, cluster: str) -> dict[str, list[Host]]:
    """Inventory groups from the instances' role tags; SSH to public, node IP = private address."""
    live = instances(clients, cluster)
    if not live:
        raise CloudError(
            f"no instances tagged {spec.TAG_CLUSTER}={cluster} in {clients.region}: "
            f"run `python -m cloud.aws up --cluster {cluster}` first"
        )
    waiting = [f"{tags_of(i).get('Name', i['InstanceId'])} ({i['State']['Name']})" for i in live if not _ready(i)]
    if waiting:
        raise CloudError(f"not running yet or without a public address: {', '.join(waiting)}; run `up` again")
    data = cluster_data(clients, cluster, live)
    result: dict[str, list[Host]] = {group: [] for group in GROUPS.values()}
    for instance in live:
        tags = tags_of(instance)
        group = GROUPS.get(tags.get(spec.TAG_ROLE, ""))
        if group is None:
            raise CloudError(f"instance {instance['InstanceId']} has no valid {spec.TAG_ROLE} tag")
        result[group].append((tags["Name"], {**host_data(instance), **data}))
    return result


def _ready(instance: Resource) -> bool:
    return instance["State"]["Name"] == "running" and bool(instance.get("PublicIpAddress"))


def host_data(instance: Resource) -> dict[str, Any]:
    """Per-host data: addresses, node name and SSH user."""
    tags = tags_of(instance)
    data: dict[str, Any] = {
        "ssh_hostname": instance["PublicIpAddress"],
        "node_ip": instance["PrivateIpAddress"],
        "node_name": tags["Name"],
        "ssh_user": tags.get(spec.TAG_SSH_USER, spec.DEFAULT_SSH_USER),
    }
    if os.environ.get("AWS_SSH_KEY"):
        data["ssh_key"] = os.path.expanduser(os.environ["AWS_SSH_KEY"])
    return data


def cluster_data(clients: Clients, cluster: str, live: list[Resource]) -> dict[str, Any]:
    """Cluster-wide data: name, node network, Calico VXLAN and, with 3 control planes, the NLB endpoint."""
    subnet_ids = sorted({i["SubnetId"] for i in live if i.get("SubnetId")})
    subnets = clients.ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"] if subnet_ids else []
    data: dict[str, Any] = {"cluster_name": cluster, "calico_encapsulation": spec.CALICO_ENCAPSULATION}
    if len(subnets) == 1:
        data["node_network"] = subnets[0]["CidrBlock"]
    control_planes = [i for i in live if tags_of(i).get(spec.TAG_ROLE) == spec.ROLE_CONTROL_PLANE]
    if len(control_planes) > 1:
        balancers = load_balancers(clients, cluster)
        if not balancers:
            raise CloudError(f"cluster {cluster} has {len(control_planes)} control planes but no NLB: run `up` again")
        data["api_load_balancer"] = "external"
        data["control_plane_endpoint"] = f"{balancers[0]['DNSName']}:{spec.API_LB_PORT}"
    return data
