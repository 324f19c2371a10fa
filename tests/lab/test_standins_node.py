"""The node-side stand-ins (API server, kubectl, kubelet pieces) against a real etcd on loopback.

Host-free: no lab. Needs Debian's etcd (`etcd-server`) on the host, as the lab's nodes have it;
the stand-in sources are installed into a temporary directory with their version filled in, as
the lab's package build does.
"""

from __future__ import annotations

import base64
import importlib
import json
import os
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
CALICO = Path(os.environ.get("LAB_CALICO_DIR") or Path(__file__).resolve().parents[3] / "shared/upstream/calico")
VERSION = "1.37.1"
ETCD = shutil.which("etcd") or "/usr/bin/etcd"

pytestmark = pytest.mark.skipif(not Path(ETCD).exists(), reason="needs Debian's etcd-server on the host")


def free_port() -> int:
    """A TCP port free on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def cert(pki: Path, name: str, subject: str, sans: str | None = None, usage: str = "serverAuth,clientAuth") -> None:
    """A key and a certificate signed by pki/ca."""
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(pki / f"{name}.key"))
    ext = pki / f"{name}.ext"
    ext.write_text(f"extendedKeyUsage={usage}\n" + (f"subjectAltName={sans}\n" if sans else ""))
    openssl("req", "-new", "-key", str(pki / f"{name}.key"), "-subj", subject, "-out", str(pki / f"{name}.csr"))
    openssl("x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"), "-CAkey", str(pki / "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(pki / f"{name}.crt"))


def kubeconfig(path: Path, server: str, pki: Path, name: str | None, token: str | None = None) -> Path:
    """A kubeconfig for a client certificate, a bearer token or anonymous access."""
    user: dict[str, Any] = {}
    if name:
        user = {"client-certificate-data": base64.b64encode((pki / f"{name}.crt").read_bytes()).decode(),
                "client-key-data": base64.b64encode((pki / f"{name}.key").read_bytes()).decode()}
    if token:
        user = {"token": token}
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
           "clusters": [{"name": "k", "cluster": {"server": server, "certificate-authority-data":
                                                  base64.b64encode((pki / "ca.crt").read_bytes()).decode()}}],
           "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
           "users": [{"name": "u", "user": user}]}
    path.write_text(yaml.safe_dump(doc))
    return path


def wait_for(check: Any, timeout: float = 20) -> Any:
    """Poll check() until it returns something true."""
    deadline = time.time() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


class Cluster:
    """A real etcd and one stand-in API server on loopback, with an admin kubeconfig."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        for src in NODE.glob("*.py"):
            (self.bin / src.name).write_text(src.read_text().replace("@KUBE_VERSION@", VERSION))
        self.pki = root / "pki"
        self.pki.mkdir()
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.pki / "ca.key"), "-subj",
                "/CN=kubernetes", "-days", "2", "-out", str(self.pki / "ca.crt"))
        cert(self.pki, "etcd", "/CN=etcd", "IP:127.0.0.1,DNS:localhost")
        cert(self.pki, "etcd-client", "/O=system:masters/CN=kube-apiserver-etcd-client", usage="clientAuth")
        cert(self.pki, "apiserver", "/CN=kube-apiserver", "IP:127.0.0.1,DNS:localhost", usage="serverAuth")
        cert(self.pki, "admin", "/O=system:masters/CN=kubernetes-admin", usage="clientAuth")
        cert(self.pki, "viewer", "/O=viewers/CN=jane", usage="clientAuth")
        openssl("genpkey", "-algorithm", "RSA", "-out", str(self.pki / "sa.key"))
        openssl("pkey", "-in", str(self.pki / "sa.key"), "-pubout", "-out", str(self.pki / "sa.pub"))
        self.etcd_port = free_port()
        self.port = free_port()
        self.env = {**os.environ, "K8S_STANDIN_LOG": str(root / "standin.log"), "HOME": str(root)}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.start_etcd()
        self.audit_log = root / "audit.log"
        (root / "audit.yaml").write_text(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n"
            "- level: None\n  nonResourceURLs: ['/healthz*', '/readyz*', '/livez*', '/version']\n"
            "- level: Metadata\n  resources: [{group: '', resources: [secrets]}]\n"
            "- level: Request\n")
        (root / "enc.yaml").write_text(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            "- resources: [secrets]\n  providers:\n"
            f"  - aescbc: {{keys: [{{name: key1, secret: {base64.b64encode(b'k' * 32).decode()}}}]}}\n"
            "  - identity: {}\n")
        self.server = f"https://127.0.0.1:{self.port}"
        self.apiserver = self.start_apiserver()
        self.admin = kubeconfig(root / "admin.conf", self.server, self.pki, "admin")
        wait_for(lambda: self.http("/readyz") == (200, b"ok"), 30)

    def start_etcd(self) -> None:
        peer = free_port()
        p = self.pki
        self.procs.append(subprocess.Popen(
            [ETCD, "--name", "t", "--data-dir", str(self.root / "etcd"),
             "--listen-client-urls", f"https://127.0.0.1:{self.etcd_port}",
             "--advertise-client-urls", f"https://127.0.0.1:{self.etcd_port}",
             "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls",
             f"http://127.0.0.1:{peer}", "--initial-cluster", f"t=http://127.0.0.1:{peer}",
             "--cert-file", str(p / "etcd.crt"), "--key-file", str(p / "etcd.key"), "--client-cert-auth",
             "--trusted-ca-file", str(p / "ca.crt")],
            stdout=subprocess.DEVNULL, stderr=(self.root / "etcd.log").open("wb")))

    def apiserver_flags(self, **extra: str) -> list[str]:
        p = self.pki
        flags = {
            "advertise-address": "127.0.0.1", "bind-address": "127.0.0.1", "secure-port": str(self.port),
            "allow-privileged": "true", "authorization-mode": "Node,RBAC", "client-ca-file": str(p / "ca.crt"),
            "enable-admission-plugins": "NodeRestriction", "enable-bootstrap-token-auth": "true",
            "etcd-cafile": str(p / "ca.crt"), "etcd-certfile": str(p / "etcd-client.crt"),
            "etcd-keyfile": str(p / "etcd-client.key"), "etcd-servers": f"https://127.0.0.1:{self.etcd_port}",
            "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
            "service-account-key-file": str(p / "sa.pub"), "service-account-signing-key-file": str(p / "sa.key"),
            "service-cluster-ip-range": "10.96.0.0/12", "tls-cert-file": str(p / "apiserver.crt"),
            "tls-private-key-file": str(p / "apiserver.key"),
            "encryption-provider-config": str(self.root / "enc.yaml"),
            "audit-policy-file": str(self.root / "audit.yaml"), "audit-log-path": str(self.root / "audit.log"),
            **extra}
        return [f"--{k}={v}" for k, v in flags.items()]

    def start_apiserver(self, *flags: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, str(self.bin / "apiserver.py"), *(flags or self.apiserver_flags())],
                                env=self.env, stdout=subprocess.DEVNULL,
                                stderr=(self.root / "apiserver.log").open("ab"))
        self.procs.append(proc)
        return proc

    def http(self, path: str) -> tuple[int, bytes]:
        """An anonymous GET (CA-verified)."""
        import ssl
        import urllib.error
        import urllib.request
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        try:
            with urllib.request.urlopen(self.server + path, context=ctx, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def etcdctl(self, *args: str) -> str:
        """etcdctl against the test etcd (the real client, as an operator would use it)."""
        p = self.pki
        res = subprocess.run(["etcdctl", f"--endpoints=https://127.0.0.1:{self.etcd_port}", f"--cacert={p / 'ca.crt'}",
                              f"--cert={p / 'etcd-client.crt'}", f"--key={p / 'etcd-client.key'}", *args],
                             capture_output=True, env={**os.environ, "ETCDCTL_API": "3"}, check=True)
        return res.stdout.decode(errors="replace")

    def kubectl(self, *args: str, kubeconfig: Path | None = None, input: str | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the stand-in kubectl."""
        return subprocess.run([sys.executable, str(self.bin / "kubectl.py"),
                               "--kubeconfig", str(kubeconfig or self.admin), *args],
                              capture_output=True, text=True, env=self.env, input=input, timeout=timeout,
                              cwd=self.root)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("standins"))
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def mod(cluster: Cluster) -> Any:
    """Import a stand-in module from the installed copy."""
    sys.path.insert(0, str(cluster.bin))
    try:
        yield importlib.import_module
    finally:
        sys.path.remove(str(cluster.bin))


def api(cluster: Cluster, mod: Any, conf: Path | None = None) -> Any:
    return mod("standin").Kube(conf or cluster.admin)


def ok(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


# ---------------------------------------------------------------- API server


def test_health_and_version(cluster: Cluster) -> None:
    assert cluster.http("/livez") == (200, b"ok")
    assert cluster.http("/readyz") == (200, b"ok")
    code, body = cluster.http("/version")
    assert code == 200 and json.loads(body)["gitVersion"] == "v" + VERSION


def test_anonymous_is_limited_to_public_info(cluster: Cluster) -> None:
    code, body = cluster.http("/api/v1/namespaces")
    assert code == 403
    assert json.loads(body)["message"] == ('namespaces is forbidden: User "system:anonymous" cannot list resource '
                                           '"namespaces" in API group "" at the cluster scope')


def test_objects_live_in_etcd_under_the_real_keys(cluster: Cluster, mod: Any) -> None:
    kube = api(cluster, mod)
    kube.request("POST", "/api/v1/namespaces/default/configmaps",
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}, "data": {"k": "visible"}})
    raw = cluster.etcdctl("get", "/registry/configmaps/default/plain", "--print-value-only")
    assert '"visible"' in raw
    assert "/registry/namespaces/kube-system" in cluster.etcdctl("get", "/registry/namespaces/", "--prefix",
                                                                 "--keys-only")


def test_secrets_are_encrypted_at_rest_with_the_real_prefix(cluster: Cluster, mod: Any) -> None:
    kube = api(cluster, mod)
    kube.request("POST", "/api/v1/namespaces/default/secrets",
                 {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s1"},
                  "data": {"password": base64.b64encode(b"hunter2").decode()}})
    raw = cluster.etcdctl("get", "/registry/secrets/default/s1", "--print-value-only")
    assert raw.startswith("k8s:enc:aescbc:v1:key1:")
    assert "hunter2" not in raw and base64.b64encode(b"hunter2").decode() not in raw
    back = kube.request("GET", "/api/v1/namespaces/default/secrets/s1")
    assert base64.b64decode(back["data"]["password"]) == b"hunter2"


def test_audit_log_lines(cluster: Cluster, mod: Any) -> None:
    api(cluster, mod).request("GET", "/api/v1/namespaces/default/secrets/s1")
    events = [json.loads(line) for line in cluster.audit_log.read_text().splitlines()]
    secret_reads = [e for e in events if e.get("objectRef", {}).get("resource") == "secrets" and e["verb"] == "get"]
    assert secret_reads and secret_reads[-1]["level"] == "Metadata"
    assert secret_reads[-1]["user"]["username"] == "kubernetes-admin"
    assert all(e["stage"] == "ResponseComplete" for e in events)
    assert not any(e["requestURI"].startswith("/readyz") for e in events)


def test_create_conflict_and_not_found_messages(cluster: Cluster, mod: Any) -> None:
    kube = api(cluster, mod)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "dup"}}
    kube.request("POST", "/api/v1/namespaces", ns)
    with pytest.raises(mod("standin").ApiError, match='namespaces "dup" already exists'):
        kube.request("POST", "/api/v1/namespaces", ns)
    with pytest.raises(mod("standin").ApiError, match='namespaces "nope" not found'):
        kube.request("POST", "/api/v1/namespaces/nope/configmaps",
                     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}})


def test_annotation_size_limit(cluster: Cluster, mod: Any) -> None:
    with pytest.raises(mod("standin").ApiError, match="metadata.annotations: Too long: must have at most 262144 bytes"):
        api(cluster, mod).request("POST", "/api/v1/namespaces/default/configmaps", {
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "big", "annotations": {"a": "x" * 262144}}})


def test_unknown_flag_is_refused_like_the_real_binary(cluster: Cluster) -> None:
    res = subprocess.run([sys.executable, str(cluster.bin / "apiserver.py"), "--etcd-servers=https://127.0.0.1:1",
                          "--no-such-flag=1"], capture_output=True, text=True, env=cluster.env)
    assert res.returncode == 1 and "unknown flag: --no-such-flag" in res.stderr


def test_readyz_fails_until_etcd_answers(cluster: Cluster) -> None:
    port = free_port()
    flags = cluster.apiserver_flags(**{"secure-port": str(port), "etcd-servers": f"https://127.0.0.1:{free_port()}"})
    proc = cluster.start_apiserver(*flags)
    try:
        url = f"https://127.0.0.1:{port}"
        saved, cluster.server = cluster.server, url
        try:
            assert wait_for(lambda: cluster.http("/livez")[0] == 200)
            assert cluster.http("/readyz")[0] == 500
        finally:
            cluster.server = saved
    finally:
        proc.terminate()
        proc.wait(5)



def test_api_servers_sharing_etcd_agree(cluster: Cluster, mod: Any) -> None:
    port = free_port()
    second = cluster.start_apiserver(*cluster.apiserver_flags(**{"secure-port": str(port)}))
    try:
        other = kubeconfig(cluster.root / "second.conf", f"https://127.0.0.1:{port}", cluster.pki, "admin")
        kube2 = wait_for(lambda: _ready(mod, other))
        api(cluster, mod).request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                                 "metadata": {"name": "shared"}})
        assert kube2.request("GET", "/api/v1/namespaces/shared")["status"]["phase"] == "Active"
    finally:
        second.terminate()
        second.wait(5)


def _ready(mod: Any, conf: Path) -> Any:
    try:
        kube = mod("standin").Kube(conf)
        kube.request("GET", "/api/v1/namespaces/default")
        return kube
    except mod("standin").Fail:
        return None


# ---------------------------------------------------------------- kubectl and CRDs

SMALL_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
              color: {type: string, enum: [red, blue]}
"""
WIDGET = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3, color: red}\n"


def test_wait_for_a_missing_crd_fails_at_once(cluster: Cluster) -> None:
    started = time.time()
    res = cluster.kubectl("wait", "--for", "condition=established", "--timeout=60s", "crd/nothere.example.com")
    assert res.returncode == 1
    assert res.stderr.strip() == ('Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io '
                                  '"nothere.example.com" not found')
    assert time.time() - started < 10
    ok(cluster.kubectl("wait", "--for=delete", "--timeout=5s", "crd/nothere.example.com"))


def test_custom_kind_refused_until_its_crd_is_established(cluster: Cluster) -> None:
    (cluster.root / "both.yaml").write_text(SMALL_CRD + "---\n" + WIDGET)
    (cluster.root / "widget.yaml").write_text(WIDGET)
    early = cluster.kubectl("apply", "-f", "both.yaml")  # one kubectl: its discovery predates the CRD
    assert early.returncode == 1
    assert early.stdout.strip() == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
    assert 'no matches for kind "Widget" in version "example.com/v1"' in early.stderr
    assert "ensure CRDs are installed first" in early.stderr
    out = ok(cluster.kubectl("wait", "--for", "condition=established", "--timeout=30s",
                             "crd/widgets.example.com"))
    assert out.strip() == "customresourcedefinition.apiextensions.k8s.io/widgets.example.com condition met"
    assert ok(cluster.kubectl("apply", "-f", "widget.yaml")).strip() == "widget.example.com/w1 created"
    assert ok(cluster.kubectl("apply", "-f", "widget.yaml")).strip() == "widget.example.com/w1 unchanged"
    assert ok(cluster.kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.size}")) == "3"
    raw = cluster.etcdctl("get", "/registry/example.com/widgets/w1", "--print-value-only")
    assert '"color":"red"' in raw


def test_custom_object_checked_against_its_schema(cluster: Cluster) -> None:
    (cluster.root / "bad1.yaml").write_text(WIDGET.replace("color: red", "colour: red").replace("w1", "w2"))
    res = cluster.kubectl("apply", "-f", "bad1.yaml")
    assert res.returncode == 1 and 'strict decoding error: unknown field "spec.colour"' in res.stderr
    (cluster.root / "bad2.yaml").write_text(WIDGET.replace("size: 3", "size: big").replace("w1", "w3"))
    res = cluster.kubectl("apply", "-f", "bad2.yaml")
    assert res.returncode == 1 and "spec.size in body must be of type integer" in res.stderr
    (cluster.root / "bad3.yaml").write_text(WIDGET.replace("red", "green").replace("w1", "w4"))
    res = cluster.kubectl("apply", "-f", "bad3.yaml")
    assert res.returncode == 1 and 'Unsupported value: "green": supported values: "red", "blue"' in res.stderr


def test_server_side_apply_conflicts_and_force(cluster: Cluster) -> None:
    (cluster.root / "w5.yaml").write_text(WIDGET.replace("w1", "w5"))
    ok(cluster.kubectl("apply", "-f", "w5.yaml"))
    (cluster.root / "w5b.yaml").write_text(WIDGET.replace("w1", "w5").replace("size: 3", "size: 4"))
    res = cluster.kubectl("apply", "--server-side", "-f", "w5b.yaml")
    assert res.returncode == 1
    assert ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using example.com/v1: '
            ".spec.size") in res.stderr
    out = ok(cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "w5b.yaml"))
    assert out.strip() == "widget.example.com/w5 serverside-applied"
    assert ok(cluster.kubectl("get", "widgets.example.com/w5", "-o", "jsonpath={.spec.size}")) == "4"


@pytest.mark.skipif(not CALICO.exists(), reason="needs ../shared/upstream/calico (Calico's real manifests)")
def test_calico_crds_too_big_for_client_side_apply_fit_server_side(cluster: Cluster) -> None:
    crds = CALICO / "v3.31.7" / "operator-crds.yaml"
    res = cluster.kubectl("apply", "-f", str(crds), timeout=300)
    assert res.returncode == 1
    assert ('CustomResourceDefinition.apiextensions.k8s.io "installations.operator.tigera.io" is invalid: '
            "metadata.annotations: Too long: must have at most 262144 bytes") in res.stderr
    assert "customresourcedefinition.apiextensions.k8s.io/ippools.crd.projectcalico.org created" in res.stdout
    out = ok(cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds), timeout=300))
    assert out.count("serverside-applied") == 32
    ok(cluster.kubectl("wait", "--for", "condition=established", "--timeout=60s",
                       "crd/installations.operator.tigera.io", "crd/apiservers.operator.tigera.io"))
    again = ok(cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(crds), timeout=300))
    assert again.count("serverside-applied") == 32


def test_get_outputs_and_rbac_denial(cluster: Cluster) -> None:
    names = ok(cluster.kubectl("get", "namespaces", "-o", "name")).split()
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public", "namespace/kube-node-lease"} <= set(names)
    doc = json.loads(ok(cluster.kubectl("get", "ns", "kube-system", "-o", "json")))
    assert doc["kind"] == "Namespace" and doc["status"]["phase"] == "Active"
    missing = cluster.kubectl("get", "crd", "nope.example.com")
    assert missing.stderr.strip() == ('Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io '
                                      '"nope.example.com" not found')
    assert ok(cluster.kubectl("get", "crd", "nope.example.com", "--ignore-not-found")) == ""
    viewer = kubeconfig(cluster.root / "viewer.conf", cluster.server, cluster.pki, "viewer")
    denied = cluster.kubectl("get", "secrets", "-n", "kube-system", kubeconfig=viewer)
    assert denied.returncode == 1
    assert ('secrets is forbidden: User "jane" cannot list resource "secrets" in API group "" in the namespace '
            '"kube-system"') in denied.stderr


def test_crd_objects_are_not_served_before_established(cluster: Cluster, mod: Any) -> None:
    kube = api(cluster, mod)
    crd = yaml.safe_load(SMALL_CRD.replace("widgets", "gadgets").replace("Widget", "Gadget").replace("widget", "gadget"))
    kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    with pytest.raises(mod("standin").ApiError, match="^the server could not find the requested resource$"):
        kube.request("POST", "/apis/example.com/v1/gadgets",
                     {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}})
    wait_for(lambda: kube.get("/apis/example.com/v1/gadgets") is not None)
    status = kube.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.example.com")
    assert {c["type"]: c["status"] for c in status["status"]["conditions"]} == {"NamesAccepted": "True",
                                                                                "Established": "True"}


# ---------------------------------------------------------------- kubelet, controller-manager, scheduler, operator

STATIC_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: kube-system
  labels: {{component: {name}, tier: control-plane}}
spec:
  hostNetwork: true
  priorityClassName: system-node-critical
  containers:
  - name: {name}
    image: registry.k8s.io/{name}:v1.37.1
    command:
    - {name}
{flags}
"""


class Node:
    """A stand-in kubelet run as a child process against the test cluster, with a fake containerd socket."""

    def __init__(self, cluster: Cluster, name: str = "node-a") -> None:
        self.cluster = cluster
        self.name = name
        self.dir = cluster.root / name
        self.manifests = self.dir / "manifests"
        self.manifests.mkdir(parents=True)
        self.cni = self.dir / "cni"
        fake = self.dir / "fakebin"
        fake.mkdir()
        self.containerd("2.1.9")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(self.dir / "containerd.sock"))
        self.sock.listen(1)
        self.config = self.dir / "config.yaml"
        self.env = {k: v for k, v in cluster.env.items() if k != "INVOCATION_ID"}
        self.env.update(PATH=f"{fake}:{os.environ['PATH']}", K8S_STANDIN_CNI_DIR=str(self.cni),
                        K8S_STANDIN_POD_STATE=str(self.dir / "pods"))
        self.proc: subprocess.Popen[bytes] | None = None

    def containerd(self, version: str) -> None:
        """What `ctr version` answers."""
        ctr = self.dir / "fakebin" / "ctr"
        ctr.write_text(f"#!/bin/sh\nprintf 'Client:\\n  Version:  v{version}\\n\\nServer:\\n  Version:  v{version}\\n'\n")
        ctr.chmod(0o755)

    def write_config(self, **extra: Any) -> None:
        self.config.write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "staticPodPath": str(self.manifests), "healthzPort": free_port(), "port": free_port(),
            "address": "127.0.0.1", "failCgroupV1": False,
            "containerRuntimeEndpoint": f"unix://{self.dir / 'containerd.sock'}", **extra}))

    def args(self, bootstrap: Path | None, kubeconfig: Path) -> list[str]:
        return [sys.executable, str(self.cluster.bin / "kubelet.py"), f"--config={self.config}",
                f"--kubeconfig={kubeconfig}", f"--root-dir={self.dir / 'root'}", f"--hostname-override={self.name}",
                "--node-ip=127.0.0.1"] + ([f"--bootstrap-kubeconfig={bootstrap}"] if bootstrap else [])

    def run_once(self, bootstrap: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.args(bootstrap, self.dir / "kubelet.conf"), capture_output=True, text=True,
                              env=self.env, timeout=30)

    def start(self, bootstrap: Path | None, kubeconfig: Path) -> None:
        self.proc = subprocess.Popen(self.args(bootstrap, kubeconfig), env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=(self.dir / "kubelet.log").open("ab"))
        self.cluster.procs.append(self.proc)

    def static_pod(self, name: str, *flags: str) -> None:
        (self.manifests / f"{name}.yaml").write_text(
            STATIC_POD.format(name=name, flags="\n".join(f"    - {f}" for f in flags)))

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
        pids = subprocess.run(["pgrep", "-f", str(self.cluster.bin)], capture_output=True, text=True).stdout.split()
        for pid in pids:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            if any(s in cmdline for s in ("controller_manager.py", "scheduler.py")):
                os.kill(int(pid), 15)


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[Node]:
    n = Node(cluster)
    try:
        yield n
    finally:
        n.stop()


def test_kubelet_exits_until_configured(node: Node) -> None:
    res = node.run_once()
    assert res.returncode == 1
    assert (f"failed to load kubelet config file, path: {node.config}, error: failed to load Kubelet config file "
            f"{node.config}") in res.stderr


def test_kubelet_refuses_cgroup_v1_hosts_by_default(node: Node, mod: Any) -> None:
    node.write_config(failCgroupV1=True)
    res = node.run_once()
    if mod("kubelet").cgroup_v2():
        pytest.skip("this host runs cgroup v2")
    assert res.returncode == 1
    assert "kubelet is configured to not run on a host using cgroup v1" in res.stderr


def test_kubelet_warns_about_containerd_1x_and_carries_on(node: Node) -> None:
    """Like the real 1.37 kubelet: the RuntimeConfig lines, then the cgroupDriver fallback (refusal is 1.38's)."""
    node.write_config()
    node.containerd("1.7.24")
    node.start(None, node.dir / "kubelet.conf")
    try:
        log = node.dir / "kubelet.log"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and "Falling back to using cgroupDriver" not in log.read_text():
            time.sleep(0.2)
        text = log.read_text()
        assert "unknown method RuntimeConfig for service runtime.v1.RuntimeService" in text
        assert "Falling back to using cgroupDriver from kubelet config" in text
        assert node.proc is not None and node.proc.poll() is None, "the kubelet exited: " + text[-1000:]
    finally:
        node.stop()
        node.containerd("2.1.9")


def test_kubelet_bootstraps_registers_and_runs_static_pods(cluster: Cluster, node: Node, mod: Any) -> None:
    kube = api(cluster, mod)
    pki = cluster.pki
    cert(pki, "cm", "/CN=system:kube-controller-manager", usage="clientAuth")
    cert(pki, "sched", "/CN=system:kube-scheduler", usage="clientAuth")
    cm_conf = kubeconfig(cluster.root / "cm.conf", cluster.server, pki, "cm")
    sched_conf = kubeconfig(cluster.root / "sched.conf", cluster.server, pki, "sched")
    # what kubeadm init leaves: a bootstrap token and the RBAC bindings for TLS bootstrap
    kube.request("POST", "/api/v1/namespaces/kube-system/secrets", {
        "apiVersion": "v1", "kind": "Secret", "type": "bootstrap.kubernetes.io/token",
        "metadata": {"name": "bootstrap-token-abcdef"},
        "stringData": {}, "data": {k: base64.b64encode(v.encode()).decode() for k, v in {
            "token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-authentication": "true",
            "usage-bootstrap-signing": "true", "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token"
        }.items()}})
    for name, role in (("kubeadm:kubelet-bootstrap", "system:node-bootstrapper"),
                       ("kubeadm:node-autoapprove-bootstrap",
                        "system:certificates.k8s.io:certificatesigningrequests:nodeclient")):
        kube.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"kind": "Group", "name": "system:bootstrappers:kubeadm:default-node-token"}]})
    boot = kubeconfig(node.dir / "bootstrap-kubelet.conf", cluster.server, pki, None, token="abcdef.0123456789abcdef")
    cm_port, sched_port = free_port(), free_port()
    node.static_pod("kube-controller-manager", "--bind-address=127.0.0.1", f"--secure-port={cm_port}",
                    f"--kubeconfig={cm_conf}", "--leader-elect=true", f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                    f"--cluster-signing-key-file={pki / 'ca.key'}", f"--root-ca-file={pki / 'ca.crt'}",
                    "--use-service-account-credentials=true")
    node.static_pod("kube-scheduler", "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
                    f"--kubeconfig={sched_conf}", "--leader-elect=true")
    node.static_pod("coredns")
    node.write_config()
    node.start(boot, node.dir / "kubelet.conf")
    conf = wait_for(lambda: (node.dir / "kubelet.conf").exists() and node.dir / "kubelet.conf", 60)
    assert "kubelet-client-current.pem" in conf.read_text()
    reg = wait_for(lambda: kube.get("/api/v1/nodes/node-a"), 30)
    assert reg["metadata"]["labels"]["kubernetes.io/hostname"] == "node-a"
    ready = next(c for c in reg["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and "cni plugin not initialized" in ready["message"]
    assert wait_for(lambda: kube.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/node-a"))
    mirror = wait_for(lambda: (kube.get("/api/v1/namespaces/kube-system/pods/kube-scheduler-node-a") or {})
                      .get("status", {}).get("phase") == "Running", 30)
    assert mirror
    import ssl
    import urllib.request
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    assert urllib.request.urlopen(f"https://127.0.0.1:{cm_port}/healthz", context=ctx, timeout=5).read() == b"ok"
    assert urllib.request.urlopen(f"https://127.0.0.1:{sched_port}/healthz", context=ctx, timeout=5).read() == b"ok"
    (node.manifests / "kube-scheduler.yaml").unlink()
    wait_for(lambda: kube.get("/api/v1/namespaces/kube-system/pods/kube-scheduler-node-a") is None, 30)
    node.static_pod("kube-scheduler", "--bind-address=127.0.0.1", f"--secure-port={sched_port}",
                    f"--kubeconfig={sched_conf}", "--leader-elect=true")
    assert wait_for(lambda: kube.get("/api/v1/namespaces/kube-system/serviceaccounts/default"), 30)


@pytest.mark.skipif(not CALICO.exists(), reason="needs ../shared/upstream/calico (Calico's real manifests)")
def test_node_ready_only_once_calico_node_runs(cluster: Cluster, node: Node, mod: Any) -> None:
    kube = api(cluster, mod)
    wait_for(lambda: kube.get("/api/v1/nodes/node-a"), 60)
    version = CALICO / "v3.31.7"
    ok(cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(version / "operator-crds.yaml"),
                       timeout=300))
    ok(cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(version / "tigera-operator.yaml")))
    ok(cluster.kubectl("wait", "--for", "condition=established", "--timeout=60s",
                       "crd/installations.operator.tigera.io"))
    time.sleep(3)
    node_obj = kube.request("GET", "/api/v1/nodes/node-a")
    assert next(c for c in node_obj["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"
    (cluster.root / "installation.yaml").write_text(
        "apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata: {name: default}\nspec:\n  calicoNetwork:\n"
        "    ipPools: [{name: default-ipv4-ippool, cidr: 10.244.0.0/16, encapsulation: VXLANCrossSubnet, "
        "natOutgoing: Enabled, nodeSelector: all()}]\n")
    ok(cluster.kubectl("apply", "-f", "installation.yaml"))

    def node_ready() -> bool:
        n = kube.request("GET", "/api/v1/nodes/node-a")
        return next(c for c in n["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    wait_for(node_ready, 90)
    pods = json.loads(ok(cluster.kubectl("get", "pods", "-A", "-l", "k8s-app=calico-node", "-o", "json")))["items"]
    assert [(p["spec"]["nodeName"], p["status"]["phase"]) for p in pods] == [("node-a", "Running")]
    assert (node.cni / "10-calico.conflist").exists()
    status = kube.request("GET", "/apis/operator.tigera.io/v1/tigerastatuses/calico")
    assert {c["type"]: c["status"] for c in status["status"]["conditions"]}["Available"] == "True"
    dep = kube.request("GET", "/apis/apps/v1/namespaces/tigera-operator/deployments/tigera-operator")
    assert dep["status"]["availableReplicas"] == 1



def test_crictl_answers_from_containerd(node: Node) -> None:
    env = {**node.env, "CONTAINER_RUNTIME_ENDPOINT": f"unix://{node.dir / 'containerd.sock'}"}
    res = subprocess.run([sys.executable, str(node.cluster.bin / "crictl.py"), "version"], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1:3] == ["RuntimeName:  containerd", "RuntimeVersion:  v2.1.9"]
    env["CONTAINER_RUNTIME_ENDPOINT"] = f"unix://{node.dir / 'missing.sock'}"
    res = subprocess.run([sys.executable, str(node.cluster.bin / "crictl.py"), "version"], capture_output=True,
                         text=True, env=env)
    assert res.returncode == 1 and "validate CRI v1 runtime API for endpoint" in res.stderr


def test_cordon_drain_uncordon(cluster: Cluster, node: Node) -> None:
    wait_for(lambda: cluster.kubectl("get", "node", "node-a").returncode == 0, 60)
    assert ok(cluster.kubectl("cordon", "node-a")).strip() == "node/node-a cordoned"
    assert ok(cluster.kubectl("cordon", "node-a")).strip() == "node/node-a already cordoned"
    pods = json.loads(ok(cluster.kubectl("get", "pods", "-A", "--field-selector", "spec.nodeName=node-a", "-o", "json")))
    daemon = [p for p in pods["items"] if any(o["kind"] == "DaemonSet" for o in p["metadata"].get("ownerReferences", []))]
    if daemon:
        refused = cluster.kubectl("drain", "node-a", "--timeout=30s")
        assert refused.returncode == 1 and "cannot delete DaemonSet-managed Pods" in refused.stderr
    drained = ok(cluster.kubectl("drain", "node-a", "--ignore-daemonsets", "--timeout=60s"))
    assert drained.strip().endswith("node/node-a drained")
    assert "SchedulingDisabled" in ok(cluster.kubectl("get", "nodes"))
    assert ok(cluster.kubectl("uncordon", "node-a")).strip() == "node/node-a uncordoned"
    out = ok(cluster.kubectl("get", "nodes", "-o",
                             'jsonpath={range .items[*]}{.metadata.name}{" "}{.spec.unschedulable}{"\\n"}{end}'))
    assert out == "node-a \n"


@pytest.mark.skipif(not CALICO.exists(), reason="needs ../shared/upstream/calico (Calico's real manifests)")
def test_custom_resource_tables_use_printer_columns(cluster: Cluster, node: Node) -> None:
    wait_for(lambda: cluster.kubectl("get", "tigerastatus", "calico").returncode == 0, 90)
    lines = ok(cluster.kubectl("get", "tigerastatus")).splitlines()
    assert lines[0].split() == ["NAME", "AVAILABLE", "PROGRESSING", "DEGRADED", "SINCE", "MESSAGE"]
    rows = {line.split()[0]: line.split()[1:4] for line in lines[1:]}
    assert rows["calico"] == ["True", "False", "False"] and rows["ippools"] == ["True", "False", "False"]


@pytest.mark.parametrize("provider,size", [("aescbc", 32), ("aesgcm", 16), ("secretbox", 32)])
def test_encryption_providers_use_the_real_format(mod: Any, tmp_path: Path, provider: str, size: int) -> None:
    conf = tmp_path / "enc.yaml"
    conf.write_text(yaml.safe_dump({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {provider: {"keys": [{"name": "k2", "secret": base64.b64encode(b"s" * size).decode()}]}},
            {"identity": {}}]}]}))
    enc = mod("apisecurity").Encryption.load(str(conf))
    key = "/registry/secrets/default/x"
    stored = enc.write("secrets", "", key, b'{"data":"plain"}')
    assert stored.startswith(f"k8s:enc:{provider}:v1:k2:".encode()) and b"plain" not in stored
    assert enc.read("secrets", "", key, stored) == b'{"data":"plain"}'
    assert enc.read("secrets", "", key, b'{"old":"identity"}') == b'{"old":"identity"}'
    assert enc.write("configmaps", "", "/registry/configmaps/default/x", b"{}") == b"{}"
    if provider == "aesgcm":  # the etcd key is authenticated data: a value moved to another key does not decrypt
        with pytest.raises(Exception):
            enc.read("secrets", "", "/registry/secrets/default/other", stored)
