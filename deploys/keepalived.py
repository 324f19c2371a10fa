"""keepalived on the control planes of an HA cluster: the VIP follows a healthy HAProxy."""

from __future__ import annotations

import ipaddress

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import OperationError

from deploys import ops, schema
from deploys.facts import Owned, node_state
from deploys.model import Cluster, Node
from deploys.schema import Key
from deploys.templates import render

KEYS: dict[str, Key] = {
    "keepalived_router_id": Key(51, schema.integer(1, 255)),  # VRRP virtual_router_id, unique per segment
    "keepalived_unicast": Key(False, schema.BOOL),  # True: unicast peers, for networks that block multicast
}  # keepalived_interface (per host) is the model's: it is part of each Node
DEFAULTS = schema.defaults(KEYS)
CONFIG = "/etc/keepalived/keepalived.conf"
AUTH = "/etc/keepalived/vrrp-auth.conf"
CHECK = f"keepalived --config-test -f {CONFIG}"
MASTER_PRIORITY = 250
OWNS = Owned(files=(CONFIG, AUTH), packages=("keepalived",), services=("keepalived",))


def priority(node: Node) -> int:
    """MASTER (the first control plane) 250, then 240, 230... on the BACKUPs."""
    return MASTER_PRIORITY - 10 * node.index


@deploy("keepalived", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure keepalived holds the VIP on the best control plane whose HAProxy is active."""
    node = cluster.node(host.name)
    here = node.is_control_plane and cluster.keepalived
    ops.on(here, ops.packages, name="keepalived installed", wanted={"keepalived": None})
    auth = ops.on(
        here,
        ops.file,
        name="VRRP authentication (0600)",
        dest=AUTH,
        content=f"auth_type PASS\nauth_pass {cluster.secrets.get('keepalived_auth_pass', '')}\n",
        mode="600",
    )
    config = ops.on(
        here,
        ops.file,
        name="keepalived configuration",
        dest=CONFIG,
        content=lambda: config_text(cluster, node),
    )
    ops.on(
        here,
        ops.restart,
        name="keepalived restarted (configuration changed)",
        service_name="keepalived",
        check=CHECK,
        _if=lambda: ops.changed([auth, config]),
    )
    ops.on(here, ops.service, name="keepalived enabled and running", service_name="keepalived")


def config_text(cluster: Cluster, node: Node) -> str:
    """keepalived.conf for NODE, on the interface given or the one holding its node IP."""
    interface = node.keepalived_interface or node_state(host).node_ip_interface
    if not interface:  # raised at execution: pyinfra fails this host with the message
        raise OperationError(
            f"host {host.name!r}: no interface holds node_ip {node.node_ip}; "
            "set 'keepalived_interface' or fix 'node_ip'"
        )
    if not schema.INTERFACE.valid(interface):  # the host's own answer is checked like data
        raise OperationError(
            f"host {host.name!r}: the interface holding node_ip is named {interface!r}, which is no "
            "interface name keepalived.conf can hold; set 'keepalived_interface'"
        )
    return render(
        "keepalived/keepalived.conf.j2",
        cluster=cluster,
        node=node,
        interface=interface,
        priority=priority(node),
        prefix=ipaddress.IPv4Network(cluster.node_network).prefixlen,
        auth_file=AUTH,
    )


DEPLOY = install  # run by deploys/cluster.py, in components.COMPONENTS order
