"""Rules shared by the model, the cloud tools and the kubespray interop: one home for each.

The model (deploys/model.py) validates with them; cloud/ and interop/ import them from here, so a
rule changed here changes everywhere (deploys imports nothing from cloud/, interop/, lab/ or tests/).
"""

from __future__ import annotations

import ipaddress
from typing import Any

# Without node_network, the control planes' network is the /24 around the first control plane.
DEFAULT_NODE_PREFIX = 24


def is_ip(value: Any) -> bool:
    """VALUE, as text, is an IPv4 or IPv6 address (ASCII digits, no leading zeros, no prefix)."""
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return False
    return True


def is_ipv4(value: Any) -> bool:
    """VALUE, as text, is an IPv4 address in dotted-quad form (ASCII digits, no leading zeros)."""
    try:
        ipaddress.IPv4Address(str(value))
    except ValueError:
        return False
    return True


def unusable_address(address: str | ipaddress.IPv4Address) -> str | None:
    """Why ADDRESS (an IPv4 address) cannot be a node's address, if it cannot."""
    ip = ipaddress.IPv4Address(address)
    if ip.is_loopback:
        return "a loopback address the other nodes cannot reach"
    if ip.is_unspecified or ip.is_multicast or ip.is_reserved:
        return "not a unicast host address"
    return None


def default_node_network(first_control_plane_ip: str) -> ipaddress.IPv4Network:
    """The node network when node_network is not set: the /24 around the first control plane's IP."""
    return ipaddress.IPv4Network(f"{first_control_plane_ip}/{DEFAULT_NODE_PREFIX}", strict=False)


def odd_control_plane_count(count: int) -> bool:
    """Stacked etcd (one member per control plane) keeps quorum through a failure only with an odd number
    of members (1, 3, 5, ...): an even number tolerates no more failures than one fewer, and splits evenly.
    (etcd FAQ, "Why an odd number of cluster members?"; kubeadm's HA guide: "minimum three".)"""
    return count > 0 and count % 2 == 1
