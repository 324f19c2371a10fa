"""Certificates: the control planes' kubeadm certificates renewed one node at a time, for `deploys/certs.py`.

`kubeadm certs renew all` re-issues every certificate kubeadm made (cmd/kubeadm/app/cmd/certs.go,
newCmdCertsRenewal; phases/certs/renewal) and ends with "You must restart the kube-apiserver,
kube-controller-manager, kube-scheduler and etcd, so that they can use the new certificates". Static
pods restart when their manifest leaves /etc/kubernetes/manifests and comes back (kubernetes/website
content/en/docs/tasks/administer-cluster/kubeadm/kubeadm-certs.md, "Manual certificate renewal": move the
manifests out, wait fileCheckFrequency (20 s), move them back). One control plane at a time, each
followed by a health gate (its API server's /healthz, its etcd member's /health) before the next.
Expiry is read from `kubeadm certs check-expiration` (its table: NAME, "Mon DD, YYYY HH:MM UTC", ...).
"""

from __future__ import annotations

import datetime
import re
from typing import Iterator, Mapping

from pyinfra import host, logger
from pyinfra.api import FactBase, StringCommand, deploy, operation

from deploys import ops, schema
from deploys.facts import Owned, node_state
from deploys.model import Cluster
from deploys.schema import Key

KEYS: dict[str, Key] = {
    # deploys/certs.py renews when a control plane's certificate expires within this many days;
    # verification warns under it.
    "cert_renew_days": Key(30, schema.integer(1, 3650, "days")),
    "cert_renew_force": Key(False, schema.BOOL),  # renew now whatever the expiry
}
DEFAULTS = schema.defaults(KEYS)
OWNS = Owned()  # changes what the other components own (certificates, etcd members, Nodes)
DEPLOY = None  # not part of the cluster deploy: a day-2 entry runs it
MANIFESTS = "/etc/kubernetes/manifests"
PARKED = "/etc/kubernetes/manifests-parked"  # outside the kubelet's staticPodPath while they restart
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
FILE_CHECK_SECONDS = 20  # KubeletConfiguration fileCheckFrequency default
GATE_SECONDS = 180
RENEW_LOG = "/var/log/kubeadm-certs-renew.log"
_ROW = re.compile(r"^(?P<name>[a-z][a-z0-9.-]*)\s+(?P<date>[A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2} UTC)\s")


def parse_expiration(text: str) -> dict[str, datetime.datetime]:
    """Certificate (and CA) name -> expiry, from `kubeadm certs check-expiration` output."""
    out = {}
    for line in text.splitlines():
        match = _ROW.match(line.strip())
        if match:
            when = datetime.datetime.strptime(match.group("date"), "%b %d, %Y %H:%M UTC")
            out[match.group("name")] = when.replace(tzinfo=datetime.timezone.utc)
    return out


def earliest(expiry: Mapping[str, datetime.datetime]) -> tuple[str, datetime.datetime] | None:
    """The certificate that expires first (CAs included), or None when nothing was read."""
    if not expiry:
        return None
    name = min(expiry, key=lambda n: expiry[n])
    return name, expiry[name]


class CertExpiry(FactBase):
    """`kubeadm certs check-expiration` on a control plane, parsed (empty when kubeadm cannot tell)."""

    @staticmethod
    def default() -> dict[str, datetime.datetime]:
        return {}

    def command(self) -> str:
        return "kubeadm certs check-expiration 2>/dev/null || true"

    def process(self, output: list[str]) -> dict[str, datetime.datetime]:
        return parse_expiration("\n".join(output))


class ParkedManifests(FactBase):
    """Static pod manifests a killed run left out of /etc/kubernetes/manifests (their pods stopped)."""

    @staticmethod
    def default() -> int:
        return 0

    def command(self) -> str:
        return f"ls -1 {PARKED} 2>/dev/null | grep -c '[.]yaml$' || true"

    def process(self, output: list[str]) -> int:
        return int(output[0]) if output and output[0].strip().isdigit() else 0


def due(cluster: Cluster, expiry: Mapping[str, datetime.datetime], now: datetime.datetime | None = None) -> bool:
    """Whether a control plane's certificates are renewed this run."""
    if cluster.setting("cert_renew_force"):
        return True
    first = earliest(expiry)
    if first is None:
        return False
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return first[1] - now < datetime.timedelta(days=cluster.setting("cert_renew_days"))


def renew_script(node_ip: str, apiserver_port: int) -> str:
    """Renew, restart the static pods (parked and back), then wait for this node's API and etcd."""
    pods = " ".join(STATIC_PODS)
    return "; ".join([
        f"kubeadm certs renew all >>{RENEW_LOG} 2>&1 || {{ tail -n 20 {RENEW_LOG} >&2; exit 1; }}",
        f"install -d -m 700 {PARKED} || exit 1",
        # out of the kubelet's sight (a run killed while they were out left some here: they come back below)
        f"for p in {pods}; do [ -f {MANIFESTS}/$p.yaml ] && mv {MANIFESTS}/$p.yaml {PARKED}/; done; true",
        f"sleep {FILE_CHECK_SECONDS}",
        f"for p in {pods}; do [ -f {PARKED}/$p.yaml ] && mv {PARKED}/$p.yaml {MANIFESTS}/; done; true",
        "i=0",
        f"until curl -sk --max-time 3 https://{node_ip}:{apiserver_port}/healthz | grep -qx ok"
        " && curl -s --max-time 3 --cacert /etc/kubernetes/pki/etcd/ca.crt"
        " --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
        " https://127.0.0.1:2379/health | grep -q '\"health\":\"true\"'; do i=$((i + 1));"
        f" if [ $i -ge {GATE_SECONDS // 2} ]; then echo 'error: health gate: the API server /healthz or etcd /health"
        f" of {node_ip} did not answer within {GATE_SECONDS}s after the restart' >&2; exit 1; fi; sleep 2; done",
    ])


@operation()
def renewed(node_ip: str, apiserver_port: int) -> Iterator[StringCommand]:
    """Ensure this control plane's certificates are fresh and its static pods use them."""
    failed = [h.name for h in host.state.failed_hosts if h.name != host.name]
    if host.state.is_executing and failed:  # a gate failed on an earlier node: stop where it stopped
        yield ops.fail(f"not renewing: {', '.join(sorted(failed))} failed earlier in this run")
        return
    yield StringCommand(renew_script(node_ip, apiserver_port))
    # admin.conf holds a new client certificate: the kubeconfig is fetched again.
    node_state(host).files["/etc/kubernetes/admin.conf"] = ("600", "renewed")


@deploy("Certificates", data_defaults=DEFAULTS)
def renew(cluster: Cluster) -> None:
    """Renew the due control planes' certificates, one node at a time (serial), health gate after each."""
    node = cluster.node(host.name)
    expiry = host.get_fact(CertExpiry) if node.is_control_plane else {}
    parked = host.get_fact(ParkedManifests) if node.is_control_plane else 0
    first = earliest(expiry)
    if node.is_control_plane:
        when = f"{first[0]} expires {first[1]:%Y-%m-%d %H:%M} UTC" if first else "expiry unknown"
        action = "renew" if due(cluster, expiry) else f"nothing to renew (not within {cluster.setting('cert_renew_days')} days)"
        if parked:
            action += f"; {parked} static pod manifest(s) left parked by an earlier run: restart finished"
        logger.info(f"{host.print_prefix}certificates: {when}: {action}")
    ops.on(
        node.is_control_plane and (due(cluster, expiry) or parked > 0),
        renewed,
        name="Certificates renewed, static pods restarted, health gate (one control plane at a time)",
        node_ip=node.node_ip,
        apiserver_port=cluster.apiserver_port,
        _serial=True,
    )
