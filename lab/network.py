"""The lab network: one namespace with a bridge; a veth per node. Nothing in the default namespace."""

from __future__ import annotations

from pathlib import Path

from lab import config
from lab.run import out, quiet, run


def netns_list() -> list[str]:
    """Names of the named network namespaces."""
    return [line.split()[0] for line in out(["ip", "netns", "list"], check=False).splitlines() if line.strip()]


def ensure_lab_net() -> None:
    """Create the lab namespace and its bridge with the gateway address, if missing."""
    ns = config.NET_NS
    if ns not in netns_list():
        run(["ip", "netns", "add", ns])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    if not quiet(["ip", "-n", ns, "link", "show", config.BRIDGE]):
        run(["ip", "-n", ns, "link", "add", config.BRIDGE, "type", "bridge"])
        run(["ip", "-n", ns, "addr", "add", f"{config.GATEWAY}/{config.PREFIX_LEN}", "dev", config.BRIDGE])
    run(["ip", "-n", ns, "link", "set", config.BRIDGE, "up"])


def veth_name(node: str) -> str:
    """The bridge-side veth name of a node (at most 15 characters)."""
    return ("v" + node.removeprefix(config.NODE_PREFIX))[:15]


def attach_node(node_name: str, netns: str, ip: str, container_pid: int) -> None:
    """Name the container's network namespace and wire it to the bridge with a static address."""
    if netns not in netns_list():
        run(["ip", "netns", "attach", netns, str(container_pid)])
    veth = veth_name(node_name)
    quiet(["ip", "-n", config.NET_NS, "link", "del", veth])
    run(["ip", "-n", config.NET_NS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns])
    run(["ip", "-n", config.NET_NS, "link", "set", veth, "master", config.BRIDGE, "up"])
    run(["ip", "-n", netns, "link", "set", "lo", "up"])
    run(["ip", "-n", netns, "addr", "add", f"{ip}/{config.PREFIX_LEN}", "dev", "eth0"])
    run(["ip", "-n", netns, "link", "set", "eth0", "up"])
    run(["ip", "-n", netns, "route", "add", "default", "via", config.GATEWAY])


def delete_netns(name: str) -> None:
    """Delete a named namespace if present (also a stale mount point)."""
    if name in netns_list():
        quiet(["ip", "netns", "del", name])
    stale = Path("/run/netns") / name
    if stale.exists():
        quiet(["umount", str(stale)])
        stale.unlink(missing_ok=True)


def lab_namespaces() -> list[str]:
    """Every namespace the lab may have made."""
    return [n for n in netns_list() if n.startswith(config.NODE_NS_PREFIX)]
