"""The kubeadm stand-in (lab/standins/node/kubeadm.py) against upstream kubeadm's behaviour, host-free.

Config decoding, flags, preflight (with a fake root and probe), the files of each phase and the
failure switch run in-process; the API phases (kubeadm-config, tokens, cluster-info, kubeadm-certs),
token create, discovery, download-certs and the etcd member calls run against the API server
stand-in and Debian's etcd on loopback. Nothing here contacts dl.k8s.io: the version lookup is
replaced by a function that fails like an air-gapped host.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

NODE = Path(__file__).resolve().parents[2] / "lab" / "standins" / "node"
ETCD = shutil.which("etcd") or "/usr/bin/etcd"

INIT = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
  - ttl: 2h
localAPIEndpoint: {advertiseAddress: 10.77.0.11, bindPort: 6443}
nodeRegistration:
  name: lab-cp1
  criSocket: unix:///run/containerd/containerd.sock
  kubeletExtraArgs: [{name: node-ip, value: "10.77.0.11"}]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
clusterName: lab
kubernetesVersion: v1.37.1
controlPlaneEndpoint: "10.77.0.100:16443"
imageRepository: registry.k8s.io
networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, dnsDomain: cluster.local}
apiServer:
  certSANs: ["10.77.0.100"]
  extraArgs: [{name: encryption-provider-config, value: /etc/kubernetes/enc/config.yaml}]
  extraVolumes: [{name: enc, hostPath: /etc/kubernetes/enc, mountPath: /etc/kubernetes/enc, readOnly: true}]
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
"""


@pytest.fixture()
def kubeadm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in module as the 1.37.1 package builds it, writing under a scratch root, offline."""
    sys.path.insert(0, str(NODE))
    try:
        module = importlib.import_module("kubeadm")
        monkeypatch.setattr(module.standin, "KUBE_VERSION", "1.37.1")
        monkeypatch.setattr(module.standin, "LOG", tmp_path / "standin.log")
        monkeypatch.setattr(module, "ROOT", tmp_path / "root")
        monkeypatch.setattr(module, "systemctl", lambda *args: None)

        def offline(url: str, timeout: float) -> str:
            raise OSError(f'unable to get URL "{url}": Get "{url}": dial tcp: lookup dl.k8s.io: no such host')
        monkeypatch.setattr(module, "fetch_url", offline)
        (tmp_path / "root").mkdir()
        yield module
    finally:
        sys.path.remove(str(NODE))


def bad(kubeadm: Any, text: str, version: str | None = None) -> str:
    """The ValueError message decode() raises."""
    with pytest.raises(ValueError) as info:
        kubeadm.decode(text, version)
    return str(info.value)


# ---------------------------------------------------------------- config API

def test_the_deploys_shape_of_config_decodes(kubeadm: Any) -> None:
    docs = kubeadm.decode(INIT)
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    assert docs["ClusterConfiguration"]["apiServer"]["extraArgs"][0]["name"] == "encryption-provider-config"


@pytest.mark.parametrize("old,new,message", [
    ("podSubnet:", "podSubnett:", 'Kind:"ClusterConfiguration"}: strict decoding error: unknown field '
                                  '"networking.podSubnett"'),
    ("certSANs:", "certSans:", 'strict decoding error: unknown field "apiServer.certSans"'),
    ("readOnly: true", "readOnly: true, subPath: x", 'unknown field "apiServer.extraVolumes[0].subPath"'),
    ("bindPort: 6443", "bindPort: '6443'", "json: cannot unmarshal string into Go struct field "
                                           "APIEndpoint.localAPIEndpoint.bindPort of type int32"),
    ('[{name: node-ip, value: "10.77.0.11"}]', '{node-ip: "10.77.0.11"}',
     "cannot unmarshal object into Go struct field NodeRegistrationOptions.nodeRegistration.kubeletExtraArgs of "
     "type []v1beta4.Arg"),
    ("kind: KubeletConfiguration", "kind: KubeletConfig", 'unknown configuration APIs: []schema.GroupVersionKind'
                                                          '{schema.GroupVersionKind{Group:"kubelet.config.k8s.io", '
                                                          'Version:"v1beta1", Kind:"KubeletConfig"}}'),
    ("cgroupDriver: systemd", "cgroupDriver: systemd\nfailSwapOnn: false", 'unknown field "failSwapOnn"'),
    ("ttl: 2h", "ttl: 2x", 'time: invalid duration "2x"'),
    ("- ttl: 2h", "- token: abc", 'the bootstrap token "abc" was not of the form'),
    ("name: lab-cp1", "name: lab_cp1", 'nodeRegistration.name: Invalid value: "lab_cp1": a lowercase RFC 1123 '
                                       "subdomain must consist of"),
    ("unix:///run", "tcp:///run", 'nodeRegistration.criSocket: Invalid value: "tcp:///run/containerd/'
                                  'containerd.sock": only URL scheme "unix" is supported, got "tcp"'),
    ("podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0/30",
     'networking.podSubnet: Invalid value: "10.244.0.0/30": subnet with 4 address(es) is too small'),
    ('"10.77.0.100:16443"', '"10.77.0.100:99999"', 'controlPlaneEndpoint: Invalid value: "10.77.0.100:99999": '
                                                   "endpoint is not valid"),
    ('certSANs: ["10.77.0.100"]', 'certSANs: ["not valid!"]', 'apiServer.certSANs: Invalid value: "not valid!": '
                                                              "altname is not a valid IP address"),
    ("kubernetesVersion: v1.37.1", "kubernetesVersion: v1.35.9", "this version of kubeadm only supports deploying "
                                                                 "clusters with the control plane version >= 1.36.0. "
                                                                 "Current version: v1.35.9"),
    ("clusterName: lab", "clusterName: lab\nclusterName: lab2", 'strict decoding error: yaml: unmarshal errors:\n'
                                                                '  line 4: key "clusterName" already set in map'),
])
def test_strict_decoding_and_validation_errors(kubeadm: Any, old: str, new: str, message: str) -> None:
    assert old in INIT
    assert message in bad(kubeadm, INIT.replace(old, new, 1))


def v1beta3(text: str) -> str:
    """INIT written in kubeadm.k8s.io/v1beta3 (map-shaped extraArgs)."""
    return (text.replace("kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta3")
            .replace('[{name: node-ip, value: "10.77.0.11"}]', '{node-ip: "10.77.0.11"}')
            .replace("[{name: encryption-provider-config, value: /etc/kubernetes/enc/config.yaml}]",
                     "{encryption-provider-config: /etc/kubernetes/enc/config.yaml}")
            .replace("v1.37.1", "v1.35.9"))


def test_v1beta3_is_read_by_1_35_only(kubeadm: Any) -> None:
    assert set(kubeadm.decode(v1beta3(INIT), "1.35.9")) >= {"InitConfiguration", "ClusterConfiguration"}
    assert bad(kubeadm, v1beta3(INIT).replace("v1.35.9", "v1.36.4"), "1.36.4").startswith(
        'your configuration file uses an old API spec: "kubeadm.k8s.io/v1beta3" (kind: "ClusterConfiguration"). '
        "Please use kubeadm v1.36 instead")


def test_a_v1beta4_only_field_under_v1beta3_is_unknown(kubeadm: Any) -> None:
    for field in ("encryptionAlgorithm: RSA-2048", "proxy: {disabled: true}"):
        text = v1beta3(INIT).replace("clusterName: lab", f"clusterName: lab\n{field}")
        assert f'unknown field "{field.split(":")[0]}"' in bad(kubeadm, text, "1.35.9")
    text = v1beta3(INIT).replace("bindPort: 6443}", "bindPort: 6443}\ntimeouts: {discovery: 1m}")
    assert 'unknown field "timeouts"' in bad(kubeadm, text, "1.35.9")
    assert "of type map[string]string" in bad(kubeadm, v1beta3(INIT).replace(
        '{node-ip: "10.77.0.11"}', '[{name: node-ip, value: "10.77.0.11"}]'), "1.35.9")


def test_kubelet_fields_follow_the_minor(kubeadm: Any) -> None:
    text = INIT.replace("cgroupDriver: systemd", "cgroupDriver: systemd\nmemoryReservationPolicy: None")
    kubeadm.decode(text, "1.36.4")
    assert 'unknown field "memoryReservationPolicy"' in bad(
        kubeadm, v1beta3(text).replace("v1.35.9", "v1.35.9"), "1.35.9")


def test_join_reset_and_upgrade_configurations(kubeadm: Any) -> None:
    join = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
            "    apiServerEndpoint: 10.77.0.100:16443\n    token: abcdef.0123456789abcdef\n"
            "    caCertHashes: [sha256:" + "a" * 64 + "]\nnodeRegistration:\n  name: lab-w1\n  taints: []\n"
            "controlPlane:\n  localAPIEndpoint: {advertiseAddress: 10.77.0.12, bindPort: 6443}\n"
            "  certificateKey: " + "b" * 64 + "\n")
    assert kubeadm.decode(join)["JoinConfiguration"]["nodeRegistration"]["taints"] == []
    assert "certificate key decoding error" in bad(kubeadm, join.replace("b" * 64, "xyz"))
    assert ("discovery.bootstrapToken.caCertHashes: Invalid value: \"\": using token-based discovery without "
            "caCertHashes can be unsafe") in bad(kubeadm, join.replace(f"    caCertHashes: [sha256:{'a' * 64}]\n", ""))
    reset = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\nforce: true\nunmountFlags: [MNT_NOPE]\n"
    assert 'unmountFlags: Invalid value: "index 0": unknown unmount flag MNT_NOPE' in bad(kubeadm, reset)
    upgrade = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\napply: {forceUpgrade: true}\n"
    assert set(kubeadm.decode(upgrade)) == {"UpgradeConfiguration"}
    assert 'unknown field "apply.force"' in bad(kubeadm, upgrade.replace("forceUpgrade", "force"))


def test_init_only_warns_about_unknown_fields(kubeadm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    config = kubeadm.load(INIT.replace("podSubnet:", "podSubnett:"), "init")
    err = capsys.readouterr().err
    assert ('initconfiguration.go:319] error unmarshaling configuration schema.GroupVersionKind{Group:'
            '"kubeadm.k8s.io", Version:"v1beta4", Kind:"ClusterConfiguration"}: strict decoding error: unknown field '
            '"networking.podSubnett"') in err
    assert "podSubnett" not in config.get("ClusterConfiguration")["networking"]


# ---------------------------------------------------------------- flags

@pytest.mark.parametrize("argv,message", [
    (["token", "create", "--config", "/x", "--ttl", "2h", "--print-join-command"],
     "can not mix '--config' with arguments [ttl]"),
    (["init", "phase", "upload-certs", "--upload-certs", "--config", "/x", "--certificate-key", "a" * 64],
     "can not mix '--config' with arguments [certificate-key]"),
    (["join", "--config", "/x", "--token", "abcdef.0123456789abcdef", "--node-name", "n"],
     "can not mix '--config' with arguments [token]"),
    (["token", "create", "--tll", "2h"], "unknown flag: --tll"),
    (["version", "-o", "wide"], "invalid output format: wide"),
])
def test_flags_are_checked_like_kubeadm(kubeadm: Any, argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert kubeadm.main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"error: {message}\nTo see the stack trace of this error execute with --v=5 or higher\n"


def test_skip_and_allowed_flags_mix_with_config(kubeadm: Any) -> None:
    kubeadm.validate_mixed(["config", "ignore-preflight-errors", "skip-phases", "upload-certs", "v", "dry-run",
                            "print-join-command", "skip-token-print", "kubeconfig", "node-name"])


def test_version_short(kubeadm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert kubeadm.main(["version", "-o", "short"]) == 0
    assert capsys.readouterr().out == "v1.37.1\n"


# ---------------------------------------------------------------- preflight

class Probe:
    """A healthy node; tests change attributes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.busy: set[int] = set()
        self.missing: set[str] = set()
        self.containerd = "2.1.9"
        self.swap = False
        self.v2 = True
        self.sandbox: str | None = "registry.k8s.io/pause:3.10.2"
        self.config: dict[str, str] | None = {f"CONFIG_{n.split('|')[0]}": "y" for n in (
            "NAMESPACES NET_NS PID_NS IPC_NS UTS_NS CPUSETS MEMCG INET EXT4_FS PROC_FS NETFILTER_XT_TARGET_REDIRECT "
            "NETFILTER_XT_MATCH_COMMENT FAIR_GROUP_SCHED CGROUPS CGROUP_BPF CGROUP_PIDS CGROUP_SCHED").split()}

    def is_root(self) -> bool:
        return True

    def port_in_use(self, port: int) -> bool:
        return port in self.busy

    def executable(self, name: str) -> bool:
        return name not in self.missing

    def cpus(self) -> int:
        return 2

    def memory_mb(self) -> int:
        return 4096

    def swap_on(self) -> bool:
        return self.swap

    def cgroup_v2(self) -> bool:
        return self.v2

    def cgroup_controllers(self) -> set[str]:
        v1 = set() if self.v2 else {"cpuacct", "devices", "freezer", "blkio"}
        return {"cpu", "cpuset", "memory", "pids", "io", "hugetlb"} | v1

    def freezer(self) -> bool:
        return True

    def kernel_config(self, release: str) -> tuple[dict[str, str] | None, str]:
        return self.config, 'unable to load kernel module: "configs", output: "", err: exit status 1'

    def runtime(self, cri: str) -> tuple[str | None, str]:
        return self.containerd, "dial unix /run/containerd/containerd.sock: connect: no such file or directory"

    def sandbox_image(self) -> str | None:
        return self.sandbox

    def kubelet_version(self) -> str | None:
        return "1.37.1"

    def service(self, name: str) -> tuple[bool, bool, bool]:
        return True, True, False

    def resolves(self, name: str) -> str | None:
        return None

    def kernel(self) -> str:
        return "6.1.0-40-amd64"


@pytest.fixture()
def node(kubeadm: Any, tmp_path: Path) -> Probe:
    """A fake root with ip_forward on, and its probe."""
    forward = kubeadm.host("/proc/sys/net/ipv4/ip_forward")
    forward.parent.mkdir(parents=True)
    forward.write_text("1\n")
    return Probe(tmp_path / "root")


def init_cfg(kubeadm: Any, text: str = INIT) -> Any:
    cfg = kubeadm.InitCfg(kubeadm.load(text, "init"), {}, detect=False)
    cfg.validate()
    return cfg


def problems(checks: list[Any]) -> dict[str, list[str]]:
    return {c.name: c.errors + [f"WARNING {w}" for w in c.warnings] for c in checks if c.errors or c.warnings}


def test_a_healthy_node_passes_init_preflight(kubeadm: Any, node: Probe) -> None:
    assert problems(kubeadm.preflight_checks("init", init_cfg(kubeadm), node)) == {}


def test_init_preflight_errors_are_upstreams(kubeadm: Any, node: Probe) -> None:
    node.busy = {6443, 2379, 10250}
    node.missing = {"nsenter", "touch", "conntrack", "crictl"}
    node.swap = True
    node.containerd = "1.7.24"
    kubeadm.host("/proc/sys/net/ipv4/ip_forward").write_text("0\n")
    manifest = kubeadm.host("/etc/kubernetes/manifests/etcd.yaml")
    manifest.parent.mkdir(parents=True)
    manifest.write_text("x")
    kubeadm.host("/var/lib/etcd/member").mkdir(parents=True)
    found = problems(kubeadm.preflight_checks("init", init_cfg(kubeadm), node))
    assert found == {
        "Port-6443": ["Port 6443 is in use"], "Port-2379": ["Port 2379 is in use"],
        "Port-10250": ["Port 10250 is in use"],
        "FileAvailable--etc-kubernetes-manifests-etcd.yaml": ["/etc/kubernetes/manifests/etcd.yaml already exists"],
        "DirAvailable--var-lib-etcd": ["/var/lib/etcd is not empty"],
        "FileContent--proc-sys-net-ipv4-ip_forward": ["/proc/sys/net/ipv4/ip_forward contents are not set to 1"],
        "FileExisting-nsenter": ["nsenter not found in system path"],
        "FileExisting-touch": ["WARNING touch not found in system path"],
        "Swap": ["WARNING swap is supported for cgroup v2 only. The kubelet must be properly configured to use swap. "
                 "Please refer to https://kubernetes.io/docs/concepts/architecture/nodes/#swap-memory, or disable swap "
                 "on the node"],
        "ContainerRuntimeVersion": ["WARNING You must update your container runtime to a version that supports the "
                                    "CRI method RuntimeConfig. Falling back to using cgroupDriver from kubelet config "
                                    "will be removed in 1.38. For more information, see https://git.k8s.io/"
                                    "enhancements/keps/sig-node/4033-group-driver-detection-over-cri"],
    }


def test_cgroup_v1_and_a_missing_runtime_are_errors(kubeadm: Any, node: Probe) -> None:
    node.v2 = False
    node.containerd = None
    found = problems(kubeadm.preflight_checks("init", init_cfg(kubeadm), node))
    assert found["CRI"][0].startswith('container runtime is not running: validate service connection: validate CRI '
                                      'v1 runtime API for endpoint "unix:///run/containerd/containerd.sock"')
    assert found["SystemVerification"][0].startswith("cgroups v1 support is deprecated and will be removed")


def test_unreadable_kernel_config_fails_system_verification(kubeadm: Any, node: Probe) -> None:
    node.config = None
    found = problems(kubeadm.preflight_checks("init", init_cfg(kubeadm), node))
    assert found == {"SystemVerification": ['failed to parse kernel config: unable to load kernel module: "configs", '
                                            'output: "", err: exit status 1']}


def join_cfg(kubeadm: Any, control_plane: bool = False) -> Any:
    text = ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
            "    apiServerEndpoint: 10.77.0.100:16443\n    token: abcdef.0123456789abcdef\n"
            "    unsafeSkipCAVerification: true\nnodeRegistration: {name: lab-w1, criSocket: "
            "unix:///run/containerd/containerd.sock}\n")
    if control_plane:
        text += "controlPlane: {localAPIEndpoint: {advertiseAddress: 10.77.0.12}, certificateKey: " + "c" * 64 + "}\n"
    cfg = kubeadm.JoinCfg(kubeadm.load(text, "join"), {}, [], detect=False)
    cfg.validate()
    return cfg


def test_join_preflight_finds_a_half_joined_node(kubeadm: Any, node: Probe) -> None:
    node.busy = {10250}
    for path in ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/manifests/.keep"):
        kubeadm.host(path).parent.mkdir(parents=True, exist_ok=True)
        kubeadm.host(path).write_text("x")
    assert problems(kubeadm.preflight_checks("join", join_cfg(kubeadm), node)) == {
        "DirAvailable--etc-kubernetes-manifests": ["/etc/kubernetes/manifests is not empty"],
        "FileAvailable--etc-kubernetes-kubelet.conf": ["/etc/kubernetes/kubelet.conf already exists"],
        "FileAvailable--etc-kubernetes-pki-ca.crt": ["/etc/kubernetes/pki/ca.crt already exists"],
        "Port-10250": ["Port 10250 is in use"]}


def test_run_checks_prints_and_ignores_like_kubeadm(kubeadm: Any, node: Probe,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    node.busy = {6443, 2380}
    checks = kubeadm.preflight_checks("init", init_cfg(kubeadm), node)
    with pytest.raises(kubeadm.PhaseError, match="^error execution phase preflight: preflight checks failed$"):
        kubeadm.run_checks(checks, kubeadm.ignored_set(["Port-2380"]))
    err = capsys.readouterr().err
    assert "\t[WARNING Port-2380]: Port 2380 is in use\n" in err
    assert ("[preflight] Some fatal errors occurred:\n\t[ERROR Port-6443]: Port 6443 is in use\n[preflight] If you "
            "know what you are doing, you can make a check non-fatal with `--ignore-preflight-errors=...`") in err
    kubeadm.run_checks(checks, kubeadm.ignored_set(["all"]))
    with pytest.raises(kubeadm.Fail, match="don't specify individual checks if 'all' is used"):
        kubeadm.ignored_set(["all,Port-6443"])


def test_sandbox_image_mismatch_is_a_warning(kubeadm: Any, node: Probe, capsys: pytest.CaptureFixture[str]) -> None:
    node.sandbox = "registry.k8s.io/pause:3.8"
    kubeadm.image_pull(init_cfg(kubeadm).cluster, node)
    assert ('checks.go:906] detected that the sandbox image "registry.k8s.io/pause:3.8" of the container runtime is '
            'inconsistent with that used by kubeadm. It is recommended to use "registry.k8s.io/pause:3.10.2" as the '
            "CRI sandbox image.") in capsys.readouterr().err


# ---------------------------------------------------------------- phases and their files

def fail_after(kubeadm: Any, phase: str) -> None:
    """Set the lab's failure switch."""
    switch = kubeadm.host("/etc/kubernetes/standin-fail-after")
    switch.parent.mkdir(parents=True, exist_ok=True)
    switch.write_text(phase + "\n")


def test_init_writes_the_real_files_then_stops_at_the_switch(kubeadm: Any, node: Probe, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeadm.yaml"
    config.write_text(INIT.replace("10.77.0.11", "127.0.0.1"))
    fail_after(kubeadm, "kubelet-start")
    flags, args, given = kubeadm.parse(("init",), ["--config", str(config), "--upload-certs"])
    with pytest.raises(kubeadm.PhaseError, match='^error execution phase kubelet-start: TEST DOUBLE: failure '
                                                 'injected after phase "kubelet-start"'):
        kubeadm.cmd_init(flags, args, given, probe=node)
    out = capsys.readouterr().out
    order = ["[init] Using Kubernetes version: v1.37.1", "[preflight] Running pre-flight checks",
             '[certs] Generating "ca" certificate and key', '[kubeconfig] Writing "admin.conf" kubeconfig file',
             '[kubeconfig] Writing "super-admin.conf" kubeconfig file',
             '[etcd] Creating static Pod manifest for local etcd in "/etc/kubernetes/manifests"',
             '[control-plane] Creating static Pod manifest for "kube-scheduler"',
             '[kubelet-start] Writing kubelet configuration to file "/var/lib/kubelet/config.yaml"',
             "[kubelet-start] Starting the kubelet"]
    assert [out.index(line) for line in order] == sorted(out.index(line) for line in order)
    root = kubeadm.ROOT
    pki = {str(p.relative_to(root / "etc/kubernetes/pki")) for p in (root / "etc/kubernetes/pki").rglob("*")
           if p.is_file()}
    assert pki == {f"{n}.{e}" for n in ("ca", "apiserver", "apiserver-kubelet-client", "front-proxy-ca",
                                        "front-proxy-client", "apiserver-etcd-client", "etcd/ca", "etcd/server",
                                        "etcd/peer", "etcd/healthcheck-client") for e in ("crt", "key")} | {
        "sa.key", "sa.pub"}
    assert sorted(p.name for p in (root / "etc/kubernetes").glob("*.conf")) == [
        "admin.conf", "controller-manager.conf", "kubelet.conf", "scheduler.conf", "super-admin.conf"]
    assert (root / "var/lib/etcd").stat().st_mode & 0o777 == 0o700
    etcd = yaml.safe_load((root / "etc/kubernetes/manifests/etcd.yaml").read_text())
    command = etcd["spec"]["containers"][0]["command"]
    assert command[0] == "etcd" and "--initial-cluster=lab-cp1=https://127.0.0.1:2380" in command
    assert "--feature-gates=InitialCorruptCheck=true" in command and "--data-dir=/var/lib/etcd" in command
    assert etcd["spec"]["containers"][0]["image"] == "registry.k8s.io/etcd:3.7.0-0"
    api = yaml.safe_load((root / "etc/kubernetes/manifests/kube-apiserver.yaml").read_text())
    spec = api["spec"]["containers"][0]
    assert "--encryption-provider-config=/etc/kubernetes/enc/config.yaml" in spec["command"]
    assert "--authorization-mode=Node,RBAC" in spec["command"] and spec["command"][1:] == sorted(spec["command"][1:])
    assert {"mountPath": "/etc/kubernetes/enc", "name": "enc", "readOnly": True} in spec["volumeMounts"]
    env = (root / "var/lib/kubelet/kubeadm-flags.env").read_text()
    assert "--node-ip=127.0.0.1" in env
    assert "--register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule" in env
    kubelet = yaml.safe_load((root / "var/lib/kubelet/config.yaml").read_text())
    assert kubelet["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    assert kubelet["clusterDNS"] == ["10.96.0.10"] and kubelet["cgroupDriver"] == "systemd"
    admin = yaml.safe_load((root / "etc/kubernetes/admin.conf").read_text())
    assert admin["clusters"][0]["cluster"]["server"] == "https://10.77.0.100:16443"
    scheduler = yaml.safe_load((root / "etc/kubernetes/scheduler.conf").read_text())
    assert scheduler["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    capsys.readouterr()
    assert kubeadm.main(["certs", "check-expiration"]) == 0
    table = capsys.readouterr().out
    assert re.search(r"^apiserver-etcd-client +\w{3} \d\d, \d{4} \d\d:\d\d UTC +36[45]d +etcd-ca +no$", table, re.M)
    assert re.search(r"^ca +\w{3} \d\d, \d{4} \d\d:\d\d UTC +9y +no$", table, re.M)
    assert "!MISSING!" not in table


def test_taints_empty_list_means_none(kubeadm: Any) -> None:
    text = INIT.replace("  kubeletExtraArgs:", "  taints: []\n  kubeletExtraArgs:")
    assert init_cfg(kubeadm, text).node["taints"] == []
    assert init_cfg(kubeadm).node["taints"] == [{"key": "node-role.kubernetes.io/control-plane",
                                                 "effect": "NoSchedule"}]


def test_a_second_init_fails_preflight_on_the_first_ones_files(kubeadm: Any, node: Probe, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeadm.yaml"
    config.write_text(INIT.replace("10.77.0.11", "127.0.0.1"))
    fail_after(kubeadm, "control-plane")
    flags, args, given = kubeadm.parse(("init",), ["--config", str(config)])
    with pytest.raises(kubeadm.PhaseError):
        kubeadm.cmd_init(flags, args, given, probe=node)
    kubeadm.host("/etc/kubernetes/standin-fail-after").unlink()
    node.busy = {6443, 2379, 2380, 10257, 10259, 10250}  # the first init's static pods run
    kubeadm.host("/var/lib/etcd/member").mkdir()  # and etcd wrote its data
    with pytest.raises(kubeadm.PhaseError, match="preflight checks failed"):
        kubeadm.cmd_init(flags, args, given, probe=node)
    err = capsys.readouterr().err
    for name in ("Port-6443", "FileAvailable--etc-kubernetes-manifests-kube-apiserver.yaml",
                 "FileAvailable--etc-kubernetes-manifests-etcd.yaml", "DirAvailable--var-lib-etcd"):
        assert f"[ERROR {name}]" in err


def test_reset_removes_what_kubeadm_wrote(kubeadm: Any, node: Probe, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeadm.yaml"
    config.write_text(INIT.replace("10.77.0.11", "127.0.0.1"))
    fail_after(kubeadm, "kubelet-start")
    flags, args, given = kubeadm.parse(("init",), ["--config", str(config)])
    with pytest.raises(kubeadm.PhaseError):
        kubeadm.cmd_init(flags, args, given, probe=node)
    kubeadm.host("/var/lib/etcd/member/snap").mkdir(parents=True)
    (kubeadm.host("/etc/kubernetes/admin.conf")).unlink()  # no client: the API is not asked
    flags, args, given = kubeadm.parse(("reset",), ["-f"])
    kubeadm.cmd_reset(flags, args, given, probe=node)
    out = capsys.readouterr()
    assert "removeetcdmember.go:105] [reset] No kubeadm config, using etcd pod spec to get data directory" in out.err
    assert "[reset] Deleted contents of the etcd data directory: /var/lib/etcd" in out.out
    root = kubeadm.ROOT
    assert [p for p in (root / "var/lib/etcd").iterdir()] == []
    assert [p for p in (root / "etc/kubernetes/manifests").iterdir()] == []
    assert [p for p in (root / "etc/kubernetes/pki").iterdir()] == []
    assert [p for p in (root / "var/lib/kubelet").iterdir()] == []
    assert sorted(p.name for p in (root / "etc/kubernetes").iterdir()) == ["manifests", "pki", "standin-fail-after"]


def test_reset_without_force_asks(kubeadm: Any, node: Probe, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("n\n"))
    flags, args, given = kubeadm.parse(("reset",), [])
    with pytest.raises(kubeadm.PhaseError, match="won't proceed; the user didn't answer"):
        kubeadm.cmd_reset(flags, args, given, probe=node)
    assert "[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted." in \
        capsys.readouterr().err


def test_no_config_means_a_stable_1_lookup_logged(kubeadm: Any, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert kubeadm.main(["config", "images", "list"]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        "registry.k8s.io/kube-apiserver:v1.37.1", "registry.k8s.io/kube-controller-manager:v1.37.1",
        "registry.k8s.io/kube-scheduler:v1.37.1", "registry.k8s.io/kube-proxy:v1.37.1",
        "registry.k8s.io/coredns/coredns:v1.14.6", "registry.k8s.io/pause:3.10.2", "registry.k8s.io/etcd:3.7.0-0"]
    assert ('] could not fetch a Kubernetes version from the internet: unable to get URL '
            '"https://dl.k8s.io/release/stable-1.txt"') in out.err
    assert "] falling back to the local client version: v1.37.1" in out.err
    log = (tmp_path / "standin.log").read_text()
    assert "kubeadm: version lookup https://dl.k8s.io/release/stable-1.txt" in log


# ---------------------------------------------------------------- API phases on loopback

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Loopback:
    """kubeadm's certificates and manifests, run: Debian's etcd and the API server stand-in, on loopback."""

    def __init__(self, kubeadm: Any, tmp: Path) -> None:
        self.kubeadm = kubeadm
        self.port, self.etcd_port, self.peer_port = free_port(), free_port(), free_port()
        text = INIT.replace("10.77.0.11", "127.0.0.1").replace("bindPort: 6443", f"bindPort: {self.port}").replace(
            '"10.77.0.100:16443"', f'"127.0.0.1:{self.port}"').replace(
            "  extraArgs: [{name: encryption-provider-config, value: /etc/kubernetes/enc/config.yaml}]\n", "")
        self.cfg = init_cfg(kubeadm, text)
        kubeadm.certs_phase(self.cfg)
        kubeadm.kubeconfig_phase(self.cfg)
        root = str(kubeadm.ROOT)
        pki = f"{root}/etc/kubernetes/pki"
        self.procs = [subprocess.Popen(
            [ETCD, "--name", "lab-cp1", "--data-dir", str(tmp / "etcd"),
             "--listen-client-urls", f"https://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"https://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"https://127.0.0.1:{self.peer_port}",
             "--initial-advertise-peer-urls", f"https://127.0.0.1:{self.peer_port}",
             "--initial-cluster", f"lab-cp1=https://127.0.0.1:{self.peer_port}",
             "--cert-file", f"{pki}/etcd/server.crt", "--key-file", f"{pki}/etcd/server.key",
             "--client-cert-auth", "--trusted-ca-file", f"{pki}/etcd/ca.crt",
             "--peer-cert-file", f"{pki}/etcd/peer.crt", "--peer-key-file", f"{pki}/etcd/peer.key",
             "--peer-client-cert-auth", "--peer-trusted-ca-file", f"{pki}/etcd/ca.crt"],
            stdout=subprocess.DEVNULL, stderr=(tmp / "etcd.log").open("wb"))]
        command = kubeadm.apiserver_manifest(self.cfg)["spec"]["containers"][0]["command"][1:]
        command = [a.replace("/etc/kubernetes", f"{root}/etc/kubernetes").replace(
            "https://127.0.0.1:2379", f"https://127.0.0.1:{self.etcd_port}") for a in command]
        env = {**os.environ, "K8S_STANDIN_LOG": str(tmp / "standin.log")}
        src = tmp / "bin"
        src.mkdir()
        for file in NODE.glob("*.py"):
            (src / file.name).write_text(file.read_text().replace("@KUBE_VERSION@", "1.37.1"))
        self.procs.append(subprocess.Popen([sys.executable, str(src / "apiserver.py"), "--bind-address=127.0.0.1",
                                            *command], env=env, stdout=subprocess.DEVNULL,
                                           stderr=(tmp / "apiserver.log").open("wb")))
        ok, _, error = kubeadm.wait_http(f"https://127.0.0.1:{self.port}/readyz", 60)
        assert ok, error + (tmp / "apiserver.log").read_text()

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture()
def loopback(kubeadm: Any, tmp_path: Path) -> Iterator[Loopback]:
    if not Path(ETCD).exists():
        pytest.skip("needs Debian's etcd-server on the host")
    cluster = Loopback(kubeadm, tmp_path)
    try:
        yield cluster
    finally:
        cluster.stop()


def sign_cluster_info(kubeadm: Any, client: Any, token: str) -> None:
    """What kube-controller-manager's bootstrap signer does (the stand-in's own job in the lab)."""
    info = client.request("GET", "/api/v1/namespaces/kube-public/configmaps/cluster-info")
    tid, secret = token.split(".")
    info["data"][f"jws-kubeconfig-{tid}"] = kubeadm.standin.jws_detached(info["data"]["kubeconfig"], tid, secret)
    client.request("PUT", "/api/v1/namespaces/kube-public/configmaps/cluster-info", info)


def test_api_phases_token_create_discovery_and_download_certs(kubeadm: Any, loopback: Loopback, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    cfg = loopback.cfg
    client = kubeadm.admin_client(cfg)  # binds kubeadm:cluster-admins through super-admin.conf
    kubeadm.upload_config_phase(client, cfg)
    key = "ab" * 32
    kubeadm.upload_certs(client, cfg.cluster, key)
    client.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "lab-cp1"}})
    kubeadm.mark_control_plane(client, "lab-cp1", cfg.node["taints"], 10, "mark-control-plane")
    kubeadm.bootstrap_token_phase(client, cfg)
    kubeadm.addon_phase(client, cfg, lambda name: False)
    node = client.request("GET", "/api/v1/nodes/lab-cp1")
    assert node["metadata"]["labels"] == {"node-role.kubernetes.io/control-plane": "",
                                          "node.kubernetes.io/exclude-from-external-load-balancers": ""}
    assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    stored = yaml.safe_load(client.request("GET", "/api/v1/namespaces/kube-system/configmaps/kubeadm-config")["data"][
        "ClusterConfiguration"])
    assert stored["apiVersion"] == "kubeadm.k8s.io/v1beta4" and stored["clusterName"] == "lab"

    # token create --config: the TTL from bootstrapTokens[0], a join command with the CA pin
    config = tmp_path / "kubeadm.yaml"
    config.write_text(INIT)
    capsys.readouterr()
    admin = str(kubeadm.host("/etc/kubernetes/admin.conf"))
    assert kubeadm.main(["token", "create", "--config", str(config), "--print-join-command",
                         "--kubeconfig", admin]) == 0
    line = capsys.readouterr().out.strip()
    token = line.split("--token ")[1].split()[0]
    ca_pem = kubeadm.host("/etc/kubernetes/pki/ca.crt").read_bytes()
    assert line == (f"kubeadm join 127.0.0.1:{loopback.port} --token {token} \t--discovery-token-ca-cert-hash "
                    f"{kubeadm.ca_hash_of(ca_pem)}")
    secret = client.request("GET", f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{token[:6]}")
    expires = base64.b64decode(secret["data"]["expiration"]).decode()
    assert 7100 < kubeadm.standin.parse_rfc3339(expires) - time.time() <= 7200

    # without --config: the flags' token (24h by default) and no stable-1 lookup (token.go sets kubeadm's version)
    assert kubeadm.main(["token", "create", "--kubeconfig", admin, "--description", "d"]) == 0
    out = capsys.readouterr()
    assert "could not fetch a Kubernetes version" not in out.err
    assert "token create without --config: no version lookup" in (tmp_path / "standin.log").read_text()
    plain = out.out.strip()
    data = client.request("GET", f"/api/v1/namespaces/kube-system/secrets/bootstrap-token-{plain[:6]}")["data"]
    assert base64.b64decode(data["description"]) == b"d"
    assert base64.b64decode(data["auth-extra-groups"]) == b"system:bootstrappers:kubeadm:default-node-token"

    # init phase upload-certs --config: the key is printed last; without --config the version is looked up
    assert kubeadm.main(["init", "phase", "upload-certs", "--upload-certs", "--config", str(config),
                         "--kubeconfig", admin]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-2:-1] == ["[upload-certs] Using certificate key:"] and len(lines[-1]) == 64
    key = lines[-1]  # the Secret was uploaded again with this new key
    assert kubeadm.main(["init", "phase", "upload-certs", "--kubeconfig", admin]) == 0
    assert capsys.readouterr().out == "[upload-certs] Skipping phase. Please see --upload-certs\n"

    # a joining control plane: discovery (JWS, CA pin), kubeadm-config, download-certs
    sign_cluster_info(kubeadm, client, token)
    text = (f"apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
            f"    apiServerEndpoint: 127.0.0.1:{loopback.port}\n    token: {token}\n"
            f"    caCertHashes: [{kubeadm.ca_hash_of(ca_pem)}]\nnodeRegistration: {{name: lab-cp2}}\n"
            f"controlPlane: {{localAPIEndpoint: {{advertiseAddress: 127.0.0.2}}, certificateKey: {key}}}\n")
    join = kubeadm.JoinCfg(kubeadm.load(text, "join"), {}, [], detect=False)
    run = kubeadm.JoinRun(join)
    run.discover()
    assert run.cluster.cluster["controlPlaneEndpoint"] == f"127.0.0.1:{loopback.port}"
    first = {p.name: p.read_bytes() for p in kubeadm.host("/etc/kubernetes/pki").glob("*.key")}
    kubeadm.ROOT = tmp_path / "second"
    kubeadm.download_certs(run.token_client, run.cluster.cluster, key)
    assert kubeadm.host("/etc/kubernetes/pki/ca.key").read_bytes() == first["ca.key"]
    assert kubeadm.host("/etc/kubernetes/pki/sa.key").read_bytes() == first["sa.key"]
    assert kubeadm.host("/etc/kubernetes/pki/etcd/ca.crt").exists()
    with pytest.raises(kubeadm.Fail, match="cipher: message authentication failed"):
        kubeadm.download_certs(run.token_client, run.cluster.cluster, "cd" * 32)

    # a wrong pin is refused
    join.ca_hashes = ["sha256:" + "0" * 64]
    with pytest.raises(kubeadm.Fail, match="none of the public keys .* are pinned"):
        kubeadm.discover(join)


def test_etcd_member_add_and_remove_through_etcds_api(kubeadm: Any, loopback: Loopback) -> None:
    client = kubeadm.admin_client(loopback.cfg)
    client.request("POST", "/api/v1/namespaces/kube-system/pods", {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "etcd-lab-cp1", "namespace": "kube-system",
                     "labels": {"component": "etcd", "tier": "control-plane"},
                     "annotations": {"kubeadm.kubernetes.io/etcd.advertise-client-urls":
                                     f"https://127.0.0.1:{loopback.etcd_port}"}},
        "spec": {"containers": [{"name": "etcd", "image": "registry.k8s.io/etcd:3.7.0-0"}]}})
    etcd = kubeadm.etcd_client(client, "/etc/kubernetes/pki", 10)
    members = kubeadm.add_etcd_member(etcd, "lab-cp2", "https://127.0.0.2:2380", 10)
    assert sorted(members) == sorted([("lab-cp1", f"https://127.0.0.1:{loopback.peer_port}"),
                                      ("lab-cp2", "https://127.0.0.2:2380")])
    again = kubeadm.add_etcd_member(etcd, "lab-cp2", "https://127.0.0.2:2380", 10)  # an existing peer URL: the list
    assert len(again) == 2
    manifest = kubeadm.etcd_manifest(loopback.cfg, members)["spec"]["containers"][0]["command"]
    assert "--initial-cluster-state=existing" in manifest
    kubeadm.remove_etcd_member(client, loopback.cfg.cluster, {"advertiseAddress": "127.0.0.2", "bindPort": 6443})
    listed = etcd.call("/v3/cluster/member/list", {})["members"]
    assert [m.get("name") for m in listed] == ["lab-cp1"]


# ---------------------------------------------------------------- a whole init on loopback

class FakeKubelet:
    """What the kubelet does for `kubeadm init`, on loopback: run the static pods of kubeadm's manifests (the real
    etcd, the API server, controller-manager and scheduler stand-ins, ports and paths moved into the test's),
    answer /healthz and register the Node."""

    def __init__(self, kubeadm: Any, tmp: Path) -> None:
        self.kubeadm, self.tmp = kubeadm, tmp
        self.ports = {name: free_port() for name in ("etcd", "peer", "metrics", "kcm", "scheduler", "healthz")}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.bin = tmp / "bin"
        self.bin.mkdir()
        for file in NODE.glob("*.py"):
            (self.bin / file.name).write_text(file.read_text().replace("@KUBE_VERSION@", "1.37.1"))
        import http.server
        import threading

        class Healthz(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass
        self.healthz = http.server.HTTPServer(("127.0.0.1", self.ports["healthz"]), Healthz)
        threading.Thread(target=self.healthz.serve_forever, daemon=True).start()

    def command(self, name: str) -> list[str]:
        """A manifest's command with paths and ports moved into the test's."""
        pod = yaml.safe_load(self.kubeadm.host(f"/etc/kubernetes/manifests/{name}.yaml").read_text())
        root = str(self.kubeadm.ROOT)
        p = self.ports
        out = []
        for arg in pod["spec"]["containers"][0]["command"][1:]:
            arg = arg.replace("/etc/kubernetes", f"{root}/etc/kubernetes")
            arg = arg.replace("/var/lib/etcd", f"{root}/var/lib/etcd")
            out.append(arg.replace(":2379", f":{p['etcd']}").replace(":2380", f":{p['peer']}").replace(
                ":2381", f":{p['metrics']}"))
        return out

    def start(self, *args: str) -> None:
        """systemctl restart kubelet: start the static pods."""
        if args != ("restart", "kubelet.service"):
            return
        sys.path.insert(0, str(self.bin))
        try:
            etcd_args = importlib.import_module("kubelet").translate_etcd(self.command("etcd"), "3.4.23")
        finally:
            sys.path.remove(str(self.bin))
        env = {**os.environ, "K8S_STANDIN_LOG": str(self.tmp / "standin.log")}
        logs = (self.tmp / "pods.log").open("ab")
        self.procs.append(subprocess.Popen([ETCD, *etcd_args], stdout=subprocess.DEVNULL, stderr=logs))
        python = [sys.executable]
        self.procs.append(subprocess.Popen(python + [str(self.bin / "apiserver.py"), "--bind-address=127.0.0.2",
                                                     *self.command("kube-apiserver")], env=env, stderr=logs))
        self.procs.append(subprocess.Popen(python + [str(self.bin / "controller_manager.py"),
                                                     *self.command("kube-controller-manager"),
                                                     f"--secure-port={self.ports['kcm']}"], env=env, stderr=logs))
        self.procs.append(subprocess.Popen(python + [str(self.bin / "scheduler.py"), *self.command("kube-scheduler"),
                                                     f"--secure-port={self.ports['scheduler']}"], env=env, stderr=logs))
        import threading
        threading.Thread(target=self.register, daemon=True).start()

    def register(self) -> None:
        """The Node, created with kubelet.conf's identity once the API answers."""
        kube = self.kubeadm.standin.Kube(self.kubeadm.host("/etc/kubernetes/kubelet.conf"))
        for _ in range(120):
            try:
                kube.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                                       "metadata": {"name": "lab-cp1"}})
                return
            except self.kubeadm.Fail:
                time.sleep(0.5)

    def bootstrap(self) -> None:
        """The kubelet stand-in's TLS bootstrap (CSR, approval, kubelet.conf) for a joining worker."""
        sys.path.insert(0, str(self.bin))
        try:
            kubelet = importlib.import_module("kubelet")
        finally:
            sys.path.remove(str(self.bin))
        host = self.kubeadm.host
        for _ in range(100):
            if host("/etc/kubernetes/bootstrap-kubelet.conf").exists():
                break
            time.sleep(0.1)
        kubelet.bootstrap({"kubeconfig": str(host("/etc/kubernetes/kubelet.conf")),
                           "bootstrap-kubeconfig": str(host("/etc/kubernetes/bootstrap-kubelet.conf")),
                           "cert-dir": str(host("/var/lib/kubelet/pki"))}, "lab-w1")

    def stop(self) -> None:
        self.healthz.shutdown()
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_whole_init_then_discovery(kubeadm: Any, node: Probe, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    if not Path(ETCD).exists():
        pytest.skip("needs Debian's etcd-server on the host")
    port = free_port()
    kubelet = FakeKubelet(kubeadm, tmp_path)
    monkeypatch.setattr(kubeadm, "systemctl", kubelet.start)
    monkeypatch.setattr(kubeadm, "KUBELET_HEALTHZ", f"http://127.0.0.1:{kubelet.ports['healthz']}/healthz")
    monkeypatch.setattr(kubeadm, "COMPONENT_HEALTH", {
        "kube-controller-manager": f"https://127.0.0.1:{kubelet.ports['kcm']}/healthz",
        "kube-scheduler": f"https://127.0.0.1:{kubelet.ports['scheduler']}/livez"})
    config = tmp_path / "kubeadm.yaml"
    config.write_text(INIT.replace("10.77.0.11", "127.0.0.2").replace("bindPort: 6443", f"bindPort: {port}").replace(
        '"10.77.0.100:16443"', f'"127.0.0.2:{port}"').replace(
        "  extraArgs: [{name: encryption-provider-config, value: /etc/kubernetes/enc/config.yaml}]\n", ""))
    flags, args, given = kubeadm.parse(("init",), ["--config", str(config), "--upload-certs"])
    try:
        kubeadm.cmd_init(flags, args, given, probe=node)
        out = capsys.readouterr().out
        assert "[control-plane-check] kube-apiserver is healthy after" in out
        assert "Your Kubernetes control-plane has initialized successfully!" in out
        key = out.split("[upload-certs] Using certificate key:\n")[1].split("\n")[0]
        token = out.split("[bootstrap-token] Using token: ")[1].split("\n")[0]
        ca_pem = kubeadm.host("/etc/kubernetes/pki/ca.crt").read_bytes()
        assert f"--control-plane --certificate-key {key}" in out
        assert f"kubeadm join 127.0.0.2:{port} --token {token} \\\n\t--discovery-token-ca-cert-hash " \
               f"{kubeadm.ca_hash_of(ca_pem)}" in out
        admin = kubeadm.kube(kubeadm.host("/etc/kubernetes/admin.conf"))
        for path in ("/api/v1/namespaces/kube-system/configmaps/kubeadm-config",
                     "/api/v1/namespaces/kube-system/configmaps/kubelet-config",
                     "/api/v1/namespaces/kube-system/secrets/kubeadm-certs",
                     "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubeadm:cluster-admins",
                     "/apis/apps/v1/namespaces/kube-system/deployments/coredns",
                     "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy",
                     "/api/v1/namespaces/kube-system/services/kube-dns"):
            assert admin.get(path) is not None, path
        assert admin.request("GET", "/api/v1/nodes/lab-cp1")["spec"]["taints"] == [
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        # discovery works once the controller-manager stand-in signed cluster-info for the token
        join = kubeadm.JoinCfg(kubeadm.load(
            f"apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
            f"    apiServerEndpoint: 127.0.0.2:{port}\n    token: {token}\n"
            f"    caCertHashes: [{kubeadm.ca_hash_of(ca_pem)}]\nnodeRegistration: {{name: lab-w1}}\n", "join"),
            {}, [], detect=False)
        ca, server = kubeadm.discover(join)
        assert ca == ca_pem and server == f"https://127.0.0.2:{port}"
        # a worker joins: its kubelet (the stand-in's TLS bootstrap code) gets a certificate the
        # controller-manager stand-in approves and signs
        worker = tmp_path / "w1"
        (worker / "proc/sys/net/ipv4").mkdir(parents=True)
        (worker / "proc/sys/net/ipv4/ip_forward").write_text("1\n")
        monkeypatch.setattr(kubeadm, "ROOT", worker)
        monkeypatch.setattr(kubeadm, "systemctl", lambda *a: a == ("restart", "kubelet.service") and __import__(
            "threading").Thread(target=kubelet.bootstrap, daemon=True).start())
        join_file = tmp_path / "join.yaml"
        join_file.write_text(
            f"apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
            f"    apiServerEndpoint: 127.0.0.2:{port}\n    token: {token}\n"
            f"    caCertHashes: [{kubeadm.ca_hash_of(ca_pem)}]\nnodeRegistration:\n  name: lab-w1\n"
            f"  criSocket: unix:///run/containerd/containerd.sock\n  kubeletExtraArgs: [{{name: node-ip, value: "
            f"127.0.0.3}}]\n")
        flags, args, given = kubeadm.parse(("join",), ["--config", str(join_file)])
        kubeadm.cmd_join(flags, args, given, probe=node)
        out = capsys.readouterr().out
        assert "This node has joined the cluster:" in out
        assert kubeadm.host("/etc/kubernetes/pki/ca.crt").read_bytes() == ca_pem
        assert not kubeadm.host("/etc/kubernetes/bootstrap-kubelet.conf").exists()
        assert kubeadm.host("/etc/kubernetes/kubelet.conf").exists()
        assert "--node-ip=127.0.0.3" in kubeadm.host("/var/lib/kubelet/kubeadm-flags.env").read_text()
        assert "--register-with-taints" not in kubeadm.host("/var/lib/kubelet/kubeadm-flags.env").read_text()
        joined = yaml.safe_load(kubeadm.host("/var/lib/kubelet/config.yaml").read_text())
        assert joined["clusterDNS"] == ["10.96.0.10"] and joined["containerRuntimeEndpoint"].endswith("containerd.sock")
    finally:
        kubelet.stop()
