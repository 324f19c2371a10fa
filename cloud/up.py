"""`up`: check everything, then create whatever of the cluster is missing (a second run creates nothing)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from cloud import CloudError, session, spec
from cloud.resources import (
    Found,
    Resource,
    elb_named,
    instances,
    instances_by_id,
    key_pair_named,
    named,
    survey,
    tag_spec,
    tags_of,
)
from cloud.session import Clients, code, describe, retry, wait
from cloud.spec import Rule, Spec

Echo = Callable[[str], None]
SSH_TIMEOUT = 300.0  # seconds `up` waits for SSH to answer on every instance
SSH_CONNECT_TIMEOUT = 5.0
NOT_FOUND = (
    "InvalidVpcID.NotFound",
    "InvalidSubnetID.NotFound",
    "InvalidGroup.NotFound",
    "InvalidInternetGatewayID.NotFound",
    "InvalidRouteTableID.NotFound",
    "InvalidKeyPair.NotFound",
)


@dataclass
class Report:
    """What `up` created or changed, echoed as it goes."""

    echo: Echo
    created: list[str] = field(default_factory=list)

    def made(self, kind: str, ident: str, note: str = "") -> None:
        """Record and print a created resource."""
        line = f"{kind} {ident}" + (f" ({note})" if note else "")
        self.created.append(line)
        self.echo(f"  created  {line}")

    def kept(self, kind: str, ident: str, note: str = "") -> None:
        """Print a resource that already existed."""
        self.echo(f"  exists   {kind} {ident}" + (f" ({note})" if note else ""))

    def changed(self, what: str) -> None:
        """Print a change to an existing resource."""
        self.echo(f"  changed  {what}")


@dataclass(frozen=True)
class Preflight:
    """What the checks learnt: the image, the zone for a new subnet, what exists already."""

    image_id: str
    root_device: str
    zone: str | None
    found: Found


@dataclass(frozen=True)
class Network:
    """The ids a load balancer is placed with: VPC, subnet, security group."""

    vpc_id: str
    subnet_id: str
    group_id: str


# ----------------------------------------------------------------- checks


def preflight(want: Spec, clients: Clients) -> Preflight:
    """Every check that needs AWS (read-only calls), before anything is created."""
    found = survey(clients, want.cluster)
    _check_existing(want, found)
    architectures = _check_instance_type(want, clients)
    image = _image(want, clients)
    if image.get("Architecture") and image["Architecture"] not in architectures:
        raise CloudError(
            f"image {image['ImageId']} is {image['Architecture']} but {want.instance_type} runs "
            f"{'/'.join(architectures)}; nothing was created"
        )
    _check_names(want, clients, found)
    zone = None if found.subnets else _zone(want, clients)
    return Preflight(image["ImageId"], image.get("RootDeviceName") or "/dev/xvda", zone, found)


def _check_existing(want: Spec, found: Found) -> None:
    """An existing cluster of that name must have the requested topology."""
    if len(found.vpcs) > 1:
        ids = ", ".join(v["VpcId"] for v in found.vpcs)
        raise CloudError(f"cluster {want.cluster!r} has {len(found.vpcs)} VPCs ({ids}); run `down` first")
    if found.vpcs:
        tags = tags_of(found.vpcs[0])
        existing = tags.get(spec.TAG_TOPOLOGY)
        if existing and existing != str(want.topology):
            raise CloudError(
                f"cluster {want.cluster!r} exists with topology {existing}, not {want.topology}: "
                f"pass --topology {existing}, or run `down` first; nothing was created"
            )
        public = tags.get(spec.TAG_PUBLIC_API) == "true"
        if public != want.public_api:
            raise CloudError(
                f"cluster {want.cluster!r} exists {'with' if public else 'without'} a public API endpoint: "
                f"{'pass' if public else 'leave out'} --public-api, or run `down` first (the API server's "
                "certificate names its endpoints once, at the first deploy); nothing was created"
            )


def _check_instance_type(want: Spec, clients: Clients) -> tuple[str, ...]:
    """The type's architectures; CloudError if it is unknown or too small for a control plane."""
    if spec.known_size(want.instance_type):
        return ("x86_64",)
    try:
        described = clients.ec2.describe_instance_types(InstanceTypes=[want.instance_type])["InstanceTypes"]
    except ClientError as exc:
        if code(exc) in ("InvalidInstanceType", "InvalidParameterValue"):
            raise CloudError(
                f"instance type {want.instance_type!r} does not exist in {clients.region}; nothing was created"
            ) from None
        raise
    if not described:
        raise CloudError(
            f"instance type {want.instance_type!r} does not exist in {clients.region}; nothing was created"
        )
    info = described[0]
    spec.check_size(want.instance_type, int(info["VCpuInfo"]["DefaultVCpus"]), int(info["MemoryInfo"]["SizeInMiB"]))
    return tuple(info.get("ProcessorInfo", {}).get("SupportedArchitectures", ["x86_64"]))


def _image(want: Spec, clients: Clients) -> Resource:
    """The AMI: --ami, else the value of the public SSM parameter (Debian 12 by default)."""
    image_id = want.ami
    if image_id is None:
        try:
            image_id = clients.ssm.get_parameter(Name=want.ami_parameter)["Parameter"]["Value"]
        except ClientError as exc:
            raise CloudError(
                f"AMI parameter {want.ami_parameter} unreadable in {clients.region} ({describe(exc)}); "
                "pass --ami-parameter or --ami; nothing was created"
            ) from None
    try:
        images = clients.ec2.describe_images(ImageIds=[image_id])["Images"]
    except ClientError as exc:
        raise CloudError(f"AMI {image_id}: {describe(exc)}; nothing was created") from None
    if not images:
        raise CloudError(f"AMI {image_id} not found in {clients.region}; nothing was created")
    return dict(images[0])


def _check_names(want: Spec, clients: Clients, found: Found) -> None:
    """Names `up` would create must not belong to something outside the cluster."""
    taken: list[str] = []
    if not found.key_pairs and key_pair_named(clients, want.key_name):
        taken.append(f"key pair {want.key_name}")
    for name in spec.load_balancer_names(want.cluster, want.topology, want.public_api):
        if not named(found.load_balancers, "LoadBalancerName", name) and elb_named(clients, "load_balancer", name):
            taken.append(f"load balancer {name}")
        if not named(found.target_groups, "TargetGroupName", name) and elb_named(clients, "target_group", name):
            taken.append(f"target group {name}")
    if taken:
        raise CloudError(
            f"{', '.join(taken)} exist(s) without the tag {spec.TAG_CLUSTER}={want.cluster}: delete or rename "
            "them, or choose another --cluster; nothing was created"
        )


def _zone(want: Spec, clients: Clients) -> str:
    """The first availability zone of the region that offers the instance type."""
    offered = clients.ec2.describe_instance_type_offerings(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": [want.instance_type]}]
    )["InstanceTypeOfferings"]
    zones = clients.ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )["AvailabilityZones"]
    usable = sorted({o["Location"] for o in offered} & {z["ZoneName"] for z in zones})
    if not usable:
        raise CloudError(f"no availability zone of {clients.region} offers {want.instance_type}; nothing was created")
    return str(usable[0])


# ------------------------------------------------------------------ build


def up(want: Spec, clients: Clients, echo: Echo) -> list[str]:
    """Create what is missing and wait for SSH on every instance; the created resources, one line each."""
    try:
        checked = preflight(want, clients)
    except ClientError as exc:
        raise CloudError(f"AWS refused a check: {describe(exc)}; nothing was created") from None
    echo(f"cluster {want.cluster} ({want.topology}, {want.instance_type}) in {clients.region}")
    report = Report(echo)
    try:
        vpc = ensure_vpc(want, clients, checked.found, report)
        gateway = ensure_internet_gateway(want, clients, checked.found, vpc, report)
        subnet = ensure_subnet(want, clients, checked, vpc, report)
        ensure_route_table(want, clients, checked.found, vpc, subnet, gateway, report)
        group = ensure_security_group(want, clients, checked.found, vpc, report)
        ensure_key_pair(want, clients, checked.found, report)
        nodes = ensure_instances(want, clients, checked, subnet, group, report)
        control_planes = [n for n in nodes if tags_of(n).get(spec.TAG_ROLE) == spec.ROLE_CONTROL_PLANE]
        network = Network(vpc, subnet, group)
        if want.topology.ha:
            ensure_api_load_balancer(want, clients, checked.found, network, control_planes, report, public=False)
            if want.public_api:
                ensure_api_load_balancer(want, clients, checked.found, network, control_planes, report, public=True)
        elif want.public_api:
            ensure_elastic_ip(want, clients, checked.found, control_planes[0], report)
            nodes = instances_by_id(clients, [n["InstanceId"] for n in nodes])
    except ClientError as exc:
        made = f"; created so far: {len(report.created)}" if report.created else ""
        raise CloudError(f"AWS refused: {describe(exc)}{made}. `up` again resumes, `down` removes it all") from None
    wait_for_ssh(want, nodes, echo)
    return report.created


def ensure_vpc(want: Spec, clients: Clients, found: Found, report: Report) -> str:
    """The cluster's VPC, with DNS hostnames on."""
    if found.vpcs:
        vpc_id = str(found.vpcs[0]["VpcId"])
        report.kept("vpc", vpc_id, found.vpcs[0].get("CidrBlock", ""))
        return vpc_id
    extra = {spec.TAG_TOPOLOGY: str(want.topology), spec.TAG_PUBLIC_API: str(want.public_api).lower()}
    tags = tag_spec("vpc", want.cluster, f"{want.cluster}-vpc", **extra)
    vpc_id = str(clients.ec2.create_vpc(CidrBlock=spec.VPC_CIDR, TagSpecifications=tags)["Vpc"]["VpcId"])
    report.made("vpc", vpc_id, spec.VPC_CIDR)
    wait(clients.ec2, "vpc_available", VpcIds=[vpc_id])
    for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
        retry(partial(clients.ec2.modify_vpc_attribute, VpcId=vpc_id, **{attribute: {"Value": True}}), NOT_FOUND)
    return vpc_id


def ensure_internet_gateway(want: Spec, clients: Clients, found: Found, vpc_id: str, report: Report) -> str:
    """The cluster's internet gateway, attached to its VPC."""
    if found.internet_gateways:
        gateway = found.internet_gateways[0]
        gateway_id = str(gateway["InternetGatewayId"])
        report.kept("internet-gateway", gateway_id)
        attached = {a["VpcId"] for a in gateway.get("Attachments", [])}
    else:
        tags = tag_spec("internet-gateway", want.cluster, f"{want.cluster}-igw")
        gateway_id = str(
            clients.ec2.create_internet_gateway(TagSpecifications=tags)["InternetGateway"]["InternetGatewayId"]
        )
        report.made("internet-gateway", gateway_id)
        attached = set()
    if vpc_id not in attached:
        retry(lambda: clients.ec2.attach_internet_gateway(InternetGatewayId=gateway_id, VpcId=vpc_id), NOT_FOUND)
        report.changed(f"internet-gateway {gateway_id} attached to {vpc_id}")
    return gateway_id


def ensure_subnet(want: Spec, clients: Clients, checked: Preflight, vpc_id: str, report: Report) -> str:
    """The cluster's one subnet (one zone: nodes and the NLB)."""
    existing = [s for s in checked.found.subnets if s["VpcId"] == vpc_id]
    if existing:
        report.kept("subnet", existing[0]["SubnetId"], f"{existing[0]['CidrBlock']} {existing[0]['AvailabilityZone']}")
        return str(existing[0]["SubnetId"])
    tags = tag_spec("subnet", want.cluster, f"{want.cluster}-subnet")
    zone = {"AvailabilityZone": checked.zone} if checked.zone else {}
    subnet = retry(
        lambda: clients.ec2.create_subnet(VpcId=vpc_id, CidrBlock=spec.SUBNET_CIDR, TagSpecifications=tags, **zone),
        NOT_FOUND,
    )["Subnet"]
    report.made("subnet", subnet["SubnetId"], f"{spec.SUBNET_CIDR} {subnet.get('AvailabilityZone', '')}")
    wait(clients.ec2, "subnet_available", SubnetIds=[subnet["SubnetId"]])
    return str(subnet["SubnetId"])


def ensure_route_table(
    want: Spec, clients: Clients, found: Found, vpc_id: str, subnet_id: str, gateway_id: str, report: Report
) -> str:
    """The subnet's route table, with the default route through the internet gateway."""
    existing = [t for t in found.route_tables if t["VpcId"] == vpc_id]
    if existing:
        table = existing[0]
        report.kept("route-table", table["RouteTableId"])
    else:
        tags = tag_spec("route-table", want.cluster, f"{want.cluster}-routes")
        table = retry(lambda: clients.ec2.create_route_table(VpcId=vpc_id, TagSpecifications=tags), NOT_FOUND)[
            "RouteTable"
        ]
        report.made("route-table", table["RouteTableId"])
    table_id = str(table["RouteTableId"])
    if subnet_id not in {a.get("SubnetId") for a in table.get("Associations", [])}:
        retry(lambda: clients.ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet_id), NOT_FOUND)
        report.changed(f"route-table {table_id} associated with {subnet_id}")
    default = [r for r in table.get("Routes", []) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    route = {"RouteTableId": table_id, "DestinationCidrBlock": "0.0.0.0/0", "GatewayId": gateway_id}
    if not default:
        retry(lambda: clients.ec2.create_route(**route), NOT_FOUND)
        report.changed(f"route-table {table_id}: 0.0.0.0/0 -> {gateway_id}")
    elif default[0].get("GatewayId") != gateway_id or default[0].get("State") == "blackhole":
        clients.ec2.replace_route(**route)
        report.changed(f"route-table {table_id}: 0.0.0.0/0 -> {gateway_id} (replaced)")
    return table_id


def ensure_security_group(want: Spec, clients: Clients, found: Found, vpc_id: str, report: Report) -> str:
    """The nodes' security group, holding exactly the cluster's ingress rules."""
    existing = [g for g in found.security_groups if g["VpcId"] == vpc_id]
    if existing:
        group = existing[0]
        report.kept("security-group", group["GroupId"], group["GroupName"])
    else:
        name = f"{want.cluster}-nodes"
        tags = tag_spec("security-group", want.cluster, name)
        created = retry(
            lambda: clients.ec2.create_security_group(
                GroupName=name,
                Description=f"kubeadm-pyinfra cluster {want.cluster}",
                VpcId=vpc_id,
                TagSpecifications=tags,
            ),
            NOT_FOUND,
        )
        group = {"GroupId": created["GroupId"]}
        report.made("security-group", created["GroupId"], name)
    rules = spec.cluster_rules(want.ssh_cidr, want.public_api_port)
    reconcile_rules(clients, str(group["GroupId"]), rules, report)
    return str(group["GroupId"])


RuleKey = tuple[str, int, int, str]


def rule_key(rule: Rule) -> RuleKey:
    """A comparable key: (protocol, from, to, CIDR or 'self')."""
    return (rule.protocol, rule.from_port, rule.to_port, rule.cidr or "self")


def current_rules(clients: Clients, group_id: str) -> dict[RuleKey, str]:
    """The group's ingress rules as key -> security group rule id."""
    rules = clients.ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    found: dict[RuleKey, str] = {}
    for rule in rules["SecurityGroupRules"]:
        if rule.get("IsEgress"):
            continue
        referenced = rule.get("ReferencedGroupInfo", {}).get("GroupId")
        source = (
            rule.get("CidrIpv4")
            or rule.get("CidrIpv6")
            or (f"prefix-list:{rule['PrefixListId']}" if rule.get("PrefixListId") else None)
            or ("self" if referenced == group_id else f"group:{referenced}")
        )
        key = (str(rule["IpProtocol"]), int(rule.get("FromPort", -1)), int(rule.get("ToPort", -1)), source)
        found[key] = str(rule["SecurityGroupRuleId"])
    return found


def permission(group_id: str, rule: Rule) -> Resource:
    """The IpPermission that grants RULE."""
    base: Resource = {"IpProtocol": rule.protocol, "FromPort": rule.from_port, "ToPort": rule.to_port}
    if rule.cidr:
        return {**base, "IpRanges": [{"CidrIp": rule.cidr, "Description": rule.description}]}
    return {**base, "UserIdGroupPairs": [{"GroupId": group_id, "Description": rule.description}]}


def reconcile_rules(clients: Clients, group_id: str, wanted: tuple[Rule, ...], report: Report) -> None:
    """Authorize missing rules, revoke rules that are not wanted."""
    have = retry(lambda: current_rules(clients, group_id), NOT_FOUND)
    wanted_keys = {rule_key(r): r for r in wanted}
    extra = [rule_id for key, rule_id in have.items() if key not in wanted_keys]
    missing = [rule for key, rule in wanted_keys.items() if key not in have]
    if extra:
        clients.ec2.revoke_security_group_ingress(GroupId=group_id, SecurityGroupRuleIds=extra)
        for key in (k for k in have if k not in wanted_keys):
            report.changed(f"security-group {group_id}: revoked {key[0]} {key[1]}-{key[2]} from {key[3]}")
    if missing:
        perms = [permission(group_id, rule) for rule in missing]
        retry(lambda: clients.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=perms), NOT_FOUND)
        for rule in missing:
            ports = f"{rule.from_port}" if rule.from_port == rule.to_port else f"{rule.from_port}-{rule.to_port}"
            report.made("rule", f"{rule.protocol}/{ports}", f"{rule.description}, from {rule.cidr or 'the cluster'}")


def ensure_key_pair(want: Spec, clients: Clients, found: Found, report: Report) -> str:
    """The cluster's key pair, imported from the operator's public key."""
    if found.key_pairs:
        report.kept("key-pair", found.key_pairs[0]["KeyName"])
        return str(found.key_pairs[0]["KeyName"])
    clients.ec2.import_key_pair(
        KeyName=want.key_name,
        PublicKeyMaterial=want.public_key.encode(),
        TagSpecifications=tag_spec("key-pair", want.cluster, want.key_name),
    )
    report.made("key-pair", want.key_name, want.public_key_path)
    return want.key_name


def wanted_instances(want: Spec) -> list[tuple[str, str, int]]:
    """(name, role, index) of every instance of the topology."""
    shape = want.topology
    return [
        (spec.instance_name(want.cluster, role, i), role, i)
        for role, count in ((spec.ROLE_CONTROL_PLANE, shape.control_planes), (spec.ROLE_WORKER, shape.workers))
        for i in range(count)
    ]


def ensure_instances(
    want: Spec, clients: Clients, checked: Preflight, subnet_id: str, group_id: str, report: Report
) -> list[Resource]:
    """Every instance of the topology, running; missing ones launched, stopped ones started."""
    existing = {tags_of(i).get("Name"): i for i in instances(clients, want.cluster)}
    ids: list[str] = []
    for name, role, index in wanted_instances(want):
        if name in existing:
            instance = existing[name]
            ids.append(instance["InstanceId"])
            report.kept("instance", instance["InstanceId"], f"{name}, {instance['State']['Name']}")
            if instance["State"]["Name"] in ("stopped", "stopping"):
                wait(clients.ec2, "instance_stopped", InstanceIds=[instance["InstanceId"]])
                clients.ec2.start_instances(InstanceIds=[instance["InstanceId"]])
                report.changed(f"instance {instance['InstanceId']} ({name}) started")
            continue
        launch = partial(_launch, want, clients, checked, subnet_id, group_id, name, role, index)
        launched = retry(launch, NOT_FOUND)
        ids.append(launched["InstanceId"])
        report.made(
            "instance", launched["InstanceId"], f"{name}, {want.instance_type}, {launched.get('PrivateIpAddress')}"
        )
    wait(clients.ec2, "instance_running", InstanceIds=ids)
    return instances_by_id(clients, ids)


def _launch(
    want: Spec, clients: Clients, checked: Preflight, subnet_id: str, group_id: str, name: str, role: str, index: int
) -> Resource:
    """Run one instance of the cluster, tagged with its role and index."""
    extra = {spec.TAG_ROLE: role, spec.TAG_INDEX: str(index), spec.TAG_SSH_USER: want.ssh_user}
    options: dict[str, Any] = {}
    if want.cpu_credits:
        options["CreditSpecification"] = {"CpuCredits": want.cpu_credits}
    launched = clients.ec2.run_instances(
        ImageId=checked.image_id,
        InstanceType=want.instance_type,
        MinCount=1,
        MaxCount=1,
        KeyName=want.key_name,
        NetworkInterfaces=[
            {"DeviceIndex": 0, "SubnetId": subnet_id, "Groups": [group_id], "AssociatePublicIpAddress": True}
        ],
        BlockDeviceMappings=[
            {
                "DeviceName": checked.root_device,
                "Ebs": {
                    "VolumeSize": want.disk_gib,
                    "VolumeType": "gp3",
                    "DeleteOnTermination": True,
                    "Encrypted": True,
                },
            }
        ],
        MetadataOptions={"HttpTokens": "required", "HttpEndpoint": "enabled"},
        TagSpecifications=tag_spec("instance", want.cluster, name, **extra)
        + tag_spec("volume", want.cluster, name, **extra),
        **options,
    )
    return dict(launched["Instances"][0])


def elb_tags(cluster: str, name: str) -> list[dict[str, str]]:
    """Tags of a load balancer, target group or listener of CLUSTER."""
    return [{"Key": "Name", "Value": name}, {"Key": spec.TAG_CLUSTER, "Value": cluster}]


def ensure_api_load_balancer(
    want: Spec,
    clients: Clients,
    found: Found,
    network: Network,
    control_planes: list[Resource],
    report: Report,
    public: bool,
) -> str:
    """An NLB 16443 -> every control plane's 6443 (internal, or internet-facing for the operator); its DNS name."""
    name = spec.public_api_name(want.cluster) if public else spec.api_name(want.cluster)
    scheme = "internet-facing" if public else "internal"
    target_group = ensure_target_group(want, clients, found, network.vpc_id, name, report)
    balancer = named(found.load_balancers, "LoadBalancerName", name)
    if balancer:
        if balancer.get("Scheme") != scheme:
            raise CloudError(f"load balancer {name} is {balancer.get('Scheme')}, not {scheme}: run `down` first")
        report.kept("load-balancer", name, balancer["DNSName"])
    else:
        balancer = clients.elbv2.create_load_balancer(
            Name=name,
            Subnets=[network.subnet_id],
            SecurityGroups=[network.group_id],
            Scheme=scheme,
            Type="network",
            IpAddressType="ipv4",
            Tags=elb_tags(want.cluster, name),
        )["LoadBalancers"][0]
        report.made("load-balancer", name, f"{scheme} NLB {balancer['DNSName']}")
    arn = balancer["LoadBalancerArn"]
    wait(clients.elbv2, "load_balancer_available", LoadBalancerArns=[arn])
    ensure_listener(want, clients, arn, name, target_group, report)
    reconcile_targets(clients, target_group, [str(i["PrivateIpAddress"]) for i in control_planes], report)
    return str(balancer["DNSName"])


def ensure_target_group(want: Spec, clients: Clients, found: Found, vpc_id: str, name: str, report: Report) -> str:
    """The API servers' target group NAME, by IP (a control plane may reach the NLB and land on itself)."""
    existing = named(found.target_groups, "TargetGroupName", name)
    if existing:
        report.kept("target-group", name)
        arn = str(existing["TargetGroupArn"])
        if health_check_drift(existing):
            clients.elbv2.modify_target_group(TargetGroupArn=arn, **spec.API_HEALTH_CHECK)
            report.changed(f"target-group {name}: health check HTTPS /readyz on the API port")
        return arn
    arn = str(
        clients.elbv2.create_target_group(
            Name=name,
            Protocol="TCP",
            Port=spec.APISERVER_PORT,
            VpcId=vpc_id,
            TargetType="ip",
            Tags=elb_tags(want.cluster, name),
            **spec.API_HEALTH_CHECK,
        )["TargetGroups"][0]["TargetGroupArn"]
    )
    clients.elbv2.modify_target_group_attributes(
        TargetGroupArn=arn,
        Attributes=[
            {"Key": "preserve_client_ip.enabled", "Value": "false"},
            {"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
        ],
    )
    report.made("target-group", name, f"TCP {spec.APISERVER_PORT}, IP targets, health check HTTPS /readyz")
    return arn


def health_check_drift(group: Resource) -> list[str]:
    """The health check settings of GROUP that differ from spec.API_HEALTH_CHECK."""
    drift = []
    for key, wanted in spec.API_HEALTH_CHECK.items():
        actual = group.get(key)
        if key == "Matcher":
            actual = {"HttpCode": (actual or {}).get("HttpCode")}
        if actual != wanted:
            drift.append(key)
    return drift


def ensure_listener(
    want: Spec, clients: Clients, balancer_arn: str, name: str, target_group_arn: str, report: Report
) -> None:
    """The TCP listener on 16443 forwarding to the target group."""
    listeners = clients.elbv2.describe_listeners(LoadBalancerArn=balancer_arn)["Listeners"]
    if any(listener["Port"] == spec.API_LB_PORT for listener in listeners):
        report.kept("listener", f"{name} TCP {spec.API_LB_PORT}")
        return
    clients.elbv2.create_listener(
        LoadBalancerArn=balancer_arn,
        Protocol="TCP",
        Port=spec.API_LB_PORT,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": target_group_arn}],
        Tags=elb_tags(want.cluster, f"{name}-{spec.API_LB_PORT}"),
    )
    report.made("listener", f"{name} TCP {spec.API_LB_PORT}", f"-> {spec.APISERVER_PORT} on the control planes")


def ensure_elastic_ip(want: Spec, clients: Clients, found: Found, instance: Resource, report: Report) -> str:
    """An Elastic IP on the lone control plane (--public-api): a public API address that outlives a restart."""
    name = str(tags_of(instance).get("Name", instance["InstanceId"]))
    if found.addresses:
        address = found.addresses[0]
        report.kept("elastic-ip", address["PublicIp"], name)
    else:
        address = clients.ec2.allocate_address(
            Domain="vpc", TagSpecifications=tag_spec("elastic-ip", want.cluster, f"{want.cluster}-api")
        )
        report.made("elastic-ip", address["PublicIp"], f"public API address of {name}")
    if address.get("InstanceId") != instance["InstanceId"]:
        clients.ec2.associate_address(
            AllocationId=address["AllocationId"], InstanceId=instance["InstanceId"], AllowReassociation=True
        )
        report.changed(f"elastic-ip {address['PublicIp']} associated with {instance['InstanceId']} ({name})")
    return str(address["PublicIp"])


def reconcile_targets(clients: Clients, target_group_arn: str, addresses: list[str], report: Report) -> None:
    """Register the control planes' private addresses, deregister any other."""
    health = clients.elbv2.describe_target_health(TargetGroupArn=target_group_arn)["TargetHealthDescriptions"]
    registered = {t["Target"]["Id"] for t in health}
    missing = [a for a in addresses if a not in registered]
    extra = sorted(registered - set(addresses))
    if extra:
        clients.elbv2.deregister_targets(TargetGroupArn=target_group_arn, Targets=[{"Id": a} for a in extra])
        report.changed(f"target-group: deregistered {', '.join(extra)}")
    if missing:
        targets = [{"Id": a, "Port": spec.APISERVER_PORT} for a in missing]
        clients.elbv2.register_targets(TargetGroupArn=target_group_arn, Targets=targets)
        for address in missing:
            report.made("target", f"{address}:{spec.APISERVER_PORT}")


def ssh_answers(address: str, port: int = spec.SSH_PORT, timeout: float = SSH_CONNECT_TIMEOUT) -> bool:
    """Whether an SSH server's banner ("SSH-...") comes back from ADDRESS:PORT within TIMEOUT seconds."""
    try:
        with socket.create_connection((address, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            return connection.recv(256).startswith(b"SSH-")
    except OSError:
        return False


SSH_PROBE: Callable[[str], bool] = ssh_answers  # tests replace it: they never connect to non-loopback addresses


def wait_for_ssh(want: Spec, nodes: list[Resource], echo: Echo) -> None:
    """Return once SSH answers on every instance's public address; CloudError after SSH_TIMEOUT seconds."""
    waiting = {str(tags_of(n).get("Name", n["InstanceId"])): n.get("PublicIpAddress") for n in nodes}
    bare = [name for name, address in waiting.items() if not address]
    if bare:
        raise CloudError(f"no public address on {', '.join(bare)}; `up` again retries, `down` removes it all")
    echo(f"  waiting  for SSH on {len(waiting)} instance(s)")
    deadline = time.monotonic() + SSH_TIMEOUT
    while True:
        with ThreadPoolExecutor(max_workers=len(waiting)) as pool:
            answers = dict(zip(waiting, pool.map(SSH_PROBE, waiting.values()), strict=True))
        waiting = {name: address for name, address in waiting.items() if not answers[name]}
        if not waiting:
            echo(f"  ssh      answers on all {len(nodes)} instance(s)")
            return
        if time.monotonic() > deadline:
            silent = ", ".join(f"{name} ({address})" for name, address in waiting.items())
            raise CloudError(
                f"SSH does not answer on {silent} after {SSH_TIMEOUT:g} s: is {want.ssh_cidr} (--ssh-cidr) the "
                "network you connect from? The instances exist: `up` again waits again, `down` removes it all"
            )
        time.sleep(session.POLL_SECONDS)
