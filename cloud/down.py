"""`down`: delete exactly what carries the cluster's tag, in dependency order."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from functools import partial

from botocore.exceptions import ClientError

from cloud import CloudError, session
from cloud.resources import Found, survey, tags_of
from cloud.session import Clients, code, describe, retry, wait

Echo = Callable[[str], None]
IN_USE = ("DependencyViolation", "ResourceInUse", "InvalidGroup.InUse", "InvalidIPAddress.InUse")
TERMINATE_TIMEOUT = 900.0  # seconds `down` waits for the instances to be terminated
SETTLING = ("shutting-down", "terminated")  # states in which a terminate request has taken


def down(clients: Clients, cluster: str, echo: Echo) -> list[str]:
    """Delete the cluster's resources; one line per deleted resource (empty if there was nothing)."""
    found = survey(clients, cluster)
    if found.empty:
        echo(f"cluster {cluster}: nothing tagged {cluster!r} in {clients.region}")
        return []
    echo(f"cluster {cluster} in {clients.region}: deleting")
    deleted: list[str] = []

    def gone(kind: str, ident: str, note: str = "") -> None:
        line = f"{kind} {ident}" + (f" ({note})" if note else "")
        deleted.append(line)
        echo(f"  deleted  {line}")

    try:
        _delete_load_balancers(clients, found, gone)
        _terminate_instances(clients, found, gone)
        _release_addresses(clients, found, gone)
        _delete_network(clients, found, gone)
    except ClientError as exc:
        raise CloudError(f"AWS refused: {describe(exc)}; `down` again resumes") from None
    return deleted


def _delete_load_balancers(clients: Clients, found: Found, gone: Callable[..., None]) -> None:
    """The NLBs (with their listeners), then their target groups."""
    arns = [lb["LoadBalancerArn"] for lb in found.load_balancers]
    for balancer in found.load_balancers:
        clients.elbv2.delete_load_balancer(LoadBalancerArn=balancer["LoadBalancerArn"])
        gone("load-balancer", balancer["LoadBalancerName"], "and its listeners")
    if arns:
        wait(clients.elbv2, "load_balancers_deleted", LoadBalancerArns=arns)
    for group in found.target_groups:
        retry(partial(clients.elbv2.delete_target_group, TargetGroupArn=group["TargetGroupArn"]), IN_USE)
        gone("target-group", group["TargetGroupName"])


def _terminate_instances(clients: Clients, found: Found, gone: Callable[..., None]) -> None:
    """Terminate the instances (their disks go with them) and wait until they are gone."""
    ids = [i["InstanceId"] for i in found.instances]
    if not ids:
        return
    for instance in found.instances:
        gone("instance", instance["InstanceId"], tags_of(instance).get("Name", ""))
    terminate_and_wait(clients, ids)


def terminate_and_wait(clients: Clients, ids: list[str]) -> None:
    """Ensure IDS are terminated, asking again for any still pending, running, stopping or stopped."""
    # Right after an interrupted `up` some instances are still `pending`, and a stop may be under way
    # (`stopping`): both are failure states of boto3's InstanceTerminated waiter (botocore
    # data/ec2/2016-11-15/waiters-2.json), so the states are polled here, for at most TERMINATE_TIMEOUT s.
    deadline = time.monotonic() + TERMINATE_TIMEOUT
    for attempt in itertools.count():
        states = _states(clients, ids)
        left = [i for i in ids if states.get(i, "terminated") != "terminated"]
        if not left:
            return
        if attempt and time.monotonic() > deadline:
            still = ", ".join(f"{i} ({states.get(i)})" for i in left)
            raise CloudError(f"instances not terminated after {TERMINATE_TIMEOUT:g} s: {still}; `down` again resumes")
        unasked = [i for i in left if states.get(i) not in SETTLING]
        if unasked:
            _terminate(clients, unasked)
        time.sleep(session.POLL_SECONDS)


def _states(clients: Clients, ids: list[str]) -> dict[str, str]:
    """Instance id -> state name (an id AWS no longer lists is absent)."""
    pages = clients.ec2.get_paginator("describe_instances").paginate(Filters=[{"Name": "instance-id", "Values": ids}])
    return {
        instance["InstanceId"]: instance["State"]["Name"]
        for page in pages
        for reservation in page["Reservations"]
        for instance in reservation["Instances"]
    }


def _terminate(clients: Clients, ids: list[str]) -> None:
    """Ask AWS to terminate IDS; an instance in a state that refuses it now is asked again on the next poll."""
    try:
        clients.ec2.terminate_instances(InstanceIds=ids)
    except ClientError as exc:
        if code(exc) != "IncorrectInstanceState":
            raise


def _release_addresses(clients: Clients, found: Found, gone: Callable[..., None]) -> None:
    """Release the Elastic IPs (before the internet gateway: it cannot detach while addresses are mapped)."""
    for address in found.addresses:
        if address.get("AssociationId"):
            _ignore_missing(partial(clients.ec2.disassociate_address, AssociationId=address["AssociationId"]))
        retry(partial(clients.ec2.release_address, AllocationId=address["AllocationId"]), IN_USE)
        gone("elastic-ip", address["PublicIp"])


def _delete_network(clients: Clients, found: Found, gone: Callable[..., None]) -> None:
    """Key pair, security group, route table, subnet, internet gateway, VPC."""
    ec2 = clients.ec2
    for pair in found.key_pairs:
        ec2.delete_key_pair(KeyName=pair["KeyName"])
        gone("key-pair", pair["KeyName"])
    for group in found.security_groups:
        retry(partial(ec2.delete_security_group, GroupId=group["GroupId"]), IN_USE)
        gone("security-group", group["GroupId"], group.get("GroupName", ""))
    for table in found.route_tables:
        for association in table.get("Associations", []):
            if not association.get("Main"):
                _ignore_missing(
                    partial(ec2.disassociate_route_table, AssociationId=association["RouteTableAssociationId"])
                )
        retry(partial(ec2.delete_route_table, RouteTableId=table["RouteTableId"]), IN_USE)
        gone("route-table", table["RouteTableId"])
    for subnet in found.subnets:
        retry(partial(ec2.delete_subnet, SubnetId=subnet["SubnetId"]), IN_USE)
        gone("subnet", subnet["SubnetId"])
    for gateway in found.internet_gateways:
        gid = gateway["InternetGatewayId"]
        for attachment in gateway.get("Attachments", []):
            retry(partial(ec2.detach_internet_gateway, InternetGatewayId=gid, VpcId=attachment["VpcId"]), IN_USE)
        ec2.delete_internet_gateway(InternetGatewayId=gid)
        gone("internet-gateway", gid)
    for vpc in found.vpcs:
        retry(partial(ec2.delete_vpc, VpcId=vpc["VpcId"]), IN_USE)
        gone("vpc", vpc["VpcId"])


def _ignore_missing(call: Callable[[], object]) -> None:
    """Run CALL; a resource that is already gone is fine."""
    try:
        call()
    except ClientError as exc:
        if not code(exc).endswith(".NotFound"):
            raise
