"""HAProxy on the control planes of an HA cluster: VIP:16443 -> every API server's :6443."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from deploys import TEMPLATES, ops
from deploys.model import Cluster

DEFAULTS: dict[str, object] = {
    "haproxy_stats_port": 1080,  # stats page, bound to the node IP, user "admin", generated password
}
CONFIG = "/etc/haproxy/haproxy.cfg"
STATS_ENV = "/etc/haproxy/stats.env"
DROP_IN = "/etc/systemd/system/haproxy.service.d/kubeadm-pyinfra.conf"
CHECK = f"set -a && . {STATS_ENV} && haproxy -c -q -f {CONFIG}"


@deploy("HAProxy", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure HAProxy balances the API servers with /healthz checks, on control planes with keepalived."""
    node = cluster.node(host.name)
    here = ops.only(node.is_control_plane and cluster.keepalived)
    ops.packages(name="HAProxy installed", node_ip=node.node_ip, wanted={"haproxy": None}, _if=here)
    password = cluster.secrets.get("haproxy_stats_password", "")
    env = ops.secret_file(
        name="HAProxy stats credentials (0600)",
        dest=STATS_ENV,
        content=f"HAPROXY_STATS_PASSWORD={password}\n",
        _if=here,
    )
    drop_in = files.put(
        name="HAProxy reads its stats credentials",
        src=StringIO(f"[Service]\nEnvironmentFile={STATS_ENV}\n"),
        dest=DROP_IN,
        mode="644",
        _if=here,
    )
    config = files.template(
        name="HAProxy configuration",
        src=str(TEMPLATES / "haproxy" / "haproxy.cfg.j2"),
        dest=CONFIG,
        mode="644",
        cluster=cluster,
        node=node,
        _if=here,
    )
    ops.restart(
        name="HAProxy restarted (configuration changed)",
        node_ip=node.node_ip,
        service_name="haproxy",
        check=CHECK,
        daemon_reload=True,
        _if=[here, lambda: ops.changed([env, drop_in, config])],
    )
    ops.service(name="HAProxy enabled and running", node_ip=node.node_ip, service_name="haproxy", _if=here)
