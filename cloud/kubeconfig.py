"""`kubeconfig`: the fetched admin kubeconfig, rewritten to reach the API from the operator's machine."""

from __future__ import annotations

import copy
import os
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from cloud import CloudError, spec
from cloud.inventory import public_endpoint
from cloud.resources import Resource, instances, load_balancers, tags_of
from cloud.session import Clients

# kubeadm puts "kubernetes" in every API server certificate (cmd/kubeadm/app/util/pkiutil/pki_helpers.go,
# GetAPIServerAltNames), so a kubeconfig whose server is a tunnel's 127.0.0.1 verifies against that name.
TUNNEL_SERVER_NAME = "kubernetes"


def default_source(cluster: str) -> Path:
    """Where the deploy fetches the admin kubeconfig (deploys/model.py: ~/.kube/<cluster_name>.conf)."""
    return Path.home() / ".kube" / f"{cluster}.conf"


def default_output(cluster: str, tunnel: bool) -> Path:
    """The rewritten kubeconfig's default path, beside the fetched one (which the deploy keeps as it is)."""
    return Path.home() / ".kube" / f"{cluster}-{'tunnel' if tunnel else 'public'}.conf"


def load(source: Path) -> dict[str, Any]:
    """The kubeconfig at SOURCE; CloudError if it is missing or has no cluster server."""
    if not source.is_file():
        raise CloudError(
            f"{source}: no such file; the deploy fetches the admin kubeconfig there (or pass --kubeconfig PATH)"
        )
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    clusters = config.get("clusters") if isinstance(config, dict) else None
    if not clusters or not all(isinstance(c, dict) and c.get("cluster", {}).get("server") for c in clusters):
        raise CloudError(f"{source} is not a kubeconfig with a cluster server")
    return dict(config)


def with_server(config: dict[str, Any], server: str, tls_server_name: str | None = None) -> dict[str, Any]:
    """A copy of CONFIG whose clusters point at SERVER (verified against TLS_SERVER_NAME if given)."""
    rewritten = copy.deepcopy(config)
    for entry in rewritten["clusters"]:
        entry["cluster"]["server"] = server
        entry["cluster"].pop("tls-server-name", None)
        if tls_server_name:
            entry["cluster"]["tls-server-name"] = tls_server_name
    return rewritten


def write_private(path: Path, config: dict[str, Any]) -> None:
    """Ensure PATH holds CONFIG, readable by its owner only (it carries the admin credentials)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        yaml.safe_dump(config, file, sort_keys=False)
    path.chmod(0o600)


def tunnel_command(user: str, jump: str, local_port: int, host: str, port: int) -> str:
    """The ssh command forwarding 127.0.0.1:LOCAL_PORT through JUMP to the API at HOST:PORT."""
    argv = ["ssh", "-N", "-L", f"127.0.0.1:{local_port}:{host}:{port}"]
    if os.environ.get("AWS_SSH_KEY"):
        argv += ["-i", os.path.expanduser(os.environ["AWS_SSH_KEY"])]
    return shlex.join([*argv, f"{user}@{jump}"])


def first_control_plane(clients: Clients, cluster: str) -> Resource:
    """The cluster's first running control plane with a public address (the SSH jump host)."""
    for instance in instances(clients, cluster, ("running",)):
        if tags_of(instance).get(spec.TAG_ROLE) == spec.ROLE_CONTROL_PLANE and instance.get("PublicIpAddress"):
            return instance
    raise CloudError(f"cluster {cluster} has no running control plane with a public address in {clients.region}")


def kubeconfig(
    clients: Clients, cluster: str, source: Path, out: Path, tunnel: bool, local_port: int | None
) -> list[str]:
    """Write OUT: SOURCE pointed at the public endpoint, or at an SSH tunnel; the lines to show the operator."""
    config = load(source)
    if tunnel:
        server = urlsplit(config["clusters"][0]["cluster"]["server"])
        host, port = server.hostname or "", server.port or 443
        jump = first_control_plane(clients, cluster)
        user = tags_of(jump).get(spec.TAG_SSH_USER, spec.DEFAULT_SSH_USER)
        local = local_port or port
        write_private(out, with_server(config, f"https://127.0.0.1:{local}", TUNNEL_SERVER_NAME))
        return [
            f"wrote {out} (server https://127.0.0.1:{local}, through an SSH tunnel to {host}:{port})",
            "open the tunnel and leave it running:",
            f"  {tunnel_command(user, jump['PublicIpAddress'], local, host, port)}",
            f"then: kubectl --kubeconfig {out} get nodes",
        ]
    live = instances(clients, cluster)
    control_planes = [i for i in live if tags_of(i).get(spec.TAG_ROLE) == spec.ROLE_CONTROL_PLANE]
    balancers = load_balancers(clients, cluster) if len(control_planes) > 1 else []
    endpoint = public_endpoint(clients, cluster, balancers, single=len(control_planes) == 1)
    if endpoint is None:
        raise CloudError(
            f"cluster {cluster} has no public API endpoint (`up` ran without --public-api): "
            "use --tunnel, or `down` and `up --public-api`"
        )
    write_private(out, with_server(config, f"https://{endpoint}"))
    return [
        f"wrote {out} (server https://{endpoint}, open to --ssh-cidr only)",
        f"kubectl --kubeconfig {out} get nodes",
    ]
