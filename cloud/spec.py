"""What `up` is asked to build, validated without any network call; AWS naming and constants."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from cloud import CloudError
from deploys import rules

# Tags: every resource carries TAG_CLUSTER; `down` deletes exactly what carries it.
TAG_CLUSTER = "kubeadm-pyinfra:cluster"
TAG_ROLE = "kubeadm-pyinfra:role"
TAG_INDEX = "kubeadm-pyinfra:index"
TAG_TOPOLOGY = "kubeadm-pyinfra:topology"
TAG_SSH_USER = "kubeadm-pyinfra:ssh-user"
TAG_PUBLIC_API = "kubeadm-pyinfra:public-api"
ROLE_CONTROL_PLANE = "control-plane"
ROLE_WORKER = "worker"

VPC_CIDR = "10.20.0.0/16"  # disjoint from the default pod (10.244.0.0/16) and service (10.96.0.0/12) CIDRs
SUBNET_CIDR = "10.20.0.0/24"
APISERVER_PORT = 6443
API_LB_PORT = 16443  # the NLB's listener (HA), forwarding to every control plane's APISERVER_PORT
CALICO_ENCAPSULATION = "VXLAN"  # no source/destination check changes needed inside the VPC
SSH_PORT = 22

# The API servers' target group checks what kubeadm's own readiness probe checks: HTTPS GET /readyz on the
# API server's port (kubeadm: cmd/kubeadm/app/phases/controlplane/manifests.go, ReadinessProbe "/readyz"),
# answered to anonymous callers (RBAC role system:public-info-viewer, kubernetes/kubernetes
# plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go). A plain TCP check passes as soon as the port
# is open, before the API server is ready. ELBv2 API reference, CreateTargetGroup: HTTPS health checks are
# allowed on a TCP target group of a Network Load Balancer; "traffic-port" is the port each target receives
# traffic on; Matcher HttpCode for NLBs "between 200 and 599, default 200-399"; timeout 2-120 s. The load
# balancer does not validate the target's certificate (ELB guide, "Health checks for Network Load Balancer
# target groups"), so kubeadm's self-signed serving certificate is fine.
API_HEALTH_CHECK: dict[str, object] = {
    "HealthCheckProtocol": "HTTPS",
    "HealthCheckPort": "traffic-port",
    "HealthCheckPath": "/readyz",
    "Matcher": {"HttpCode": "200"},
    "HealthCheckIntervalSeconds": 10,
    "HealthCheckTimeoutSeconds": 5,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
}

DEBIAN_12_PARAMETER = "/aws/service/debian/release/12/latest/amd64"
DEFAULT_SSH_USER = "admin"  # Debian's cloud images; Ubuntu's is "ubuntu"
DEFAULT_INSTANCE_TYPE = "t3.small"
DEFAULT_TOPOLOGY = "1+4"
DEFAULT_DISK_GIB = 20

# Burstable families and the CPU credit option AWS applies when a launch names none (EC2 API reference,
# RunInstances, CreditSpecification: "Default: standard (T2 instances) or unlimited (T3/T3a/T4g instances)";
# EC2 user guide, "Unlimited mode for burstable performance instances": T3, T3a and T4g launch as unlimited).
# A T3 in standard mode starts without launch credits and is held near its 20% baseline per vCPU.
BURSTABLE_DEFAULT_CREDITS = {"t2": "standard", "t3": "unlimited", "t3a": "unlimited", "t4g": "unlimited"}
CPU_CREDIT_OPTIONS = ("standard", "unlimited")
PUBLIC_KEYS = ("~/.ssh/id_ed25519.pub", "~/.ssh/id_rsa.pub")

# kubeadm's preflight on control planes: at least 2 CPUs and ~1700 MB of memory.
MIN_VCPUS = 2
MIN_MEMORY_MIB = 2048

# (vCPUs, memory MiB) of common x86_64 types; others are looked up with DescribeInstanceTypes.
INSTANCE_TYPES: dict[str, tuple[int, int]] = {
    **{f"{family}.nano": (2, 512) for family in ("t3", "t3a")},
    **{f"{family}.micro": (2, 1024) for family in ("t3", "t3a")},
    **{f"{family}.small": (2, 2048) for family in ("t3", "t3a")},
    **{f"{family}.medium": (2, 4096) for family in ("t3", "t3a")},
    **{f"{family}.large": (2, 8192) for family in ("t3", "t3a")},
    **{f"{family}.xlarge": (4, 16384) for family in ("t3", "t3a")},
    "t2.nano": (1, 512),
    "t2.micro": (1, 1024),
    "t2.small": (1, 2048),
    "t2.medium": (2, 4096),
    "t2.large": (2, 8192),
    **{f"{family}.large": (2, 4096) for family in ("c5", "c5a", "c6i", "c6a", "c7i", "c7a")},
    **{f"{family}.large": (2, 8192) for family in ("m5", "m5a", "m6i", "m6a", "m7i", "m7a")},
}

# On-demand Linux prices in us-east-1 (USD), for the estimate `status` prints.
HOURLY_USD: dict[str, float] = {
    "t3.micro": 0.0104,
    "t3.small": 0.0208,
    "t3.medium": 0.0416,
    "t3.large": 0.0832,
    "t3a.small": 0.0188,
    "t3a.medium": 0.0376,
    "m5.large": 0.096,
    "c5.large": 0.085,
}
PUBLIC_IPV4_USD_HOUR = 0.005
GP3_USD_GIB_MONTH = 0.08
NLB_USD_HOUR = 0.0225  # plus 0.006 USD per NLCU-hour

_CLUSTER_NAME = re.compile(r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$")
_TOPOLOGY = re.compile(r"^(\d+)\+(\d+)$")
_PUBLIC_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]+={0,3}( .*)?$")
# ELBv2 CreateLoadBalancer / CreateTargetGroup, Name: at most 32 characters, only alphanumeric characters
# or hyphens, not beginning or ending with a hyphen; a load balancer's name must not begin with "internal-".
_ELB_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Topology:
    """How many control planes and workers."""

    control_planes: int
    workers: int

    def __str__(self) -> str:
        return f"{self.control_planes}+{self.workers}"

    @property
    def ha(self) -> bool:
        return self.control_planes > 1


@dataclass(frozen=True)
class Rule:
    """One ingress rule of the cluster's security group; `cidr` None = from the group itself."""

    protocol: str
    from_port: int
    to_port: int
    description: str
    cidr: str | None = None


@dataclass(frozen=True)
class Spec:
    """Everything `up` needs, validated."""

    cluster: str
    topology: Topology
    instance_type: str
    ssh_cidr: str
    public_key: str
    public_key_path: str
    ami: str | None
    ami_parameter: str
    ssh_user: str
    disk_gib: int
    cpu_credits: str | None  # None: not a burstable type
    public_api: bool = False

    @property
    def key_name(self) -> str:
        return key_pair_name(self.cluster)

    @property
    def public_api_port(self) -> int | None:
        """The port the operator reaches the API on from --ssh-cidr: the public NLB's, or the control plane's."""
        if not self.public_api:
            return None
        return API_LB_PORT if self.topology.ha else APISERVER_PORT


def key_pair_name(cluster: str) -> str:
    """The EC2 key pair's name for CLUSTER."""
    return f"kubeadm-pyinfra-{cluster}"


def api_name(cluster: str) -> str:
    """The internal NLB's and its target group's name for CLUSTER."""
    return f"{cluster}-api"


def public_api_name(cluster: str) -> str:
    """The internet-facing NLB's and its target group's name for CLUSTER (--public-api, HA)."""
    return f"{cluster}-api-public"


def load_balancer_names(cluster: str, shape: Topology, public_api: bool) -> list[str]:
    """The names of the load balancers (and target groups) `up` creates for this cluster."""
    if not shape.ha:
        return []
    return [api_name(cluster)] + ([public_api_name(cluster)] if public_api else [])


def check_elb_name(cluster: str, name: str) -> None:
    """Stop if AWS would reject NAME as a load balancer or target group name."""
    if not _ELB_NAME.match(name) or name.lower().startswith("internal-"):
        raise CloudError(
            f"cluster name {cluster!r} makes the load balancer name {name!r}, which AWS rejects (at most 32 "
            "letters, digits and '-', not starting or ending with '-', not starting with 'internal-'): "
            "choose another --cluster"
        )


def instance_name(cluster: str, role: str, index: int) -> str:
    """An instance's Name tag, also its inventory and Kubernetes node name."""
    return f"{cluster}-{'cp' if role == ROLE_CONTROL_PLANE else 'worker'}{index}"


def cluster_name(value: str | None) -> str:
    """A cluster name usable in every AWS name and as a DNS label."""
    if not value:
        raise CloudError("--cluster NAME is required (or set AWS_CLUSTER)")
    if not _CLUSTER_NAME.match(value):
        raise CloudError(
            f"cluster name {value!r} is invalid: 2-20 characters, lower-case letters, digits and '-', "
            "starting with a letter"
        )
    return value


def topology(value: str) -> Topology:
    """'C+W': an odd number of control planes (stacked etcd) and any number of workers."""
    match = _TOPOLOGY.match(value.strip())
    if not match:
        raise CloudError(f"topology {value!r} is invalid: expected CONTROL_PLANES+WORKERS, e.g. '1+4' or '3+3'")
    cps, workers = int(match.group(1)), int(match.group(2))
    if not rules.odd_control_plane_count(cps) or cps > 7:
        raise CloudError(f"topology {value!r}: stacked etcd needs an odd number of control planes (1, 3, 5, 7)")
    if cps + workers > 20:
        raise CloudError(f"topology {value!r}: at most 20 instances")
    return Topology(cps, workers)


def ssh_cidr(value: str | None) -> str:
    """The operator's IPv4 network in CIDR form; a bare address means /32."""
    if not value:
        raise CloudError(
            "--ssh-cidr CIDR is required: the address SSH comes from, e.g. "
            '"$(curl -s https://checkip.amazonaws.com)/32"'
        )
    try:
        network = ipaddress.IPv4Network(value.strip(), strict=True)
    except ipaddress.AddressValueError:
        raise CloudError(f"--ssh-cidr {value!r} is not an IPv4 network in CIDR form, e.g. 203.0.113.7/32") from None
    except ValueError as exc:
        raise CloudError(f"--ssh-cidr {value!r} is invalid ({exc}); e.g. 203.0.113.0/24 or 203.0.113.7/32") from None
    return str(network)


def public_key(path: str | None) -> tuple[str, str]:
    """(path, key) of the operator's OpenSSH public key (ed25519 or RSA)."""
    candidates = [path] if path else list(PUBLIC_KEYS)
    for candidate in candidates:
        file = Path(candidate).expanduser()
        if file.is_file():
            key = file.read_text(encoding="utf-8", errors="replace").strip()
            if not _PUBLIC_KEY.match(key):
                raise CloudError(f"{file} is not an OpenSSH ed25519 or RSA public key (EC2 imports only those)")
            return str(file), key
    if path:
        raise CloudError(f"--public-key {path}: no such file")
    raise CloudError(f"no public key found ({', '.join(PUBLIC_KEYS)}): pass --public-key PATH")


def check_size(instance_type: str, vcpus: int, memory_mib: int) -> None:
    """Stop if the type is too small for a control plane (kubeadm preflight)."""
    if vcpus < MIN_VCPUS or memory_mib < MIN_MEMORY_MIB:
        raise CloudError(
            f"instance type {instance_type} has {vcpus} vCPU and {memory_mib / 1024:g} GiB; kubeadm needs at "
            f"least {MIN_VCPUS} vCPU and {MIN_MEMORY_MIB // 1024} GiB on a control plane (e.g. t3.small)"
        )


def known_size(instance_type: str) -> tuple[int, int] | None:
    """(vCPUs, MiB) from the static table, None for a type it does not list."""
    return INSTANCE_TYPES.get(instance_type)


def cpu_credits(instance_type: str, requested: str | None) -> str | None:
    """The credit option to launch INSTANCE_TYPE with: REQUESTED, else AWS's default; None if not burstable."""
    default = BURSTABLE_DEFAULT_CREDITS.get(instance_type.split(".", 1)[0])
    if requested is None:
        return default
    if requested not in CPU_CREDIT_OPTIONS:
        raise CloudError(f"--cpu-credits {requested!r}: expected 'standard' or 'unlimited'")
    if default is None:
        families = ", ".join(BURSTABLE_DEFAULT_CREDITS)
        raise CloudError(f"--cpu-credits applies to burstable types ({families}); {instance_type} is not one")
    return requested


def cluster_rules(operator_cidr: str, public_api_port: int | None = None) -> tuple[Rule, ...]:
    """The security group's ingress: Kubernetes between members; SSH (and the API if public) from the operator."""
    public = (
        (Rule("tcp", public_api_port, public_api_port, "Kubernetes API from the operator", operator_cidr),)
        if public_api_port
        else ()
    )
    return public + (
        Rule("tcp", SSH_PORT, SSH_PORT, "SSH from the operator", operator_cidr),
        Rule("tcp", 6443, 6443, "Kubernetes API server"),
        Rule("tcp", 16443, 16443, "Kubernetes API via the load balancer"),
        Rule("tcp", 2379, 2380, "etcd client and peer"),
        Rule("tcp", 10250, 10250, "kubelet API"),
        Rule("tcp", 10257, 10257, "kube-controller-manager"),
        Rule("tcp", 10259, 10259, "kube-scheduler"),
        Rule("tcp", 30000, 32767, "NodePort services (TCP)"),
        Rule("udp", 30000, 32767, "NodePort services (UDP)"),
        Rule("udp", 4789, 4789, "Calico VXLAN"),
        Rule("tcp", 179, 179, "Calico BGP"),
        Rule("tcp", 5473, 5473, "Calico Typha (calico-node -> typha)"),
    )


def build(
    *,
    cluster: str | None,
    topology_text: str,
    instance_type: str,
    ssh_cidr_text: str | None,
    public_key_path: str | None,
    ami: str | None,
    ami_parameter: str,
    ssh_user: str,
    disk_gib: int,
    cpu_credits_text: str | None,
    public_api: bool = False,
) -> Spec:
    """Validate the command line; CloudError on the first problem, before any AWS call."""
    name = cluster_name(cluster)
    shape = topology(topology_text)
    for balancer in load_balancer_names(name, shape, public_api):
        check_elb_name(name, balancer)
    size = known_size(instance_type)
    if size:
        check_size(instance_type, *size)
    cidr = ssh_cidr(ssh_cidr_text)
    key_path, key = public_key(public_key_path)
    if ami is not None and not re.match(r"^ami-[0-9a-f]{8,17}$", ami):
        raise CloudError(f"--ami {ami!r} is not an AMI id (ami-0123456789abcdef0)")
    if not 8 <= disk_gib <= 1024:
        raise CloudError(f"--disk-gib {disk_gib}: expected 8-1024")
    credits = cpu_credits(instance_type, cpu_credits_text)
    return Spec(
        name, shape, instance_type, cidr, key, key_path, ami, ami_parameter, ssh_user, disk_gib, credits, public_api
    )
