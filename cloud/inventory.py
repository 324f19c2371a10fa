"""The pyinfra inventory of a provisioned cluster, discovered by tag (used by inventories/aws.py)."""

from __future__ import annotations

import os
from typing import Any

from botocore.exceptions import ClientError

from cloud import CloudError, spec
from cloud.resources import Resource, addresses, instances, load_balancers, tags_of
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
    """Cluster-wide data: name, node network, Calico VXLAN, the internal NLB endpoint (HA), public API SANs."""
    subnet_ids = sorted({i["SubnetId"] for i in live if i.get("SubnetId")})
    subnets = clients.ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"] if subnet_ids else []
    data: dict[str, Any] = {"cluster_name": cluster, "calico_encapsulation": spec.CALICO_ENCAPSULATION}
    if len(subnets) == 1:
        data["node_network"] = subnets[0]["CidrBlock"]
    control_planes = [i for i in live if tags_of(i).get(spec.TAG_ROLE) == spec.ROLE_CONTROL_PLANE]
    balancers = load_balancers(clients, cluster) if len(control_planes) > 1 else []
    if len(control_planes) > 1:
        internal = [b for b in balancers if b.get("Scheme") == "internal"]
        if not internal:
            raise CloudError(f"cluster {cluster} has {len(control_planes)} control planes but no NLB: run `up` again")
        data["api_load_balancer"] = "external"
        data["control_plane_endpoint"] = f"{internal[0]['DNSName']}:{spec.API_LB_PORT}"
    public = public_endpoint(clients, cluster, balancers, single=len(control_planes) == 1)
    if public:
        data["apiserver_cert_sans"] = [public.rsplit(":", 1)[0]]
    return data


def public_endpoint(clients: Clients, cluster: str, balancers: list[Resource], single: bool) -> str | None:
    """HOST:PORT of the operator's API endpoint (--public-api): the public NLB or the control plane's Elastic IP."""
    facing = [b for b in balancers if b.get("Scheme") == "internet-facing"]
    if facing:
        return f"{facing[0]['DNSName']}:{spec.API_LB_PORT}"
    eips = addresses(clients, cluster) if single else []
    return f"{eips[0]['PublicIp']}:{spec.APISERVER_PORT}" if eips else None
