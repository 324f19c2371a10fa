"""The checks, one function each: `check(target, cluster)` raises AssertionError saying what is wrong.

A library: add your own function to NODE_CHECKS, CONTROL_PLANE_CHECKS or CLUSTER_CHECKS
(or write a test that calls these) and `make verify` runs it on every matching host.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import shlex
import time
import warnings
from datetime import datetime, timedelta, timezone
from typing import Callable


from deploys import certificates, control_plane, haproxy
from deploys.facts import SYSCTLS
from tests.verify.targets import Cluster, Target

Check = Callable[[Target, Cluster], None]


# ------------------------------------------------------------------ every node


def containerd_runs_with_systemd_cgroups(t: Target, c: Cluster) -> None:
    service = t.host.service("containerd")
    assert service.is_running, "containerd is not running"
    assert service.is_enabled, "containerd is not enabled"
    dump = t.run("containerd config dump")
    assert dump.rc == 0, f"containerd config dump failed: {dump.stderr.strip()}"
    assert re.search(r"^\s*SystemdCgroup = true", dump.stdout, re.M), "live containerd config lacks SystemdCgroup = true"
    assert c.model.pause_image in dump.stdout, f"live containerd config does not use {c.model.pause_image}"


def kube_packages_pinned_and_held(t: Target, c: Cluster) -> None:
    wanted = c.model.kube_package_version
    held = set(t.run("apt-mark showhold").stdout.split())
    for name in ("kubelet", "kubeadm", "kubectl"):
        package = t.host.package(name)
        assert package.is_installed, f"{name} is not installed"
        assert package.version == wanted, f"{name} is {package.version}, expected {wanted}"
        assert name in held, f"{name} is not held (apt-mark hold)"
    assert t.host.service("kubelet").is_enabled, "kubelet is not enabled"


def swap_off(t: Target, c: Cluster) -> None:
    swaps = t.host.file("/proc/swaps").content_string.strip().splitlines()[1:]
    assert not swaps, f"swap is active: {swaps}"
    fstab = t.host.file("/etc/fstab")
    if fstab.exists:
        active = [l for l in fstab.content_string.splitlines() if re.match(r"^[^#].*\sswap\s", l)]
        assert not active, f"swap enabled in /etc/fstab: {active}"


def sysctls_set(t: Target, c: Cluster) -> None:
    for key, value in SYSCTLS.items():
        live = t.run(f"sysctl -n {key}").stdout.strip()
        assert live == value, f"{key} = {live!r}, expected {value}"


def node_joined(t: Target, c: Cluster) -> None:
    assert t.host.file("/etc/kubernetes/kubelet.conf").exists, "not joined: /etc/kubernetes/kubelet.conf missing"


def api_answers_through_endpoint(t: Target, c: Cluster) -> None:
    url = f"https://{c.model.endpoint}/healthz"
    out = t.run(f"curl -sk --max-time 5 {url}")
    assert out.stdout.strip() == "ok", f"{url} from {t.node.name}: {out.stdout.strip() or out.stderr.strip()!r}"


def containerd_release_installed(t: Target, c: Cluster) -> None:
    version = c.model.setting("containerd_version")
    stamp = f"/var/lib/kubeadm-pyinfra/containerd-{version}.done"
    assert t.host.file(stamp).exists, f"containerd {version} was not installed by the deploy ({stamp} missing)"
    out = t.run("/usr/local/bin/containerd --version")
    assert out.rc == 0, f"/usr/local/bin/containerd does not run: {out.stderr.strip()}"
    distro = t.host.package("containerd")
    assert not distro.is_installed, f"the distribution's containerd {distro.version} is still installed"


def mode_of(t: Target, path: str) -> str:
    """PATH's permission bits on the node, e.g. "600" ("" if it does not exist)."""
    return t.run(f"stat -c %a {shlex.quote(path)}").stdout.strip()


def kubelet_files_private(t: Target, c: Cluster) -> None:
    """CIS Kubernetes Benchmark 4.1.1 (kubelet service configuration) and 4.1.9 (kubelet config.yaml): 600."""
    for path in ("/etc/default/kubelet", "/var/lib/kubelet/config.yaml"):
        mode = mode_of(t, path)
        assert mode == "600", f"{path} has mode {mode or 'missing'}, expected 600"


NODE_CHECKS: list[Check] = [
    containerd_release_installed,
    containerd_runs_with_systemd_cgroups,
    kube_packages_pinned_and_held,
    swap_off,
    sysctls_set,
    node_joined,
    api_answers_through_endpoint,
    kubelet_files_private,
]


# --------------------------------------------------- control planes (keepalived)


def haproxy_balances_every_control_plane(t: Target, c: Cluster) -> None:
    assert t.host.service("haproxy").is_running, "haproxy is not running"
    assert t.host.socket(f"tcp://0.0.0.0:{c.model.api_lb_port}").is_listening, f"nothing listens on :{c.model.api_lb_port}"
    port = c.model.setting("haproxy_stats_port")
    address = haproxy.stats_address(c.model, t.node)
    if address != t.node.node_ip:  # off the network unless haproxy_stats_bind asks for the node IP
        assert not t.host.socket(f"tcp://{t.node.node_ip}:{port}").is_listening, f"stats page on {t.node.node_ip}:{port}"
    # The password stays on the node: read from its 0600 env file there.
    stats = t.run(
        '. /etc/haproxy/stats.env && curl -s --max-time 5 -u "admin:$HAPROXY_STATS_PASSWORD" '
        f"'http://{address}:{port}/stats;csv'"
    )
    rows = {
        line.split(",")[1]: line.split(",")[17]
        for line in stats.stdout.splitlines()
        if line.startswith("kubernetes-apiserver,") and len(line.split(",")) > 17
    }
    for cp in c.model.control_planes:
        assert cp.node_name in rows, f"backend {cp.node_name} missing from HAProxy (stats: {sorted(rows)})"
        if c.targets[cp.name].reachable:  # a node that is down is reported once, by node_up
            assert rows[cp.node_name] == "UP", f"HAProxy health check reports {cp.node_name} {rows[cp.node_name]}"


def keepalived_runs(t: Target, c: Cluster) -> None:
    assert t.host.service("keepalived").is_running, "keepalived is not running"
    assert t.host.service("keepalived").is_enabled, "keepalived is not enabled"


CONTROL_PLANE_CHECKS: list[Check] = [haproxy_balances_every_control_plane, keepalived_runs]


# ------------------------------------------------------------------ the cluster


def vip_held_by_exactly_one(c: Cluster) -> None:
    holders = [
        cp.name for cp in c.model.control_planes
        if c.targets[cp.name].reachable and f" {c.model.vip}/" in c.targets[cp.name].run("ip -o -4 addr show").stdout
    ]
    assert len(holders) == 1, f"VIP {c.model.vip} held by {holders or 'no control plane'}"


def every_host_registered(c: Cluster) -> None:
    out = c.kubectl("get nodes -o name")
    assert out.rc == 0, f"kubectl get nodes failed: {out.stderr.strip()}"
    registered = {line.split("/", 1)[-1] for line in out.stdout.split()}
    missing = sorted(n.node_name for n in c.model.nodes if n.node_name not in registered)
    assert not missing, f"not registered as nodes: {missing}"


def calico_applied_with_pod_cidr(c: Cluster) -> None:
    crd = c.kubectl("get crd installations.operator.tigera.io -o name")
    assert crd.rc == 0, "the tigera-operator was not applied (no Installation CRD)"
    out = c.kubectl("get installations.operator.tigera.io default -o json")
    assert out.rc == 0, f"no Calico Installation 'default': {out.stderr.strip()}"
    pools = json.loads(out.stdout)["spec"]["calicoNetwork"]["ipPools"]
    cidrs = [str(ipaddress.ip_network(p["cidr"])) for p in pools]
    assert cidrs == [c.model.pod_cidr], f"Calico IP pools {cidrs}, expected [{c.model.pod_cidr}]"


SETTLE_SECONDS = 180  # a cluster just deployed: calico-node starts and nodes turn Ready within this


def settled(check: Callable[[], None], timeout: float = SETTLE_SECONDS) -> None:
    """Run CHECK until it passes or TIMEOUT seconds have gone by (then its last failure stands)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


def _answering(c: Cluster) -> set[str]:
    """Node names of the hosts that answer (a node that is down is reported once, by node_up)."""
    return {n.node_name for n in c.model.nodes if c.targets[n.name].reachable}


def nodes_ready(c: Cluster) -> None:
    def check() -> None:
        items = json.loads(c.kubectl("get nodes -o json").stdout)["items"]
        not_ready = [
            i["metadata"]["name"] for i in items
            if i["metadata"]["name"] in _answering(c)
            and not any(x["type"] == "Ready" and x["status"] == "True" for x in i["status"]["conditions"])
        ]
        assert not not_ready, f"nodes not Ready: {not_ready}"

    settled(check)


def calico_pods_running(c: Cluster) -> None:
    def check() -> None:
        items = json.loads(c.kubectl("get pods -A -l k8s-app=calico-node -o json").stdout)["items"]
        running = {i["spec"].get("nodeName") for i in items if i["status"].get("phase") == "Running"}
        missing = sorted(_answering(c) - running)
        assert not missing, f"calico-node not Running on {missing}"

    settled(check)


ETCD_CLIENT = (
    "curl -s --max-time 5 --cacert /etc/kubernetes/pki/etcd/ca.crt"
    " --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
)


def etcd_members_are_the_control_planes(c: Cluster) -> None:
    """Stacked etcd: one member per control plane (by name and peer URL), every one healthy.

    Asked through etcd's own v3 JSON gateway with kubeadm's healthcheck client certificate,
    so it works wherever etcd runs (a static pod or the lab's Debian etcd).
    """
    asker = next((c.targets[cp.name] for cp in c.model.control_planes if c.targets[cp.name].reachable), None)
    assert asker is not None, "no control plane answers"
    out = asker.run(f"{ETCD_CLIENT} -X POST -d '{{}}' https://127.0.0.1:2379/v3/cluster/member/list")
    assert out.rc == 0 and out.stdout.strip(), f"etcd member list failed on {asker.node.name}: {out.stderr.strip()}"
    members = json.loads(out.stdout).get("members", [])
    by_name = {m.get("name"): m for m in members}
    expected = {cp.node_name: f"https://{cp.node_ip}:2380" for cp in c.model.control_planes}
    assert set(by_name) == set(expected), f"etcd members {sorted(by_name)}, expected the control planes {sorted(expected)}"
    for name, peer in expected.items():
        assert peer in by_name[name].get("peerURLs", []), f"etcd member {name} peers at {by_name[name].get('peerURLs')}, expected {peer}"
    for cp in c.model.control_planes:
        if not c.targets[cp.name].reachable:  # a node that is down is reported once, by node_up
            continue
        health = asker.run(f"{ETCD_CLIENT} https://{cp.node_ip}:2379/health")
        assert '"health":"true"' in health.stdout.replace(" ", ""), f"etcd on {cp.node_name} unhealthy: {health.stdout.strip() or health.stderr.strip()}"


PROBE = "kubeadm-pyinfra-encryption-probe"
PROBE_VALUE = "plaintext-kubeadm-pyinfra-probe"


def secrets_encrypted_in_etcd(c: Cluster) -> None:
    """A Secret read straight from etcd is stored encrypted (k8s:enc:secretbox:v1:...), not in plain text.

    A probe Secret is created with kubectl on a control plane, read from etcd's v3 JSON gateway
    (POST /v3/kv/range, base64 key and value) with kubeadm's healthcheck client certificate, and deleted.
    """
    asker = c.first
    kubectl = "kubectl --kubeconfig /etc/kubernetes/admin.conf -n default"
    secret = {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": PROBE, "namespace": "default"},
        "data": {"probe": base64.b64encode(PROBE_VALUE.encode()).decode()},
    }
    created = asker.run(f"printf '%s' {shlex.quote(json.dumps(secret))} | {kubectl} apply -f -")
    assert created.rc == 0, f"cannot create the probe Secret: {created.stderr.strip()}"
    try:
        key = base64.b64encode(f"/registry/secrets/default/{PROBE}".encode()).decode()
        body = shlex.quote(json.dumps({"key": key}))
        out = asker.run(f"{ETCD_CLIENT} -X POST -d {body} https://127.0.0.1:2379/v3/kv/range")
        assert out.rc == 0 and out.stdout.strip(), f"etcd range failed on {asker.node.name}: {out.stderr.strip()}"
        kvs = json.loads(out.stdout).get("kvs", [])
        assert kvs, f"the probe Secret is not in etcd at /registry/secrets/default/{PROBE}"
        stored = base64.b64decode(kvs[0]["value"])
        assert stored.startswith(b"k8s:enc:"), f"Secrets are stored in plain text in etcd: {stored[:40]!r}..."
        assert stored.startswith(b"k8s:enc:secretbox:v1:"), f"Secrets encrypted with another provider: {stored[:30]!r}"
        assert PROBE_VALUE.encode() not in stored and secret["data"]["probe"].encode() not in stored
    finally:
        asker.run(f"{kubectl} delete secret {PROBE} --ignore-not-found")


def control_planes_encrypt_and_audit(c: Cluster) -> None:
    """Every control plane: the encryption config and audit policy 0600 in 0700 folders; an audit log written."""
    for cp in c.model.control_planes:
        t = c.targets[cp.name]
        if not t.reachable:  # a node that is down is reported once, by node_up
            continue
        for path in (control_plane.ENCRYPTION_CONFIG, control_plane.AUDIT_POLICY):
            assert mode_of(t, path) == "600", f"{cp.name}: {path} has mode {mode_of(t, path) or 'missing'}, expected 600"
            folder = path.rsplit("/", 1)[0]
            assert mode_of(t, folder) == "700", f"{cp.name}: {folder} has mode {mode_of(t, folder)}, expected 700"
        log = t.run(f"test -s {control_plane.AUDIT_LOG} && tail -n 1 {control_plane.AUDIT_LOG}")
        assert log.rc == 0, f"{cp.name}: no API audit log at {control_plane.AUDIT_LOG}"
        assert json.loads(log.stdout).get("kind") == "Event", f"{cp.name}: the audit log holds no audit Event"


class CertificateExpiry(UserWarning):
    """A control plane's certificate expiry (reported for every control plane)."""


class CertificateExpiringSoon(UserWarning):
    """A control plane's certificate expires within cert_renew_days: run deploys/certs.py."""


def certificates_not_expired(c: Cluster) -> None:
    """Every control plane's kubeadm certificates: reported (warning), expiring within cert_renew_days warned
    about (renew with deploys/certs.py), expired or unreadable a failure. From `kubeadm certs check-expiration`."""
    days = c.model.setting("cert_renew_days")
    now = datetime.now(timezone.utc)
    problems, soon, report = [], [], []
    for cp in c.model.control_planes:
        t = c.targets[cp.name]
        if not t.reachable:  # a node that is down is reported once, by node_up
            continue
        out = t.run("kubeadm certs check-expiration")
        expiry = certificates.parse_expiration(out.stdout)
        first = certificates.earliest(expiry)
        if out.rc != 0 or first is None:
            problems.append(f"{cp.node_name}: kubeadm certs check-expiration failed: {(out.stderr or out.stdout).strip()[-200:]}")
            continue
        name, when = first
        left = when - now
        report.append(f"{cp.node_name}: {name} expires {when:%Y-%m-%d %H:%M} UTC ({left.days}d)")
        if left <= timedelta(0):
            problems.append(f"{cp.node_name}: certificate {name} expired on {when:%Y-%m-%d %H:%M} UTC")
        elif left < timedelta(days=days):
            soon.append(f"{cp.node_name}: {name} expires in {left.days}d ({when:%Y-%m-%d})")
    if report:
        warnings.warn(CertificateExpiry("certificate expiry: " + "; ".join(report)))
    if soon:
        warnings.warn(CertificateExpiringSoon(
            f"certificates expiring within cert_renew_days={days}: {'; '.join(soon)}; renew with "
            "`pyinfra -y INVENTORY deploys/certs.py`"
        ))
    assert not problems, "; ".join(problems)


CLUSTER_CHECKS: list[Callable[[Cluster], None]] = [
    certificates_not_expired,
    every_host_registered,
    etcd_members_are_the_control_planes,
    secrets_encrypted_in_etcd,
    control_planes_encrypt_and_audit,
    calico_applied_with_pod_cidr,
    nodes_ready,
    calico_pods_running,
]
HA_CLUSTER_CHECKS: list[Callable[[Cluster], None]] = [vip_held_by_exactly_one]
