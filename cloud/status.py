"""`status`: list what exists for a cluster, and what it costs while it runs."""

from __future__ import annotations

from cloud import spec
from cloud.resources import Found, Resource, survey, tags_of, volumes
from cloud.session import Clients


def status(clients: Clients, cluster: str) -> list[str]:
    """Human-readable lines: every resource tagged for CLUSTER, then a cost estimate."""
    found = survey(clients, cluster)
    if found.empty:
        return [f"cluster {cluster}: nothing tagged {cluster!r} in {clients.region}"]
    topology = next((tags_of(v).get(spec.TAG_TOPOLOGY) for v in found.vpcs), None) or "?"
    lines = [f"cluster {cluster} in {clients.region} (topology {topology})"]
    lines += [f"  vpc             {v['VpcId']}  {v.get('CidrBlock', '')}" for v in found.vpcs]
    lines += [f"  subnet          {s['SubnetId']}  {s['CidrBlock']}  {s['AvailabilityZone']}" for s in found.subnets]
    lines += [f"  internet-gw     {g['InternetGatewayId']}" for g in found.internet_gateways]
    lines += [f"  route-table     {t['RouteTableId']}" for t in found.route_tables]
    lines += [f"  security-group  {g['GroupId']}  {g.get('GroupName', '')}" for g in found.security_groups]
    lines += [f"  key-pair        {k['KeyName']}" for k in found.key_pairs]
    lines += [f"  elastic-ip      {a['PublicIp']}  {a.get('InstanceId', 'not associated')}" for a in found.addresses]
    lines += [_instance_line(i) for i in found.instances]
    lines += _load_balancer_lines(clients, found)
    disks = volumes(clients, [i["InstanceId"] for i in found.instances])
    lines.append(cost_line(found, disks))
    return lines


def _instance_line(instance: Resource) -> str:
    """One instance: name, role, type, state, addresses."""
    tags = tags_of(instance)
    return (
        f"  instance        {tags.get('Name', '?'):<16} {tags.get(spec.TAG_ROLE, '?'):<13} "
        f"{instance['InstanceType']:<10} {instance['State']['Name']:<9} "
        f"public {instance.get('PublicIpAddress', '-'):<15} private {instance.get('PrivateIpAddress', '-')}  "
        f"{instance['InstanceId']}"
    )


def _load_balancer_lines(clients: Clients, found: Found) -> list[str]:
    """The NLB: DNS name, state, targets and their health."""
    lines = []
    for balancer in found.load_balancers:
        lines.append(
            f"  load-balancer   {balancer['LoadBalancerName']}  {balancer.get('Scheme', '?')}  "
            f"{balancer['State']['Code']}  "
            f"{balancer['DNSName']}:{spec.API_LB_PORT} -> :{spec.APISERVER_PORT}"
        )
    for group in found.target_groups:
        health = clients.elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
        targets = ", ".join(
            f"{t['Target']['Id']} {t['TargetHealth']['State']}" for t in health["TargetHealthDescriptions"]
        )
        lines.append(f"  target-group    {group['TargetGroupName']}  {targets or 'no targets'}")
    return lines


def hourly_cost(found: Found, disks: list[Resource]) -> float | None:
    """Estimated USD per hour (us-east-1 on-demand prices), None if a type's price is unknown."""
    running = [i for i in found.instances if i["State"]["Name"] in ("pending", "running")]
    total = 0.0
    for instance in running:
        price = spec.HOURLY_USD.get(instance["InstanceType"])
        if price is None:
            return None
        total += price
    return (
        total
        + public_addresses(found, running) * spec.PUBLIC_IPV4_USD_HOUR
        + disk_gib(disks) * spec.GP3_USD_GIB_MONTH / 730
        + spec.NLB_USD_HOUR * len(found.load_balancers)
    )


def public_addresses(found: Found, running: list[Resource]) -> int:
    """Public IPv4 addresses billed: running instances', Elastic IPs, one per zone of an internet-facing NLB."""
    addresses = {i["PublicIpAddress"] for i in running if i.get("PublicIpAddress")}
    addresses |= {a["PublicIp"] for a in found.addresses}
    facing = [b for b in found.load_balancers if b.get("Scheme") == "internet-facing"]
    return len(addresses) + sum(len(b.get("AvailabilityZones", [])) or 1 for b in facing)


def disk_gib(disks: list[Resource]) -> int:
    """The total size of DISKS in GiB (their actual size, whatever --disk-gib was)."""
    return sum(int(disk["Size"]) for disk in disks)


def cost_line(found: Found, disks: list[Resource]) -> str:
    """The estimate as a line of text."""
    cost = hourly_cost(found, disks)
    if cost is None:
        return "  cost: unknown instance type price; see https://aws.amazon.com/ec2/pricing/on-demand/"
    return (
        f"  cost: about {cost:.3f} USD/hour (us-east-1 on-demand: instances, public IPv4 addresses, "
        f"{disk_gib(disks)} GiB of gp3 disks{', NLB' if found.load_balancers else ''}; data transfer extra)"
    )
