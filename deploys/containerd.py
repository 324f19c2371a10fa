"""containerd: the CRI, configured for the kubelet (systemd cgroups, the release's pause image)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops
from deploys.facts import node_state, watch
from deploys.model import Cluster
from deploys.templates import render

DEFAULTS: dict[str, object] = {
    "containerd_version": None,  # exact package version to pin; None = the distribution's, then held
}
CONFIG = watch("/etc/containerd/config.toml")


def config_version(containerd_version: str | None) -> int:
    """containerd's config schema: 2 for containerd 1.x, 3 for 2.x."""
    major = (containerd_version or "1").split(":")[-1].split(".")[0]
    return 3 if major.isdigit() and int(major) >= 2 else 2


def installed_version(node_ip: str) -> str | None:
    """containerd's package version: from the one look, or (installed during this run) from dpkg."""
    state = node_state(host, node_ip)
    version = state.packages.get("containerd", ("?", False))[0]
    if version == "?" and host.state.is_executing:
        _, output = host.run_shell_command("dpkg-query -W -f='${Version}' containerd")
        version = output.stdout.strip() or "?"
        state.packages["containerd"] = (version, state.packages.get("containerd", ("", False))[1])
    return None if version == "?" else version


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
    config = ops.file(
        name="containerd configured for Kubernetes",
        node_ip=node.node_ip,
        dest=CONFIG,
        content=lambda: render(
            f"containerd/config-v{config_version(installed_version(node.node_ip))}.toml.j2",
            pause_image=cluster.pause_image,
        ),
    )
    ops.restart(
        name="containerd restarted (config changed)",
        node_ip=node.node_ip,
        service_name="containerd",
        _if=config.did_change,
    )
    ops.service(name="containerd enabled and running", node_ip=node.node_ip, service_name="containerd")
