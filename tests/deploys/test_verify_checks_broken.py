"""Every check of tests/verify/checks.py passes on a healthy fake cluster and fails on a broken one.

The fake hosts answer testinfra's calls (service, package, file, socket) and the commands the
checks run from a table of knobs: the healthy world sets each knob as a converged cluster
would; each entry of BREAKS turns one knob (or a few) and names the check that must fail
and what it must say. A check with no entry in BREAKS fails the completeness test.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from deploys import components, model
from tests.deploys import shapes
from tests.verify import checks


@dataclass
class Answer:
    rc: int = 0
    stdout: str = ""
    stderr: str = ""


@dataclass
class Service:
    is_running: bool
    is_enabled: bool


@dataclass
class Package:
    is_installed: bool
    version: str = ""


@dataclass
class File:
    exists: bool
    content_string: str = ""


@dataclass
class Socket:
    is_listening: bool


def healthy(cluster: model.Cluster) -> dict[str, Any]:
    """The knobs of a converged cluster."""
    cps = [n.node_name for n in cluster.control_planes]
    names = [n.node_name for n in cluster.nodes]
    return {
        "services": {"containerd": (True, True), "kubelet": (True, True), "haproxy": (True, True),
                     "keepalived": (True, True)},
        "containerd_dump": f"version = 3\n  SystemdCgroup = true\n  sandbox = '{cluster.pause_image}'\n",
        "packages": {name: cluster.kube_package_version for name in ("kubelet", "kubeadm", "kubectl")},
        "held": ["kubeadm", "kubectl", "kubelet", "cri-tools"],
        "swaps": "Filename\tType\tSize\tUsed\tPriority\n",
        "fstab": "UUID=1 / ext4 defaults 0 1\n#/swapfile none swap sw 0 0\n",
        "sysctls": {"net.bridge.bridge-nf-call-iptables": "1", "net.bridge.bridge-nf-call-ip6tables": "1",
                    "net.ipv4.ip_forward": "1"},
        "files": {"/etc/kubernetes/kubelet.conf",
                  f"/var/lib/kubeadm-pyinfra/containerd-{cluster.setting('containerd_version')}.done"},
        "healthz": "ok",
        "containerd_runs": True,
        "modes": {"/etc/default/kubelet": "600", "/var/lib/kubelet/config.yaml": "600",
                  "/etc/kubernetes/encryption/config.yaml": "600", "/etc/kubernetes/encryption": "700",
                  "/etc/kubernetes/audit/policy.yaml": "600", "/etc/kubernetes/audit": "700"},
        "listening": {f"tcp://0.0.0.0:{cluster.api_lb_port}"},
        "backends": {name: "UP" for name in cps},
        "vip_holders": cps[:1],
        "registered": names,
        "calico_crd": True,
        "pools": [cluster.pod_cidr],
        "ready": names,
        "calico_running": names,
        "etcd_members": {n.node_name: f"https://{n.node_ip}:2380" for n in cluster.control_planes},
        "etcd_healthy": True,
        "etcd_value": b"k8s:enc:secretbox:v1:key-0123456789ab:\x93\x02\xfe...",
        "audit_tail": '{"kind":"Event","apiVersion":"audit.k8s.io/v1"}',
        "cert_days": 300,  # kubeadm certs check-expiration: days left
    }


@dataclass
class FakeHost:
    """testinfra's host API, answered from the knobs."""

    knobs: dict[str, Any]

    def service(self, name: str) -> Service:
        return Service(*self.knobs["services"].get(name, (False, False)))

    def package(self, name: str) -> Package:
        version = self.knobs["packages"].get(name)
        return Package(version is not None, version or "")

    def file(self, path: str) -> File:
        if path == "/proc/swaps":
            return File(True, self.knobs["swaps"])
        if path == "/etc/fstab":
            return File(True, self.knobs["fstab"])
        return File(path in self.knobs["files"])

    def socket(self, url: str) -> Socket:
        return Socket(url in self.knobs["listening"])


@dataclass
class FakeTarget:
    node: model.Node
    cluster: model.Cluster
    knobs: dict[str, Any]
    reachable: bool = True
    ran: list[str] = field(default_factory=list)

    @property
    def host(self) -> FakeHost:
        return FakeHost(self.knobs)

    def run(self, command: str) -> Answer:  # noqa: C901 (one branch per command a check runs)
        self.ran.append(command)
        k, c = self.knobs, self.cluster
        if command == "containerd config dump":
            return Answer(stdout=k["containerd_dump"])
        if command == "apt-mark showhold":
            return Answer(stdout="\n".join(k["held"]) + "\n")
        if command.startswith("sysctl -n "):
            return Answer(stdout=k["sysctls"].get(command.split()[-1], "") + "\n")
        if "/healthz" in command:
            return Answer(stdout=k["healthz"])
        if command == "/usr/local/bin/containerd --version":
            return Answer(0, "containerd v2") if k["containerd_runs"] else Answer(127, "", "not found")
        if command.startswith("stat -c %a "):
            return Answer(stdout=k["modes"].get(command.split()[-1], "") + "\n")
        if "stats;csv" in command:
            rows = ["# pxname,svname," + ",".join(f"f{i}" for i in range(2, 20))]
            for name, status in k["backends"].items():
                cells = ["kubernetes-apiserver", name] + ["0"] * 15 + [status, "x", "y"]
                rows.append(",".join(cells))
            return Answer(stdout="\n".join(rows) + "\n")
        if command == "ip -o -4 addr show":
            held = self.node.node_name in k["vip_holders"]
            extra = f"\n2: eth0    inet {c.vip}/24 scope global secondary eth0" if held else ""
            return Answer(stdout=f"2: eth0    inet {self.node.node_ip}/24 brd x scope global eth0{extra}\n")
        if "get nodes -o name" in command:
            return Answer(stdout="".join(f"node/{n}\n" for n in k["registered"]))
        if "get crd installations.operator.tigera.io" in command:
            return Answer(0, "crd/x") if k["calico_crd"] else Answer(1, "", "NotFound")
        if "get installations.operator.tigera.io default" in command:
            pools = [{"cidr": cidr} for cidr in k["pools"]]
            return Answer(stdout=json.dumps({"spec": {"calicoNetwork": {"ipPools": pools}}}))
        if "get nodes -o json" in command:
            items = [{"metadata": {"name": n}, "status": {"conditions": [
                {"type": "Ready", "status": "True" if n in k["ready"] else "False"}]}} for n in k["registered"]]
            return Answer(stdout=json.dumps({"items": items}))
        if "k8s-app=calico-node" in command:
            items = [{"spec": {"nodeName": n}, "status": {"phase": "Running"}} for n in k["calico_running"]]
            return Answer(stdout=json.dumps({"items": items}))
        if "member/list" in command:
            members = [{"name": name, "peerURLs": [peer]} for name, peer in k["etcd_members"].items()]
            return Answer(stdout=json.dumps({"members": members}))
        if command.endswith(":2379/health"):
            return Answer(stdout='{"health": "true"}' if k["etcd_healthy"] else '{"health":"false"}')
        if "apply -f -" in command or "delete secret" in command:
            return Answer()
        if "kv/range" in command:
            value = base64.b64encode(k["etcd_value"]).decode()
            return Answer(stdout=json.dumps({"kvs": [{"value": value}]}))
        if "audit/audit.log" in command:
            return Answer(0, k["audit_tail"] + "\n") if k["audit_tail"] else Answer(1)
        if command == "kubeadm certs check-expiration":
            if k["cert_days"] is None:
                return Answer(1, "", "error: failed to load the kubeadm configuration")
            import datetime

            when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=k["cert_days"])
            return Answer(stdout="CERTIFICATE  EXPIRES  RESIDUAL TIME\n"
                                 f"apiserver                  {when:%b %d, %Y %H:%M} UTC   {int(k['cert_days'])}d   ca   no\n")
        raise AssertionError(f"the fake host was asked an unexpected command: {command}")


@dataclass
class FakeCluster:
    model: model.Cluster
    targets: dict[str, FakeTarget]

    @property
    def first(self) -> FakeTarget:
        return next(self.targets[n.name] for n in self.model.control_planes if self.targets[n.name].reachable)

    def kubectl(self, args: str) -> Answer:
        return self.first.run(f"kubectl --kubeconfig /etc/kubernetes/admin.conf {args}")


@pytest.fixture(scope="module")
def ha_model(tmp_path_factory: pytest.TempPathFactory) -> model.Cluster:
    private = {"secrets_dir": str(tmp_path_factory.mktemp("s")), "kubeconfig_path": "/nonexistent/admin.conf"}
    return model.build(shapes.prod(private), components.defaults())


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks that wait for a cluster to settle look once."""
    monkeypatch.setattr(checks, "settled", lambda check, timeout=0: check())


def fake(cluster: model.Cluster, knobs: dict[str, Any]) -> FakeCluster:
    return FakeCluster(cluster, {n.name: FakeTarget(n, cluster, knobs) for n in cluster.nodes})


def run_check(check: Callable[..., None], c: FakeCluster) -> None:
    """Run CHECK where `make verify` runs it: every node, every keepalived control plane, or the cluster."""
    if check in checks.NODE_CHECKS:
        for node in c.model.nodes:
            check(c.targets[node.name], c)
    elif check in checks.CONTROL_PLANE_CHECKS:
        for node in c.model.control_planes:
            check(c.targets[node.name], c)
    else:
        check(c)


ALL_CHECKS = [*checks.NODE_CHECKS, *checks.CONTROL_PLANE_CHECKS, *checks.CLUSTER_CHECKS, *checks.HA_CLUSTER_CHECKS]


def _set(**changes: Any) -> Callable[[dict[str, Any]], None]:
    def apply(knobs: dict[str, Any]) -> None:
        knobs.update(changes)
    return apply


def _edit(key: str, edit: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    def apply(knobs: dict[str, Any]) -> None:
        knobs[key] = edit(knobs[key])
    return apply


def _service(name: str, running: bool, enabled: bool) -> Callable[[dict[str, Any]], None]:
    return _edit("services", lambda s: {**s, name: (running, enabled)})


def _mode(path: str, mode: str) -> Callable[[dict[str, Any]], None]:
    return _edit("modes", lambda m: {**m, path: mode})


# (check name, breakage, what the failure says)
BREAKS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("containerd_release_installed", _edit("files", lambda f: {p for p in f if "containerd-" not in p}), "was not installed"),
    ("containerd_release_installed", _set(containerd_runs=False), "does not run"),
    ("containerd_release_installed", _edit("packages", lambda p: {**p, "containerd": "1.6.20"}), "distribution's containerd"),
    ("containerd_runs_with_systemd_cgroups", _service("containerd", False, True), "not running"),
    ("containerd_runs_with_systemd_cgroups", _service("containerd", True, False), "not enabled"),
    ("containerd_runs_with_systemd_cgroups", _edit("containerd_dump", lambda d: d.replace("true", "false")), "SystemdCgroup"),
    ("containerd_runs_with_systemd_cgroups", _edit("containerd_dump", lambda d: re.sub(r"pause:\S+'", "pause:3.9'", d)), "does not use"),
    ("kube_packages_pinned_and_held", _edit("packages", lambda p: {k: v for k, v in p.items() if k != "kubectl"}), "kubectl is not installed"),
    ("kube_packages_pinned_and_held", _edit("packages", lambda p: {**p, "kubelet": "1.30.0-1.1"}), "kubelet is 1.30.0-1.1"),
    ("kube_packages_pinned_and_held", _edit("held", lambda h: [x for x in h if x != "kubeadm"]), "kubeadm is not held"),
    ("kube_packages_pinned_and_held", _service("kubelet", True, False), "kubelet is not enabled"),
    ("certificates_not_expired", _set(cert_days=-1), "expired on"),
    ("certificates_not_expired", _set(cert_days=None), "check-expiration failed"),
    ("swap_off", _edit("swaps", lambda s: s + "/swapfile file 1024 0 -2\n"), "swap is active"),
    ("swap_off", _edit("fstab", lambda f: f + "/swapfile none swap sw 0 0\n"), "swap enabled in /etc/fstab"),
    ("sysctls_set", _edit("sysctls", lambda s: {**s, "net.ipv4.ip_forward": "0"}), "net.ipv4.ip_forward"),
    ("node_joined", _edit("files", lambda f: f - {"/etc/kubernetes/kubelet.conf"}), "not joined"),
    ("api_answers_through_endpoint", _set(healthz="Unauthorized"), "/healthz"),
    ("kubelet_files_private", _mode("/etc/default/kubelet", "644"), "/etc/default/kubelet has mode 644"),
    ("kubelet_files_private", _mode("/var/lib/kubelet/config.yaml", ""), "config.yaml has mode missing"),
    ("haproxy_balances_every_control_plane", _service("haproxy", False, True), "haproxy is not running"),
    ("haproxy_balances_every_control_plane", _set(listening=set()), "nothing listens"),
    ("haproxy_balances_every_control_plane",
     lambda k: k["listening"].add("tcp://192.168.11.221:1080"), "stats page on 192.168.11.221:1080"),
    ("haproxy_balances_every_control_plane", _edit("backends", lambda b: dict(list(b.items())[:2])), "missing from HAProxy"),
    ("haproxy_balances_every_control_plane", _edit("backends", lambda b: {**b, "k8s-master-node1": "DOWN"}), "reports k8s-master-node1 DOWN"),
    ("keepalived_runs", _service("keepalived", False, True), "keepalived is not running"),
    ("keepalived_runs", _service("keepalived", True, False), "keepalived is not enabled"),
    ("vip_held_by_exactly_one", _set(vip_holders=[]), "held by no control plane"),
    ("vip_held_by_exactly_one", _set(vip_holders=["k8s-master-node0", "k8s-master-node2"]), "held by"),
    ("every_host_registered", _edit("registered", lambda r: r[:-1]), "not registered as nodes"),
    ("etcd_members_are_the_control_planes", _edit("etcd_members", lambda m: dict(list(m.items())[:2])), "etcd members"),
    ("etcd_members_are_the_control_planes",
     _edit("etcd_members", lambda m: {**m, "k8s-master-node2": "https://10.9.9.9:2380"}), "peers at"),
    ("etcd_members_are_the_control_planes", _set(etcd_healthy=False), "unhealthy"),
    ("secrets_encrypted_in_etcd", _set(etcd_value=b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret plaintext-kubeadm-pyinfra-probe"), "plain text"),
    ("secrets_encrypted_in_etcd", _set(etcd_value=b"k8s:enc:aescbc:v1:key1:\x00"), "another provider"),
    ("control_planes_encrypt_and_audit", _mode("/etc/kubernetes/encryption/config.yaml", "644"), "mode 644, expected 600"),
    ("control_planes_encrypt_and_audit", _mode("/etc/kubernetes/audit", "755"), "mode 755, expected 700"),
    ("control_planes_encrypt_and_audit", _set(audit_tail=""), "no API audit log"),
    ("control_planes_encrypt_and_audit", _set(audit_tail='{"kind":"EventList"}'), "no audit Event"),
    ("calico_applied_with_pod_cidr", _set(calico_crd=False), "no Installation CRD"),
    ("calico_applied_with_pod_cidr", _set(pools=["10.99.0.0/16"]), "Calico IP pools"),
    ("nodes_ready", _edit("ready", lambda r: r[1:]), "nodes not Ready"),
    ("calico_pods_running", _edit("calico_running", lambda r: r[:-1]), "calico-node not Running"),
]


def test_every_check_passes_on_a_healthy_cluster(ha_model: model.Cluster) -> None:
    for check in ALL_CHECKS:
        run_check(check, fake(ha_model, healthy(ha_model)))


def test_every_check_has_a_broken_host(ha_model: model.Cluster) -> None:
    broken = {name for name, _, _ in BREAKS}
    missing = [check.__name__ for check in ALL_CHECKS if check.__name__ not in broken]
    assert not missing, f"checks never shown to fail: {missing}"
    assert broken <= {check.__name__ for check in ALL_CHECKS}


@pytest.mark.parametrize(("name", "breakage", "message"), BREAKS,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(BREAKS)])
def test_each_check_fails_on_its_broken_host(ha_model: model.Cluster, name: str,
                                             breakage: Callable[[dict[str, Any]], None], message: str) -> None:
    check = next(c for c in ALL_CHECKS if c.__name__ == name)
    knobs = healthy(ha_model)
    knobs["listening"] = set(knobs["listening"])
    breakage(knobs)
    with pytest.raises(AssertionError, match=re.escape(message)):
        run_check(check, fake(ha_model, knobs))
