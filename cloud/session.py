"""AWS clients for one region, after checking that a region and working credentials exist."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from cloud import CloudError

POLL_SECONDS = 5.0  # between polls of a waiter or a retry; tests set it to 0
T = TypeVar("T")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=10, read_timeout=60)

NO_REGION = (
    "no AWS region: pass --region (e.g. us-east-1) or set AWS_REGION / AWS_DEFAULT_REGION "
    "(or 'region' in ~/.aws/config)"
)
NO_CREDENTIALS = (
    "no AWS credentials: set AWS_PROFILE (after `aws configure` or `aws sso login`) or "
    "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


@dataclass(frozen=True)
class Clients:
    """The service clients of one region."""

    region: str
    ec2: Any
    elbv2: Any
    ssm: Any
    sts: Any


def connect(region: str | None) -> Clients:
    """Clients for REGION (or the configured one); CloudError without region or credentials."""
    try:
        session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
        region_name = session.region_name
        credentials = session.get_credentials()
    except BotoCoreError as exc:
        raise CloudError(f"AWS configuration: {exc}") from None
    if not region_name:
        raise CloudError(NO_REGION)
    if not _REGION.match(region_name):
        raise CloudError(f"AWS region {region_name!r} is malformed (e.g. us-east-1)")
    if credentials is None:
        raise CloudError(NO_CREDENTIALS)
    clients = Clients(region_name, *(session.client(name, config=_CONFIG) for name in ("ec2", "elbv2", "ssm", "sts")))
    check_identity(clients)
    return clients


def check_identity(clients: Clients) -> str:
    """The caller's account id; CloudError if AWS rejects the credentials or cannot be reached."""
    try:
        return str(clients.sts.get_caller_identity()["Account"])
    except ClientError as exc:
        raise CloudError(f"AWS rejected the credentials: {describe(exc)}") from None
    except BotoCoreError as exc:
        raise CloudError(f"AWS credentials or endpoint unusable: {exc}") from None


def code(exc: ClientError) -> str:
    """The AWS error code of a ClientError."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def describe(exc: ClientError) -> str:
    """'Code: message' of a ClientError."""
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '?')}: {error.get('Message', exc)}"


def wait(client: Any, waiter: str, timeout: float = 900, **kwargs: Any) -> None:
    """Run a boto3 waiter, polling every POLL_SECONDS for at most TIMEOUT seconds."""
    delay = max(POLL_SECONDS, 0)
    attempts = max(1, int(timeout / delay)) if delay else 120
    client.get_waiter(waiter).wait(**kwargs, WaiterConfig={"Delay": delay, "MaxAttempts": attempts})


def retry(call: Callable[[], T], codes: tuple[str, ...], timeout: float = 600) -> T:
    """CALL's result, retried while it fails with one of CODES (eventual consistency, lingering ENIs)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except ClientError as exc:
            if code(exc) not in codes or time.monotonic() > deadline:
                raise
        time.sleep(POLL_SECONDS)
