#!/usr/bin/python3
"""TEST DOUBLE of the kubelet for the lab (not Kubernetes).

Started by systemd with the flags of kubeadm's drop-in. Like the real kubelet it exits (and
systemd restarts it) until /var/lib/kubelet/config.yaml exists, refuses a cgroup v1 host
(failCgroupV1, default true since 1.35) and a container runtime it does not support, serves
:10248/healthz and :10250 once configured, runs the static pods of staticPodPath (re-read every
second: etcd -> the real /usr/bin/etcd, kube-apiserver/-controller-manager/-scheduler -> the
stand-ins, each in a transient systemd unit that outlives a kubelet restart as a container does),
bootstraps its client certificate through a CertificateSigningRequest when only
bootstrap-kubelet.conf exists, registers its Node, keeps its Lease and status, mirrors its static
pods, and "runs" the pods bound to it whose images the lab knows (calico-node installs the CNI
config; the Node is Ready once a CNI config exists, as with containerd's NetworkReady).
See lab/standins/README.md ("kubelet") for the upstream sources.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
from standin import ApiError, Fail  # noqa: E402

import yaml  # noqa: E402

HERE = Path(__file__).resolve().parent
S, B, L = "str", "bool", "list"
# kubelet flags (cmd/kubelet/app/options/options.go, v1.35-v1.37) the lab's drop-in, kubeadm and users pass.
FLAGS = {
    "address": S, "anonymous-auth": B, "authentication-token-webhook": B, "authorization-mode": S,
    "bootstrap-kubeconfig": S, "cert-dir": S, "cgroup-driver": S, "client-ca-file": S, "cloud-provider": S,
    "cluster-dns": L, "cluster-domain": S, "config": S, "config-dir": S, "container-runtime-endpoint": S,
    "enforce-node-allocatable": L, "eviction-hard": S, "fail-swap-on": B, "feature-gates": L, "healthz-bind-address": S,
    "healthz-port": S, "hostname-override": S, "image-service-endpoint": S, "kube-reserved": S, "kubeconfig": S,
    "log-flush-frequency": S, "max-pods": S, "node-ip": S, "node-labels": L, "node-status-update-frequency": S,
    "pod-infra-container-image": S, "pod-manifest-path": S, "port": S, "provider-id": S, "read-only-port": S,
    "register-node": B, "register-with-taints": L, "resolv-conf": S, "root-dir": S, "rotate-certificates": B,
    "rotate-server-certificates": B, "runtime-cgroups": S, "runtime-request-timeout": S, "serialize-image-pulls": B,
    "system-reserved": S, "tls-cert-file": S, "tls-private-key-file": S, "v": S, "vmodule": S, "version": B,
    "volume-plugin-dir": S, "help": B,
}
ROOT = Path("/var/lib/kubelet")  # --root-dir's default
# containerd's CNI conf_dir (its default); the environment variable only lets host-free tests look elsewhere
CNI_DIR = Path(os.environ.get("K8S_STANDIN_CNI_DIR", "/etc/cni/net.d"))
DEFAULT_RUNTIME = "unix:///run/containerd/containerd.sock"
NOT_READY = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network "
             "plugin returns error: cni plugin not initialized")
# client-go util/certificate/csr/csr.go WaitForCertificate watches the CSR (LIST + WATCH on metadata.name): the real
# kubelet sees its certificate as soon as it is signed. The API server stand-in has no watch: polled this often.
CSR_POLL = 0.5
# KubeletConfiguration defaults (kubernetes/kubelet config/v1beta1/types.go; pkg/kubelet/apis/config/v1beta1/defaults.go):
# nodeStatusUpdateFrequency 10s (status computed, Lease renewed: nodeLeaseDurationSeconds 40 x 0.25), and
# nodeStatusReportFrequency 5m: an unchanged status is posted only that often (pkg/kubelet/kubelet_node_status.go
# tryUpdateNodeStatus, nodeStatusHasChanged ignores heartbeat times).
STATUS_UPDATE = 10.0
STATUS_REPORT = 300.0
# static pod image -> what the stand-in runs (binary, or a stand-in script beside this file); `-B`: no byte-code
# cache beside the package's files (lab/standins/build.py PYCLEAN says why)
PROGRAMS = {"etcd": ["/usr/bin/etcd"], "kube-apiserver": [sys.executable, "-B", str(HERE / "apiserver.py")],
            "kube-controller-manager": [sys.executable, "-B", str(HERE / "controller_manager.py")],
            "kube-scheduler": [sys.executable, "-B", str(HERE / "scheduler.py")]}


def log(text: str) -> None:
    """A kubelet log line (journal via stderr, and the stand-in log)."""
    print(text, file=sys.stderr, flush=True)
    standin.log_line(f"kubelet: {text}")


def die(text: str) -> None:
    """Exit like the real kubelet's run.go: `"command failed" err=...`, status 1."""
    log(f'E0000 run.go:72] "command failed" err="{text}"')
    sys.exit(1)


# ---------------------------------------------------------------- configuration

def load_config(flags: dict[str, Any]) -> dict[str, Any]:
    """KubeletConfiguration from --config (missing file: the real kubelet's error, exit 1)."""
    path = flags.get("config")
    if not path:
        return {}
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        die(f'failed to load kubelet config file, path: {path}, error: failed to load Kubelet config file {path}, '
            f'error failed to read kubelet config file "{path}", error: open {path}: no such file or directory')
    except yaml.YAMLError as exc:
        die(f"failed to load kubelet config file, path: {path}, error: {exc}")
    if doc.get("kind") != "KubeletConfiguration" or doc.get("apiVersion") != "kubelet.config.k8s.io/v1beta1":
        die(f"failed to load kubelet config file, path: {path}, error: no kind \"{doc.get('kind')}\" is registered "
            f"for version \"{doc.get('apiVersion')}\"")
    return doc


def cgroup_v2() -> bool:
    """Whether /sys/fs/cgroup is the unified hierarchy (what libcontainer's IsCgroup2UnifiedMode checks)."""
    res = subprocess.run(["stat", "-fc", "%T", "/sys/fs/cgroup"], capture_output=True, text=True)
    return res.stdout.strip() == "cgroup2fs"


def check_cgroups(config: dict[str, Any], path: str) -> None:
    """Refuse a cgroup v1 host unless failCgroupV1 is false (default true from 1.35: KEP-5573 remove-cgroup-v1, kubernetes.io
    docs concepts/architecture/cgroups)."""
    if standin.minor() >= 35 and config.get("failCgroupV1", True) and not cgroup_v2():
        die("failed to validate kubelet configuration, error: kubelet is configured to not run on a host using "
            f"cgroup v1. cgroup v1 support is unsupported and will be removed in a future release, path: {path}")


def runtime_version(endpoint: str) -> str:
    """containerd's version, asked over its socket with ctr (the stand-in's stand-in for CRI Version)."""
    sock = endpoint.removeprefix("unix://")
    if not Path(sock).is_socket():
        die(f'failed to run Kubelet: validate service connection: validate CRI v1 runtime API for endpoint "{endpoint}": '
            f'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial unix '
            f'{sock}: connect: no such file or directory"')
    ctr = next((c for c in ("/usr/local/bin/ctr", "/usr/bin/ctr") if Path(c).exists()), "ctr")
    res = subprocess.run([ctr, "--address", sock, "version"], capture_output=True, text=True, timeout=30)
    server = res.stdout.split("Server:", 1)[-1]
    found = re.search(r"Version:\s*v?(\d+\.\d+\.\d+\S*)", server) if res.returncode == 0 else None
    if not found:
        die(f'failed to run Kubelet: validate service connection: validate CRI v1 runtime API for endpoint "{endpoint}": '
            f"rpc error: code = Unavailable desc = {res.stderr.strip() or 'no answer'}")
    return found.group(1)


def check_runtime(version: str) -> None:
    """Warn about containerd 1.x as the real kubelet does (it refuses only from 1.38).

    containerd < 2.0 lacks the CRI RuntimeConfig call; the real kubelet logs the two lines below and falls
    back to cgroupDriver (pkg/kubelet/kubelet.go getCgroupDriverFromCRI). Kubernetes 1.35 is the last minor
    supporting containerd 1.x (kubernetes.io blog 2025-09-12 "cri-cgroup-driver-lookup-now-ga";
    containerd RELEASES.md lists 2.2+/2.3+ only for 1.36). The real 1.36/1.37 kubelet still starts (fallback
    removal deferred to 1.38: kubernetes/kubernetes#139121, website#55954), so the stand-in does the same:
    a stand-in copies the real tool's strictness, no more. Refusing an unsupported pair is the deploy's job
    (deploys/model.py, containerd RELEASES.md).
    """
    major = int(version.split(".")[0])
    if major >= 2:
        return
    log('E0000 remote_runtime.go] "RuntimeConfig from runtime service failed" err="rpc error: code = Unimplemented '
        'desc = unknown method RuntimeConfig for service runtime.v1.RuntimeService"')
    log('I0000 kubelet.go] "CRI implementation should be updated to support RuntimeConfig when '
        'KubeletCgroupDriverFromCRI feature gate has been enabled. Falling back to using cgroupDriver from kubelet '
        'config."')
    if standin.minor() >= 38:
        die(f"failed to run Kubelet: container runtime containerd {version} does not implement the CRI "
            "RuntimeConfig call required from v1.38")


def node_name(flags: dict[str, Any]) -> str:
    """--hostname-override or the lowercased hostname."""
    return (flags.get("hostname-override") or socket.gethostname()).lower()


def node_ip(flags: dict[str, Any]) -> str:
    """--node-ip, else the source address of the default route (the kubelet's first non-loopback pick)."""
    if flags.get("node-ip"):
        return str(flags["node-ip"]).split(",")[0]
    res = subprocess.run(["ip", "-o", "-4", "route", "get", "10.255.255.254"], capture_output=True, text=True)
    found = re.search(r"\bsrc (\S+)", res.stdout)
    return found.group(1) if found else "127.0.0.1"


# ---------------------------------------------------------------- static pods

def translate_etcd(args: list[str], version: str) -> list[str]:
    """Flags of kubeadm's etcd 3.6 manifest that Debian's etcd 3.5/3.4 spells the older way.

    etcd 3.6 renamed the experimental flags (etcd CHANGELOG-3.6: --experimental-initial-corrupt-check ->
    --feature-gates=InitialCorruptCheck=true, --experimental-watch-progress-notify-interval ->
    --watch-progress-notify-interval); the older binary only knows the old names.
    """
    if tuple(int(x) for x in version.split(".")[:2]) >= (3, 6):
        return args
    out = []
    for arg in args:
        name, _, value = arg.partition("=")
        if name == "--feature-gates":
            for gate in value.split(","):
                key, _, on = gate.partition("=")
                if key == "InitialCorruptCheck":
                    out.append(f"--experimental-initial-corrupt-check={on or 'true'}")
                elif key == "CompactHashCheck":
                    out.append(f"--experimental-compact-hash-check-enabled={on or 'true'}")
                elif gate:
                    out.append(f"--feature-gates={gate}")
        elif name == "--watch-progress-notify-interval":
            out.append(f"--experimental-watch-progress-notify-interval={value}")
        else:
            out.append(arg)
    return out


def etcd_version() -> str:
    """The installed etcd's version (x.y.z)."""
    res = subprocess.run([PROGRAMS["etcd"][0], "--version"], capture_output=True, text=True)
    found = re.search(r"etcd Version:\s*(\d+\.\d+\.\d+)", res.stdout)
    return found.group(1) if found else "3.6.0"


def image_name(image: str) -> str:
    """registry.k8s.io/kube-apiserver:v1.37.1 -> kube-apiserver."""
    return image.rsplit("/", 1)[-1].split("@")[0].split(":")[0]


def command_for(pod: dict[str, Any]) -> list[str] | None:
    """What to run for a static pod (its first container), or None for an image the lab cannot run."""
    containers = (pod.get("spec") or {}).get("containers") or []
    if not containers:
        return None
    container = containers[0]
    name = image_name(container.get("image", ""))
    program = PROGRAMS.get(name)
    if program is None:
        return None
    cmd = list(container.get("command") or []) + list(container.get("args") or [])
    args = cmd[1:] if cmd and not cmd[0].startswith("-") else cmd
    if name == "etcd":
        args = translate_etcd(args, etcd_version())
        return program + args
    # The control-plane stand-ins report the version of their image's tag (as the real images do), not the
    # kubelet package's: after `kubeadm upgrade apply` rewrote the tag, /version answers the new version.
    tag = container.get("image", "").split("@")[0].rpartition(":")[2]
    if re.fullmatch(r"v\d+\.\d+\.\d+", tag):
        return ["/usr/bin/env", f"K8S_STANDIN_VERSION={tag[1:]}", *program, *args]
    return program + args


class Runner:
    """Runs static pods: transient systemd units under systemd (they outlive the kubelet), else child processes."""

    def __init__(self) -> None:
        self.systemd = "INVOCATION_ID" in os.environ and Path("/run/systemd/system").exists()
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.state = Path(os.environ.get("K8S_STANDIN_POD_STATE", "/run/k8s-standin-pods"))
        self.state.mkdir(parents=True, exist_ok=True)

    def unit(self, name: str) -> str:
        """The transient unit of a static pod."""
        return f"{standin.POD_UNIT_PREFIX}{name}.service"

    def running_hash(self, name: str) -> str | None:
        """The manifest hash the pod was started from, if it still runs."""
        stamp = self.state / f"{name}.hash"
        if not stamp.exists() or not self.alive(name):
            return None
        return stamp.read_text().strip()

    def alive(self, name: str) -> bool:
        """Whether the pod's process runs."""
        if self.systemd:
            res = subprocess.run(["systemctl", "is-active", "--quiet", self.unit(name)])
            return res.returncode == 0
        proc = self.children.get(name)
        return proc is not None and proc.poll() is None

    def start(self, name: str, cmd: list[str], digest: str) -> None:
        """Start (or restart) a pod's process."""
        self.stop(name)
        log(f'I0000 kubelet.go] "Starting static pod" pod="{name}" command="{shlex.join(cmd)[:300]}"')
        if self.systemd:
            subprocess.run(["systemctl", "reset-failed", self.unit(name)], capture_output=True)
            subprocess.run(["systemd-run", f"--unit={self.unit(name)}", "--property=Restart=always",
                            "--property=RestartSec=2", f"--description=TEST DOUBLE static pod {name} (kubelet stand-in)",
                            "--setenv=PYTHONUNBUFFERED=1", *cmd], check=True, capture_output=True)
        else:
            logf = (self.state / f"{name}.log").open("ab")
            self.children[name] = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
        (self.state / f"{name}.hash").write_text(digest + "\n")

    def stop(self, name: str) -> None:
        """Stop a pod's process."""
        if self.systemd:
            subprocess.run(["systemctl", "stop", self.unit(name)], capture_output=True)
            subprocess.run(["systemctl", "reset-failed", self.unit(name)], capture_output=True)
        else:
            proc = self.children.pop(name, None)
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        (self.state / f"{name}.hash").unlink(missing_ok=True)

    def known(self) -> list[str]:
        """Pods this runner started (still recorded)."""
        return [p.stem for p in self.state.glob("*.hash")]


class StaticPods:
    """The kubelet's file source: manifests of staticPodPath, re-read every second."""

    def __init__(self, path: Path, runner: Runner) -> None:
        self.path = path
        self.runner = runner
        self.pods: dict[str, tuple[dict[str, Any], str]] = {}  # name -> (pod, hash)
        self.parsed: dict[str, Any] = {}  # content hash -> its parsed manifest (re-read every second, parsed once)

    def read(self) -> dict[str, tuple[dict[str, Any], str]]:
        """name -> (pod, content hash) of every manifest (files starting with '.' ignored, like the kubelet)."""
        out: dict[str, tuple[dict[str, Any], str]] = {}
        if not self.path.is_dir():
            return out
        for file in sorted(self.path.iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue
            try:
                text = file.read_text()
                digest = hashlib.sha256(text.encode()).hexdigest()[:32]
                pod = self.parsed[digest] if digest in self.parsed else yaml.safe_load(text)
            except (OSError, yaml.YAMLError) as exc:
                log(f'E0000 file.go] "Could not process manifest file" err="{exc}" path="{file}"')
                continue
            if not isinstance(pod, dict) or pod.get("kind") != "Pod":
                log(f'E0000 file.go] "Could not process manifest file" path="{file}" err="not a Pod"')
                continue
            out[pod["metadata"]["name"]] = (pod, digest)
        self.parsed = {digest: pod for pod, digest in out.values()}
        return out

    def sync(self) -> None:
        """Start pods that appeared or changed, stop those whose manifest went away."""
        wanted = self.read()
        for name, (pod, digest) in wanted.items():
            if self.runner.running_hash(name) == digest:
                continue
            cmd = command_for(pod)
            if cmd is None:
                if self.pods.get(name, (None, ""))[1] != digest:
                    log(f'E0000 kuberuntime_manager.go] "Failed to pull image" pod="{name}" image="'
                        f'{pod["spec"]["containers"][0].get("image")}" err="the lab runs no container for this image '
                        '(TEST DOUBLE kubelet)"')
                continue
            self.runner.start(name, cmd, digest)
        for name in self.runner.known():
            if name not in wanted:
                log(f'I0000 kubelet.go] "Stopping static pod, its manifest is gone" pod="{name}"')
                self.runner.stop(name)
        self.pods = wanted

    def forever(self) -> None:
        """Sync every second."""
        while True:
            try:
                self.sync()
            except Exception as exc:  # noqa: BLE001 - keep the loop alive, as the kubelet does
                log(f"E0000 static pod sync failed: {exc!r}")
            time.sleep(1)


# ---------------------------------------------------------------- API side

def bootstrap(flags: dict[str, Any], name: str) -> Path | None:
    """TLS bootstrap (pkg/kubelet/certificate/bootstrap/bootstrap.go): a CSR signed by the cluster, then kubelet.conf.

    Returns the kubeconfig to use, or None when neither kubeconfig nor bootstrap kubeconfig exists
    (standalone mode).
    """
    kubeconfig = Path(flags.get("kubeconfig") or "")
    if flags.get("kubeconfig") and kubeconfig.exists():
        return kubeconfig
    boot = Path(flags.get("bootstrap-kubeconfig") or "")
    if not flags.get("bootstrap-kubeconfig") or not boot.exists():
        return None
    log(f'I0000 bootstrap.go] "Using bootstrap kubeconfig to generate TLS client cert, key and kubeconfig file" '
        f'path="{boot}"')
    pki = Path(flags.get("cert-dir") or Path(flags.get("root-dir") or ROOT) / "pki")
    pki.mkdir(parents=True, exist_ok=True)
    key = pki / "kubelet-client.key.tmp"
    standin.new_ec_key(key)
    csr_pem = standin.csr(key, f"/O=system:nodes/CN=system:node:{name}")
    kube = standin.Kube(boot, user_agent="kubelet")
    obj = {"apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest",
           "metadata": {"generateName": "csr-"},
           "spec": {"request": standin.b64(csr_pem), "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
                    "usages": ["digital signature", "client auth"]}}
    while True:
        try:
            created = kube.request("POST", "/apis/certificates.k8s.io/v1/certificatesigningrequests", obj)
            break
        except Fail as exc:
            log(f'E0000 certificate_manager.go] "Failed while requesting a signed certificate from the control plane" '
                f'err="cannot create certificate signing request: {exc}"')
            time.sleep(2)
    path = f"/apis/certificates.k8s.io/v1/certificatesigningrequests/{created['metadata']['name']}"
    while True:
        try:
            csr = kube.request("GET", path)
        except Fail as exc:
            log(f"E0000 waiting for the CSR: {exc}")
            time.sleep(CSR_POLL)
            continue
        status = csr.get("status") or {}
        if any(c.get("type") == "Denied" for c in status.get("conditions") or []):
            die(f"failed to run Kubelet: unable to load bootstrap kubeconfig: certificate signing request "
                f"{csr['metadata']['name']} is denied")
        if status.get("certificate"):
            break
        time.sleep(CSR_POLL)
    stamp = time.strftime("%Y-%m-%d-%H-%M-%S")
    pem = pki / f"kubelet-client-{stamp}.pem"
    pem.write_bytes(base64.b64decode(status["certificate"]) + key.read_bytes())
    pem.chmod(0o600)
    key.unlink()
    current = pki / "kubelet-client-current.pem"
    current.unlink(missing_ok=True)
    current.symlink_to(pem)
    cfg = yaml.safe_load(boot.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    standin.write_private(kubeconfig, yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "default-cluster", "cluster": cluster}],
        "contexts": [{"name": "default-context", "context": {"cluster": "default-cluster", "namespace": "default",
                                                             "user": "default-auth"}}],
        "current-context": "default-context", "preferences": {},
        "users": [{"name": "default-auth", "user": {"client-certificate": str(current), "client-key": str(current)}}],
    }, sort_keys=False))
    log(f'I0000 bootstrap.go] "Wrote kubeconfig" path="{kubeconfig}"')
    return kubeconfig


def taints(flags: dict[str, Any], config: dict[str, Any]) -> list[dict[str, Any]]:
    """--register-with-taints (key=value:Effect) and registerWithTaints."""
    out = list(config.get("registerWithTaints") or [])
    for item in flags.get("register-with-taints") or []:
        kv, _, effect = item.rpartition(":")
        key, _, value = kv.partition("=")
        out.append({"key": key, "effect": effect, **({"value": value} if value else {})})
    return out


def status_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """nodeStatusHasChanged (pkg/kubelet/kubelet_node_status.go): whether posting NEW would change the Node's status
    OLD, the conditions' heartbeat and transition times aside."""
    def conditions(status: dict[str, Any]) -> list[dict[str, Any]]:
        return sorted(({k: v for k, v in c.items() if k not in ("lastHeartbeatTime", "lastTransitionTime")}
                       for c in status.get("conditions") or []), key=lambda c: str(c.get("type")))
    if conditions(old) != conditions(new):
        return True
    return any(old.get(key) != value for key, value in new.items() if key != "conditions")


def network_ready() -> bool:
    """Whether a CNI network config exists (containerd's NetworkReady: a config loaded from conf_dir)."""
    return CNI_DIR.is_dir() and any(p.suffix in (".conf", ".conflist", ".json") for p in CNI_DIR.iterdir())


class Node:
    """Node registration, status, Lease, mirror pods and the pods bound to this node."""

    def __init__(self, flags: dict[str, Any], config: dict[str, Any], pods: StaticPods, runtime: str) -> None:
        self.flags = flags
        self.config = config
        self.pods = pods
        self.runtime = runtime
        self.name = node_name(flags)
        self.ip = node_ip(flags)
        self.kube: standin.Kube | None = None
        self.registered = False
        self.uid = ""
        self.reported = float("-inf")  # when the status was last posted (time.monotonic)

    def node_object(self) -> dict[str, Any]:
        """The Node the kubelet registers (pkg/kubelet/kubelet_node_status.go initialNode)."""
        labels = {"beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux"}
        for item in self.flags.get("node-labels") or []:
            key, _, value = item.partition("=")
            labels[key] = value
        spec: dict[str, Any] = {}
        if taints(self.flags, self.config):
            spec["taints"] = taints(self.flags, self.config)
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": labels,
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": spec, "status": self.status()}

    def status(self) -> dict[str, Any]:
        """NodeStatus: addresses, conditions (Ready follows the CNI config), nodeInfo."""
        now = standin.now_rfc3339()
        ready = network_ready()
        conds = [{"type": t, "status": "False", "reason": r, "message": m, "lastHeartbeatTime": now,
                  "lastTransitionTime": now} for t, r, m in (
            ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"))]
        conds.append({"type": "Ready", "status": "True" if ready else "False",
                      "reason": "KubeletReady" if ready else "KubeletNotReady",
                      "message": "kubelet is posting ready status" if ready else NOT_READY,
                      "lastHeartbeatTime": now, "lastTransitionTime": now})
        os_image = "Linux"
        try:
            found = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
            os_image = found.group(1) if found else os_image
        except (OSError, AttributeError):
            pass
        return {"addresses": [{"type": "InternalIP", "address": self.ip}, {"type": "Hostname", "address": self.name}],
                "conditions": conds,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": int(self.config.get("port", 10250))}},
                "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "osImage": os_image,
                             "kernelVersion": os.uname().release, "kubeletVersion": "v" + standin.KUBE_VERSION,
                             "kubeProxyVersion": "", "containerRuntimeVersion": f"containerd://{self.runtime}",
                             "machineID": _read("/etc/machine-id"), "systemUUID": "", "bootID": ""}}

    def register(self) -> None:
        """Create the Node (or take over the existing one, as tryRegisterWithAPIServer does)."""
        assert self.kube is not None
        try:
            node = self.kube.request("POST", "/api/v1/nodes", self.node_object())
            log(f'I0000 kubelet_node_status.go] "Successfully registered node" node="{self.name}"')
        except ApiError as exc:
            if exc.reason != "AlreadyExists":
                raise
            node = self.kube.request("GET", f"/api/v1/nodes/{self.name}")
        self.uid = node["metadata"]["uid"]
        self.registered = True

    def heartbeat(self) -> None:
        """Node status and the kube-node-lease Lease (every nodeStatusUpdateFrequency): the status is posted when it
        changed from the Node's (heartbeat times aside) or nodeStatusReportFrequency passed since the last post."""
        assert self.kube is not None
        status = self.status()
        original = self.kube.get(f"/api/v1/nodes/{self.name}") or {}
        if status_changed(original.get("status") or {}, status) or time.monotonic() - self.reported >= STATUS_REPORT:
            self.kube.request("PATCH", f"/api/v1/nodes/{self.name}/status", json.dumps({"status": status}).encode(),
                              content_type="application/merge-patch+json")
            self.reported = time.monotonic()
        lease_path = standin.api_path("coordination.k8s.io", "v1", "leases", "kube-node-lease", self.name)
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1e6) % 1000000:06d}Z"
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": self.name, "namespace": "kube-node-lease",
                              "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                   "uid": self.uid}]},
                 "spec": {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": stamp}}
        try:
            self.kube.request("PATCH", lease_path + "?fieldManager=kubelet&force=true", json.dumps(lease).encode(),
                              content_type="application/apply-patch+yaml")
        except ApiError as exc:
            log(f"E0000 lease update failed: {exc}")

    def mirror(self) -> None:
        """Mirror pods of the static pods (kube-system/<name>-<node>), status from the running process; then the
        other pods bound here (one list of this node's pods per pass)."""
        assert self.kube is not None
        bound = {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in self.bound_pods()}
        for name, (pod, digest) in list(self.pods.pods.items()):
            ns = pod["metadata"].get("namespace") or "kube-system"
            mname = f"{name}-{self.name}"
            existing = bound.pop((ns, mname), None)
            if existing and existing["metadata"].get("annotations", {}).get("kubernetes.io/config.mirror") != digest:
                self.kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{mname}")
                existing = None
            if existing is None:
                existing = self.create_mirror(pod, ns, mname, digest)
                if existing is None:
                    continue
            running = self.pods.runner.alive(name)
            self.set_pod_status(existing, running, "" if running or command_for(pod) else "ErrImagePull")
        for (ns, pname), pod in bound.items():
            if "kubernetes.io/config.mirror" in (pod["metadata"].get("annotations") or {}):
                self.kube.request("DELETE", f"/api/v1/namespaces/{ns}/pods/{pname}")  # its manifest is gone
            else:
                self.run_pod(pod)

    def create_mirror(self, pod: dict[str, Any], ns: str, mname: str, digest: str) -> dict[str, Any] | None:
        """POST the mirror pod of a static pod (pkg/kubelet/pod/mirror_client.go)."""
        assert self.kube is not None
        annotations = {**(pod["metadata"].get("annotations") or {}), "kubernetes.io/config.hash": digest,
                       "kubernetes.io/config.mirror": digest, "kubernetes.io/config.source": "file",
                       "kubernetes.io/config.seen": standin.now_rfc3339()}
        obj = {**pod, "metadata": {**pod["metadata"], "name": mname, "namespace": ns, "annotations": annotations,
                                   "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": self.name,
                                                        "uid": self.uid, "controller": True}]},
               "spec": {**pod.get("spec", {}), "nodeName": self.name}}
        obj.pop("status", None)
        try:
            return self.kube.request("POST", f"/api/v1/namespaces/{ns}/pods", obj)
        except ApiError as exc:
            log(f'E0000 kubelet.go] "Failed creating a mirror pod" pod="{ns}/{mname}" err="{exc}"')
            return None

    def bound_pods(self) -> list[dict[str, Any]]:
        """Pods bound to this node (mirror pods, and those the scheduler or a DaemonSet put here)."""
        assert self.kube is not None
        query = f"fieldSelector=spec.nodeName%3D{self.name}"
        return self.kube.request("GET", f"/api/v1/pods?{query}")["items"]

    def run_pod(self, pod: dict[str, Any]) -> None:
        """"Run" a pod bound here: calico-node installs its CNI config; the operator runs in the controller-manager
        stand-in; any other image cannot be pulled in the lab."""
        images = [c.get("image", "") for c in (pod.get("spec") or {}).get("containers") or []]
        if any(image_name(i) == "node" and "calico" in i for i in images):
            install_cni(pod)
            self.set_pod_status(pod, True, "")
        elif any(image_name(i) == "operator" and "tigera" in i for i in images):
            self.set_pod_status(pod, True, "")
        else:
            self.set_pod_status(pod, False, "ErrImagePull")

    def set_pod_status(self, current: dict[str, Any], running: bool, waiting: str) -> None:
        """PUT pods/<name>/status unless it already says so."""
        assert self.kube is not None
        now = standin.now_rfc3339()
        containers = []
        for c in (current.get("spec") or {}).get("containers") or []:
            state = ({"running": {"startedAt": now}} if running else
                     {"waiting": {"reason": waiting or "ContainerCreating",
                                  **({"message": "the lab runs no container for this image (TEST DOUBLE kubelet)"}
                                     if waiting == "ErrImagePull" else {})}})
            containers.append({"name": c.get("name", ""), "image": c.get("image", ""), "ready": running,
                               "started": running, "restartCount": 0, "state": state})
        old = current.get("status") or {}
        if old.get("phase") == ("Running" if running else "Pending") and old.get("containerStatuses") and \
                [c.get("ready") for c in old["containerStatuses"]] == [c["ready"] for c in containers]:
            return
        current["status"] = {
            "phase": "Running" if running else "Pending", "hostIP": self.ip, "startTime": old.get("startTime") or now,
            "podIP": self.ip if (current.get("spec") or {}).get("hostNetwork") else "",
            "conditions": [{"type": t, "status": "True" if running or t == "PodScheduled" else "False",
                            "lastTransitionTime": now}
                           for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                     "PodScheduled")],
            "containerStatuses": containers, "qosClass": "BestEffort"}
        meta = current["metadata"]
        try:
            self.kube.request("PUT", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", current)
        except ApiError as exc:
            log(f"E0000 pod status update failed for {meta['namespace']}/{meta['name']}: {exc}")

    def forever(self) -> None:
        """Bootstrap credentials, register, then heartbeat and sync pods."""
        last_beat = 0.0
        while True:
            try:
                if self.kube is None:
                    conf = bootstrap(self.flags, self.name)
                    if conf is None:
                        time.sleep(2)
                        continue
                    self.kube = standin.Kube(conf, user_agent="kubelet")
                if not self.registered:
                    self.register()
                if time.time() - last_beat >= STATUS_UPDATE:
                    self.heartbeat()
                    last_beat = time.time()
                self.mirror()
            except ApiError as exc:
                if exc.code == 401:
                    log(f'E0000 kubelet_node_status.go] "Unable to register node with API server" err="{exc}" '
                        f'node="{self.name}"')
                else:
                    log(f"E0000 API call failed: {exc}")
            except Fail as exc:
                log(f'E0000 kubelet_node_status.go] "Unable to register node with API server" err="{exc}" '
                    f'node="{self.name}"')
            time.sleep(2)


def install_cni(pod: dict[str, Any]) -> None:
    """What calico-node's install-cni init container leaves on the host: a CNI config in /etc/cni/net.d."""
    CNI_DIR.mkdir(parents=True, exist_ok=True)
    conf = CNI_DIR / "10-calico.conflist"
    if conf.exists():
        return
    doc = {"name": "k8s-pod-network", "cniVersion": "0.3.1",
           "_comment": "TEST DOUBLE: written by the lab's kubelet stand-in for calico-node's install-cni",
           "plugins": [{"type": "calico", "datastore_type": "kubernetes", "nodename": pod["spec"].get("nodeName"),
                        "mtu": 0, "ipam": {"type": "calico-ipam"}, "policy": {"type": "k8s"},
                        "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}},
                       {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}}]}
    conf.write_text(json.dumps(doc, indent=2) + "\n")


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def serve(config: dict[str, Any], pki: Path) -> None:
    """:10248/healthz (HTTP, loopback) and :10250 (HTTPS, the kubelet's own self-signed certificate)."""
    hport = int(config.get("healthzPort", 10248))
    port = int(config.get("port", 10250))
    try:
        if hport:
            standin.serve_healthz(config.get("healthzBindAddress", "127.0.0.1"), hport, pki / "none", pki / "none",
                                  tls=False)
        standin.serve_healthz(config.get("address", "0.0.0.0"), port, pki / "kubelet.crt", pki / "kubelet.key")
    except OSError as exc:
        die(f"failed to run Kubelet: failed to listen on {config.get('address', '0.0.0.0')}:{port}: {exc}")


def main(argv: list[str]) -> int:
    """Start the kubelet stand-in."""
    try:
        flags, args = standin.parse_flags(argv, FLAGS)
    except Fail as exc:
        print(f"Error: failed to parse kubelet flag: {exc}", file=sys.stderr)
        return 1
    if flags.get("version"):
        print(f"Kubernetes v{standin.KUBE_VERSION}")
        return 0
    if args:
        die(f"unknown command {args[0]!r}")
    standin.log_call("kubelet")
    config = load_config(flags)
    check_cgroups(config, flags.get("config", ""))
    endpoint = flags.get("container-runtime-endpoint") or config.get("containerRuntimeEndpoint") or DEFAULT_RUNTIME
    runtime = runtime_version(endpoint)
    check_runtime(runtime)
    root = Path(flags.get("root-dir") or ROOT)
    root.mkdir(parents=True, exist_ok=True)
    serve(config, Path(flags.get("cert-dir") or root / "pki"))
    manifests = Path(flags.get("pod-manifest-path") or config.get("staticPodPath") or "")
    runner = Runner()
    pods = StaticPods(manifests, runner) if str(manifests) not in ("", ".") else StaticPods(Path("/nonexistent"),
                                                                                          runner)
    threading.Thread(target=pods.forever, daemon=True).start()
    node = Node(flags, config, pods, runtime)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(f'I0000 server.go] "Kubelet version" kubeletVersion="v{standin.KUBE_VERSION}" (TEST DOUBLE) '
        f'runtime="containerd://{runtime}" staticPodPath="{manifests}"')
    node.forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
