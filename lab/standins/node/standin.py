"""TEST DOUBLE shared code for the lab's stand-in kubeadm/kubectl/kubelet (not Kubernetes)."""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

KUBE_VERSION = "@KUBE_VERSION@"  # filled in when the lab builds the package
LOG = Path("/var/log/k8s-standin.log")
KDIR = Path("/etc/kubernetes")
PKI = KDIR / "pki"
ADMIN_CONF = KDIR / "admin.conf"
KUBELET_CONF = KDIR / "kubelet.conf"
STANDIN_DIR = KDIR / "standin"
APISERVER_CONF = STANDIN_DIR / "apiserver.json"
APISERVER_UNIT = Path("/etc/systemd/system/kube-apiserver-standin.service")


class Fail(Exception):
    """An error the tool reports like the real one and exits non-zero."""


def log_call(tool: str) -> None:
    """Append this invocation to the node's stand-in log."""
    try:
        with LOG.open("a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {tool} {shlex.join(sys.argv[1:])}\n")
    except OSError:
        pass


def log_line(text: str) -> None:
    """Append a free-form line to the node's stand-in log."""
    try:
        with LOG.open("a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {text}\n")
    except OSError:
        pass


def main_wrapper(tool: str, func: Any) -> None:
    """Log the call, run func(argv), print errors the way kubeadm/kubectl do."""
    log_call(tool)
    sys.stdout.reconfigure(line_buffering=True)
    try:
        code = func(sys.argv[1:]) or 0
    except Fail as exc:
        print(f"error: {exc}" if tool == "kubectl" else f"error execution phase: {exc}", file=sys.stderr)
        log_line(f"{tool} failed: {exc}")
        code = 1
    log_line(f"{tool} exit {code}")
    sys.exit(code)


def openssl(*args: str, input: bytes | None = None) -> bytes:
    """Run openssl and return stdout."""
    res = subprocess.run(["openssl", *args], input=input, capture_output=True)
    if res.returncode != 0:
        raise Fail(f"openssl {' '.join(args[:2])}: {res.stderr.decode().strip()}")
    return res.stdout


def ca_hash(ca_pem: bytes) -> str:
    """sha256 of the CA's DER SubjectPublicKeyInfo, as kubeadm pins it."""
    pub = openssl("x509", "-pubkey", "-noout", input=ca_pem)
    der = openssl("pkey", "-pubin", "-outform", "DER", input=pub)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def new_key(path: Path) -> None:
    """Write a fresh RSA 2048 private key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(path))
    path.chmod(0o600)


def new_ca(crt: Path, key: Path) -> None:
    """Create the cluster CA (10 years)."""
    new_key(key)
    openssl("req", "-x509", "-new", "-key", str(key), "-subj", "/CN=kubernetes", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign", "-out", str(crt))


def sign(csr_pem: bytes, ca_crt: Path, ca_key: Path, sans: list[str] | None = None, client: bool = False) -> bytes:
    """Sign a CSR with the CA (server cert with SANs, or client cert)."""
    with tempfile.TemporaryDirectory() as tmp:
        ext = Path(tmp, "ext.cnf")
        usage = "clientAuth" if client else "serverAuth"
        lines = ["keyUsage=critical,digitalSignature,keyEncipherment", f"extendedKeyUsage={usage}"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        csr = Path(tmp, "req.csr")
        csr.write_bytes(csr_pem)
        return openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                       "-CAcreateserial", "-CAserial", str(Path(tmp, "serial")), "-days", "365",
                       "-extfile", str(ext))


def csr(key: Path, subject: str) -> bytes:
    """Make a CSR for key."""
    return openssl("req", "-new", "-key", str(key), "-subj", subject)


def issue(crt: Path, key: Path, subject: str, ca_crt: Path, ca_key: Path, sans: list[str] | None = None,
          client: bool = False) -> None:
    """Create a key and a CA-signed certificate locally."""
    new_key(key)
    crt.write_bytes(sign(csr(key, subject), ca_crt, ca_key, sans, client))


def b64(data: bytes) -> str:
    """Base64 as kubeconfig *-data fields hold it."""
    return base64.b64encode(data).decode()


def kubeconfig(server: str, ca_pem: bytes, user: str, cert_pem: bytes, key_pem: bytes, cluster: str) -> str:
    """Render a kubeconfig with embedded credentials."""
    doc = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": b64(ca_pem)}}],
        "contexts": [{"name": f"{user}@{cluster}", "context": {"cluster": cluster, "user": user}}],
        "current-context": f"{user}@{cluster}",
        "preferences": {},
        "users": [{"name": user, "user": {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)}}],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def write_private(path: Path, text: str) -> None:
    """Write a file readable by root only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)


class Client:
    """An HTTPS client for the stand-in API server, configured from a kubeconfig."""

    def __init__(self, kubeconfig_path: Path) -> None:
        if not kubeconfig_path.exists():
            raise Fail(f"stat {kubeconfig_path}: no such file or directory")
        cfg = yaml.safe_load(kubeconfig_path.read_text())
        cluster = cfg["clusters"][0]["cluster"]
        user = cfg["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        self._tmp = tempfile.TemporaryDirectory()
        ca = Path(self._tmp.name, "ca.crt")
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
        self.ctx = ssl.create_default_context(cafile=str(ca))
        if "client-certificate-data" in user:
            cert, key = Path(self._tmp.name, "c.crt"), Path(self._tmp.name, "c.key")
            cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
            key.write_bytes(base64.b64decode(user["client-key-data"]))
            self.ctx.load_cert_chain(str(cert), str(key))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send a JSON request; raise Fail with the server's message on error."""
        return request(self.ctx, method, self.server + path, body)


def request(ctx: ssl.SSLContext, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 15) -> Any:
    """One JSON-over-HTTPS request."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                           **(headers or {})})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        try:
            msg = json.loads(exc.read()).get("message", str(exc))
        except ValueError:
            msg = str(exc)
        raise Fail(msg) from None
    except (urllib.error.URLError, OSError) as exc:
        raise Fail(f'Get "{url}": {getattr(exc, "reason", exc)}') from None
    return json.loads(raw) if raw else None


def systemctl(*args: str) -> None:
    """Run systemctl, ignoring failures (logged)."""
    res = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if res.returncode != 0:
        log_line(f"systemctl {' '.join(args)} failed: {res.stderr.strip()}")


def node_addresses() -> set[str]:
    """IPv4 addresses configured on this node."""
    res = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    return {line.split()[3].split("/")[0] for line in res.stdout.splitlines() if len(line.split()) > 3}
