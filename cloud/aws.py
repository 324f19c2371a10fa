"""`python -m cloud.aws up|down|status|kubeconfig`: a kubeadm-pyinfra cluster's machines on AWS.

python -m cloud.aws up --cluster demo --topology 1+4 --ssh-cidr 203.0.113.7/32
AWS_CLUSTER=demo pyinfra inventories/aws.py deploys/cluster.py
python -m cloud.aws kubeconfig --cluster demo --tunnel
python -m cloud.aws status --cluster demo
python -m cloud.aws down --cluster demo
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from cloud import CloudError, spec
from cloud.down import down
from cloud.kubeconfig import default_output, default_source, kubeconfig
from cloud.session import connect
from cloud.status import status
from cloud.up import up

Echo = Callable[[str], None]


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="python -m cloud.aws", description=__doc__.splitlines()[0])
    commands = top.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("up", "create what is missing (idempotent)"),
        ("down", "delete everything tagged for the cluster"),
        ("status", "list the cluster's resources and their cost"),
        ("kubeconfig", "write a kubeconfig that reaches the API from this machine (public endpoint or SSH tunnel)"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--cluster", default=os.environ.get("AWS_CLUSTER"), help="cluster name (env AWS_CLUSTER)")
        command.add_argument(
            "--region", default=None, help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile)"
        )
        if name == "up":
            _up_options(command)
        if name == "kubeconfig":
            _kubeconfig_options(command)
    return top


def _kubeconfig_options(command: argparse.ArgumentParser) -> None:
    """Options of `kubeconfig`."""
    command.add_argument(
        "--tunnel", action="store_true", help="server https://127.0.0.1:PORT, through `ssh -L` to a control plane"
    )
    command.add_argument("--local-port", type=int, default=None, help="the tunnel's local port (default: the API's)")
    command.add_argument(
        "--kubeconfig", default=None, help="the admin kubeconfig the deploy fetched (default ~/.kube/CLUSTER.conf)"
    )
    command.add_argument(
        "--out", default=None, help="where to write (default ~/.kube/CLUSTER-tunnel.conf or CLUSTER-public.conf)"
    )


def _up_options(command: argparse.ArgumentParser) -> None:
    """Options of `up`."""
    command.add_argument(
        "--topology", default=spec.DEFAULT_TOPOLOGY, help="CONTROL_PLANES+WORKERS: 1+4 or 3+3 (HA, NLB)"
    )
    command.add_argument("--instance-type", default=spec.DEFAULT_INSTANCE_TYPE, help="at least 2 vCPU / 2 GiB")
    command.add_argument("--ssh-cidr", default=None, help="the only network SSH (22) is open to, e.g. 203.0.113.7/32")
    command.add_argument(
        "--public-key", default=None, help="OpenSSH public key (default ~/.ssh/id_ed25519.pub, id_rsa.pub)"
    )
    command.add_argument("--ami", default=None, help="AMI id (default: the value of --ami-parameter)")
    command.add_argument(
        "--ami-parameter", default=spec.DEBIAN_12_PARAMETER, help="public SSM parameter holding the AMI id"
    )
    command.add_argument("--ssh-user", default=spec.DEFAULT_SSH_USER, help="the image's login user (Debian: admin)")
    command.add_argument("--disk-gib", type=int, default=spec.DEFAULT_DISK_GIB, help="root disk size (gp3)")
    command.add_argument(
        "--cpu-credits",
        default=None,
        choices=spec.CPU_CREDIT_OPTIONS,
        help="burstable types only; default AWS's: unlimited for t3/t3a/t4g, standard for t2",
    )
    command.add_argument(
        "--public-api",
        action="store_true",
        help="the API reachable from --ssh-cidr: an internet-facing NLB (HA) or an Elastic IP on the control plane",
    )


def run(argv: Sequence[str] | None = None, echo: Echo = print) -> int:
    """Run one command; 0 on success, 2 with a message on stderr for bad input or AWS errors."""
    args = parser().parse_args(argv)
    try:
        if args.command == "up":
            _up(args, echo)
        else:
            cluster = spec.cluster_name(args.cluster)
            clients = connect(args.region)
            if args.command == "down":
                echo(f"{len(down(clients, cluster, echo))} resource(s) deleted")
            elif args.command == "kubeconfig":
                source = Path(args.kubeconfig).expanduser() if args.kubeconfig else default_source(cluster)
                out = Path(args.out).expanduser() if args.out else default_output(cluster, args.tunnel)
                for line in kubeconfig(clients, cluster, source, out, args.tunnel, args.local_port):
                    echo(line)
            else:
                for line in status(clients, cluster):
                    echo(line)
        return 0
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as exc:  # waiter timeouts, throttling, permissions
        print(f"error: AWS: {exc}; run `status` to see what exists", file=sys.stderr)
        return 2


def _up(args: argparse.Namespace, echo: Echo) -> None:
    """Validate the input and the account (nothing created on error), then create what is missing."""
    try:
        want = spec.build(
            cluster=args.cluster,
            topology_text=args.topology,
            instance_type=args.instance_type,
            ssh_cidr_text=args.ssh_cidr,
            public_key_path=args.public_key,
            ami=args.ami,
            ami_parameter=args.ami_parameter,
            ssh_user=args.ssh_user,
            disk_gib=args.disk_gib,
            cpu_credits_text=args.cpu_credits,
            public_api=args.public_api,
        )
        clients = connect(args.region)
    except CloudError as exc:
        raise CloudError(f"{exc}; nothing was created") from None
    created = up(want, clients, echo)
    echo(f"{len(created)} resource(s) created" if created else "nothing to create: the cluster is up")
    echo(
        f"deploy: AWS_CLUSTER={want.cluster} AWS_REGION={clients.region} pyinfra inventories/aws.py deploys/cluster.py"
    )
    access = "" if want.public_api else " --tunnel"
    echo(f"then:   python -m cloud.aws kubeconfig --cluster {want.cluster} --region {clients.region}{access}")


def main() -> None:
    """Console entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
