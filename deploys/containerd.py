"""containerd: the CRI, configured for the kubelet (systemd cgroups, the release's pause image)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy, operation
from pyinfra.operations import files

from deploys import TEMPLATES, ops
from deploys.facts import node_state
from deploys.model import Cluster

DEFAULTS: dict[str, object] = {
    "containerd_version": None,  # exact package version to pin; None = the distribution's, then held
}
CONFIG = "/etc/containerd/config.toml"


def config_version(containerd_version: str | None) -> int:
    """containerd's config schema: 2 for containerd 1.x, 3 for 2.x."""
    major = (containerd_version or "1").split(".")[0]
    return 3 if major.isdigit() and int(major) >= 2 else 2


@deploy("containerd", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure containerd is installed, held, configured for Kubernetes, enabled and running."""
    node = cluster.node(host.name)
    ops.packages(
        name="containerd installed and held",
        node_ip=node.node_ip,
        wanted={"containerd": cluster.setting("containerd_version")},
        hold=True,
    )
    config = _config(name="containerd configured for Kubernetes", cluster=cluster)
    ops.restart(
        name="containerd restarted (config changed)",
        node_ip=node.node_ip,
        service_name="containerd",
        _if=config.did_change,
    )
    ops.service(name="containerd enabled and running", node_ip=node.node_ip, service_name="containerd")


@operation()
def _config(cluster: Cluster):
    """Ensure /etc/containerd/config.toml matches the installed containerd's major version."""
    node = cluster.node(host.name)
    state = node_state(host, node.node_ip)
    version = state.containerd_version
    if version is None and host.state.is_executing:
        # Installed during this run: ask the binary (only on a first run).
        _, output = host.run_shell_command("containerd --version")
        words = output.stdout.split()
        version = state.containerd_version = words[2].lstrip("v") if len(words) > 2 else None
    yield from files.template._inner(
        src=str(TEMPLATES / "containerd" / f"config-v{config_version(version)}.toml.j2"),
        dest=CONFIG,
        mode="644",
        pause_image=cluster.pause_image,
    )
