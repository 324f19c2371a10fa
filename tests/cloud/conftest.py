"""A moto server on loopback, with AWS environment pointing at it: real boto3 calls, no AWS account."""

from __future__ import annotations

import io
import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from contextlib import redirect_stderr
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyinfra_cli  # noqa: F401  (gevent's monkey.patch_all(): must run before boto3 imports ssl)
import pytest

# Test modules skip themselves without these: `pytest.importorskip(...)` before importing `cloud`.
NEEDS = "needs boto3 and moto[server] (the aws and test extras)"

REGION = "us-east-1"
OPERATOR_CIDR = "203.0.113.0/24"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server bound to 127.0.0.1 on a free port, for the whole session."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Aws:
    """The test's view of the (moto) account."""

    url: str
    ec2: Any
    elbv2: Any
    ssm: Any
    image_id: str
    public_key: Path
    ssh_probed: list[str]  # the public addresses `up` waited for SSH on (the probe is a stand-in: no traffic)

    def cli(self, *argv: str) -> tuple[int, list[str], str]:
        """Run `python -m cloud.aws ARGV` in-process: exit code, stdout lines, stderr."""
        lines: list[str] = []
        err = io.StringIO()
        from cloud import aws

        with redirect_stderr(err):
            rc = aws.run(list(argv), echo=lines.append)
        return rc, lines, err.getvalue()

    def up(self, cluster: str = "demo", topology: str = "1+4", *extra: str) -> tuple[int, list[str], str]:
        """`up` with the test's key and operator CIDR."""
        return self.cli(
            "up",
            "--cluster",
            cluster,
            "--topology",
            topology,
            "--ssh-cidr",
            OPERATOR_CIDR,
            "--public-key",
            str(self.public_key),
            *extra,
        )

    def snapshot(self) -> dict[str, list[str]]:
        """Every resource id in the account's region, by kind (to prove nothing was created)."""
        ec2, elbv2 = self.ec2, self.elbv2
        return {
            "vpcs": sorted(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]),
            "subnets": sorted(s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]),
            "security_groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
            "internet_gateways": sorted(
                g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]
            ),
            "route_tables": sorted(t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]),
            "key_pairs": sorted(k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]),
            "instances": sorted(
                i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
            ),
            "volumes": sorted(v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]),
            "load_balancers": sorted(lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]),
            "target_groups": sorted(tg["TargetGroupArn"] for tg in elbv2.describe_target_groups()["TargetGroups"]),
        }


def _reset(url: str) -> None:
    """Forget every resource of the moto server."""
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=10).read()


def _seed_public_parameter(name: str, value: str) -> None:
    """Create AWS's public SSM parameter inside moto (put_parameter refuses '/aws/' names)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ssm.models import Parameter, ssm_backends

    parameters = ssm_backends[DEFAULT_ACCOUNT_ID][REGION]._parameters
    parameters[name].append(
        Parameter(
            account_id=DEFAULT_ACCOUNT_ID,
            name=name,
            value=value,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.now(UTC),
            version=1,
            data_type="text",
        )
    )


def _public_key(directory: Path) -> Path:
    """A fresh ed25519 OpenSSH public key file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate().public_key()
    text = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    path = directory / "id_ed25519.pub"
    path.write_text(f"{text} operator@test\n")
    return path


@pytest.fixture()
def aws_env(moto_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Aws:
    """A reset moto account with the Debian 12 parameter and image, and env/credentials pointing at it."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("NO_PROXY", "no_proxy"):  # loopback only, never through a proxy
        monkeypatch.setenv(name, "127.0.0.1,localhost")
    from cloud import session, spec, up

    monkeypatch.setattr(session, "POLL_SECONDS", 0)
    probed: list[str] = []
    # moto's public addresses are not loopback: `up` must never connect to them (NETWORK RULE).
    monkeypatch.setattr(up, "SSH_PROBE", lambda address: probed.append(address) or True)
    _reset(moto_url)
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=moto_url)
    image_id = ec2.register_image(
        Name="debian-12-amd64-test",
        Architecture="x86_64",
        RootDeviceName="/dev/xvda",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]
    _seed_public_parameter(spec.DEBIAN_12_PARAMETER, image_id)
    return Aws(
        url=moto_url,
        ec2=ec2,
        elbv2=boto3.client("elbv2", region_name=REGION, endpoint_url=moto_url),
        ssm=boto3.client("ssm", region_name=REGION, endpoint_url=moto_url),
        image_id=image_id,
        public_key=_public_key(tmp_path),
        ssh_probed=probed,
    )


@pytest.fixture()
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AWS API call made, as (operation, request parameters), in order: what boto3 sends."""
    from botocore.client import BaseClient

    calls: list[tuple[str, dict[str, Any]]] = []
    original = BaseClient._make_api_call

    def record(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append((operation, params))
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return calls
