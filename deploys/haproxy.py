"""HAProxy on the control planes of an HA cluster: VIP:16443 -> every API server's :6443."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops, schema
from deploys.facts import Owned
from deploys.model import Cluster, Node
from deploys.schema import Key
from deploys.templates import render

STATS_BINDS = ("loopback", "node_ip")
KEYS: dict[str, Key] = {
    "haproxy_stats_port": Key(1080, schema.PORT),  # stats page, user "admin", generated password
    # Where the stats page listens: 127.0.0.1 (reach it through SSH), or the node IP when asked for.
    "haproxy_stats_bind": Key("loopback", schema.enum(STATS_BINDS)),
}
DEFAULTS = schema.defaults(KEYS)
CONFIG = "/etc/haproxy/haproxy.cfg"
STATS_ENV = "/etc/haproxy/stats.env"
DROP_IN = "/etc/systemd/system/haproxy.service.d/kubeadm-pyinfra.conf"
CHECK = f"set -a && . {STATS_ENV} && haproxy -c -q -f {CONFIG}"
OWNS = Owned(files=(CONFIG, STATS_ENV, DROP_IN), packages=("haproxy",), services=("haproxy",))


def stats_address(cluster: Cluster, node: Node) -> str:
    """The address HAProxy's stats page listens on: loopback unless haproxy_stats_bind asks for the node IP."""
    return node.node_ip if cluster.setting("haproxy_stats_bind") == "node_ip" else "127.0.0.1"


@deploy("HAProxy", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure HAProxy balances the API servers with /healthz checks, on control planes with keepalived."""
    node = cluster.node(host.name)
    here = node.is_control_plane and cluster.keepalived
    ops.on(here, ops.packages, name="HAProxy installed", wanted={"haproxy": None})
    password = cluster.secrets.get("haproxy_stats_password", "")
    env = ops.on(
        here,
        ops.file,
        name="HAProxy stats credentials (0600)",
        dest=STATS_ENV,
        content=f"HAPROXY_STATS_PASSWORD={password}\n",
        mode="600",
    )
    drop_in = ops.on(
        here,
        ops.file,
        name="HAProxy reads its stats credentials",
        dest=DROP_IN,
        content=f"[Service]\nEnvironmentFile={STATS_ENV}\n",
    )
    config = ops.on(
        here,
        ops.file,
        name="HAProxy configuration",
        dest=CONFIG,
        content=lambda: render(
            "haproxy/haproxy.cfg.j2", cluster=cluster, stats_address=stats_address(cluster, node), stats_env=STATS_ENV
        ),
    )
    ops.on(
        here,
        ops.restart,
        name="HAProxy restarted (configuration changed)",
        service_name="haproxy",
        check=CHECK,
        daemon_reload=True,
        _if=lambda: ops.changed([env, drop_in, config]),
    )
    ops.on(here, ops.service, name="HAProxy enabled and running", service_name="haproxy")


DEPLOY = install  # run by deploys/cluster.py, in components.COMPONENTS order
