"""Find a cluster's AWS resources by tag: what `up` reuses, `down` deletes and `status` lists."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cloud import spec
from cloud.session import Clients, code

LIVE_STATES = ("pending", "running", "stopping", "stopped")
Resource = dict[str, Any]


@dataclass
class Found:
    """Every resource carrying a cluster's tag, by kind (instances: not terminated)."""

    vpcs: list[Resource] = field(default_factory=list)
    subnets: list[Resource] = field(default_factory=list)
    route_tables: list[Resource] = field(default_factory=list)
    internet_gateways: list[Resource] = field(default_factory=list)
    security_groups: list[Resource] = field(default_factory=list)
    key_pairs: list[Resource] = field(default_factory=list)
    instances: list[Resource] = field(default_factory=list)
    addresses: list[Resource] = field(default_factory=list)
    load_balancers: list[Resource] = field(default_factory=list)
    target_groups: list[Resource] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """How many of each kind."""
        return {kind: len(items) for kind, items in self.__dict__.items()}

    @property
    def empty(self) -> bool:
        return not any(self.counts().values())


def tag_filter(cluster: str) -> list[dict[str, Any]]:
    """The EC2 filter selecting resources tagged for CLUSTER."""
    return [{"Name": f"tag:{spec.TAG_CLUSTER}", "Values": [cluster]}]


def tags_of(resource: Resource) -> dict[str, str]:
    """A resource's tags as a dict."""
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def ec2_tags(cluster: str, name: str, **extra: str) -> list[dict[str, str]]:
    """The tag list of a new resource of CLUSTER."""
    tags = {"Name": name, spec.TAG_CLUSTER: cluster, **extra}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_spec(resource_type: str, cluster: str, name: str, **extra: str) -> list[dict[str, Any]]:
    """TagSpecifications for a create call, so a resource never exists untagged."""
    return [{"ResourceType": resource_type, "Tags": ec2_tags(cluster, name, **extra)}]


def _paged(client: Any, method: str, key: str, **kwargs: Any) -> list[Resource]:
    """Every item of a paginated describe call."""
    items: list[Resource] = []
    for page in client.get_paginator(method).paginate(**kwargs):
        items.extend(page.get(key, []))
    return items


def instances(clients: Clients, cluster: str, states: Iterable[str] = LIVE_STATES) -> list[Resource]:
    """The cluster's instances in STATES, ordered control planes first, then by index."""
    filters = tag_filter(cluster) + [{"Name": "instance-state-name", "Values": list(states)}]
    found = [
        instance
        for reservation in _paged(clients.ec2, "describe_instances", "Reservations", Filters=filters)
        for instance in reservation["Instances"]
    ]
    return sorted(found, key=_instance_order)


def instances_by_id(clients: Clients, ids: list[str]) -> list[Resource]:
    """The instances IDS (right after launch, where a tag filter may not see them yet), in cluster order."""
    found = [
        instance
        for reservation in _paged(clients.ec2, "describe_instances", "Reservations", InstanceIds=ids)
        for instance in reservation["Instances"]
    ]
    return sorted(found, key=_instance_order)


def _instance_order(instance: Resource) -> tuple[int, int, str]:
    tags = tags_of(instance)
    index = tags.get(spec.TAG_INDEX, "")
    return (
        0 if tags.get(spec.TAG_ROLE) == spec.ROLE_CONTROL_PLANE else 1,
        int(index) if index.isdigit() else 1 << 30,
        str(tags.get("Name", instance["InstanceId"])),
    )


def _elb_tagged(clients: Clients, arns: list[str], cluster: str) -> set[str]:
    """The ARNs among ARNS that carry the cluster's tag."""
    tagged: set[str] = set()
    for start in range(0, len(arns), 20):
        described = clients.elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]
        for item in described:
            if tags_of(item).get(spec.TAG_CLUSTER) == cluster:
                tagged.add(item["ResourceArn"])
    return tagged


def load_balancers(clients: Clients, cluster: str) -> list[Resource]:
    """The cluster's load balancers."""
    found = _paged(clients.elbv2, "describe_load_balancers", "LoadBalancers")
    tagged = _elb_tagged(clients, [lb["LoadBalancerArn"] for lb in found], cluster)
    return [lb for lb in found if lb["LoadBalancerArn"] in tagged]


def target_groups(clients: Clients, cluster: str) -> list[Resource]:
    """The cluster's target groups."""
    found = _paged(clients.elbv2, "describe_target_groups", "TargetGroups")
    tagged = _elb_tagged(clients, [tg["TargetGroupArn"] for tg in found], cluster)
    return [tg for tg in found if tg["TargetGroupArn"] in tagged]


def addresses(clients: Clients, cluster: str) -> list[Resource]:
    """The cluster's Elastic IP addresses."""
    return list(clients.ec2.describe_addresses(Filters=tag_filter(cluster))["Addresses"])


def volumes(clients: Clients, instance_ids: list[str]) -> list[Resource]:
    """The EBS volumes attached to INSTANCE_IDS."""
    if not instance_ids:
        return []
    filters = [{"Name": "attachment.instance-id", "Values": instance_ids}]
    return _paged(clients.ec2, "describe_volumes", "Volumes", Filters=filters)


def named(items: list[Resource], key: str, name: str) -> Resource | None:
    """The item of ITEMS whose KEY is NAME (a load balancer or target group of the cluster)."""
    return next((item for item in items if item.get(key) == name), None)


def key_pairs(clients: Clients, cluster: str) -> list[Resource]:
    """The cluster's key pairs."""
    return list(clients.ec2.describe_key_pairs(Filters=tag_filter(cluster))["KeyPairs"])


def key_pair_named(clients: Clients, name: str) -> Resource | None:
    """The key pair called NAME, whoever owns it."""
    try:
        pairs = clients.ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"]
    except ClientError as exc:
        if code(exc) == "InvalidKeyPair.NotFound":
            return None
        raise
    return pairs[0] if pairs else None


def elb_named(clients: Clients, kind: str, name: str) -> Resource | None:
    """The load balancer or target group (KIND) called NAME, whoever owns it."""
    method, key, missing = {
        "load_balancer": ("describe_load_balancers", "LoadBalancers", "LoadBalancerNotFound"),
        "target_group": ("describe_target_groups", "TargetGroups", "TargetGroupNotFound"),
    }[kind]
    try:
        items = getattr(clients.elbv2, method)(Names=[name])[key]
    except ClientError as exc:
        if code(exc) == missing:
            return None
        raise
    return items[0] if items else None


def survey(clients: Clients, cluster: str) -> Found:
    """Everything tagged for CLUSTER in the clients' region."""
    ec2, filters = clients.ec2, tag_filter(cluster)
    return Found(
        vpcs=_paged(ec2, "describe_vpcs", "Vpcs", Filters=filters),
        subnets=_paged(ec2, "describe_subnets", "Subnets", Filters=filters),
        route_tables=_paged(ec2, "describe_route_tables", "RouteTables", Filters=filters),
        internet_gateways=_paged(ec2, "describe_internet_gateways", "InternetGateways", Filters=filters),
        security_groups=_paged(ec2, "describe_security_groups", "SecurityGroups", Filters=filters),
        key_pairs=key_pairs(clients, cluster),
        instances=instances(clients, cluster, LIVE_STATES + ("shutting-down",)),
        addresses=addresses(clients, cluster),
        load_balancers=load_balancers(clients, cluster),
        target_groups=target_groups(clients, cluster),
    )
