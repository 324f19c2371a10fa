"""TEST DOUBLE shared code for the lab's stand-in Kubernetes tools (not Kubernetes).

Logging, Go-style flag parsing, certificates through openssl, a kubeconfig-driven API
client and a client of etcd's v3 JSON gateway (the API server stand-in keeps every
object in the real etcd through it). Every stand-in ships all files of this directory.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import shlex
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

# Filled in when the lab builds the package; a static pod's image tag overrides it (kubelet.command_for).
KUBE_VERSION = os.environ.get("K8S_STANDIN_VERSION", "") or "@KUBE_VERSION@"
LOG = Path(os.environ.get("K8S_STANDIN_LOG", "/var/log/k8s-standin.log"))
KDIR = Path("/etc/kubernetes")
PKI = KDIR / "pki"
ADMIN_CONF = KDIR / "admin.conf"
KUBELET_CONF = KDIR / "kubelet.conf"
STANDIN_DIR = KDIR / "standin"
APISERVER_CONF = STANDIN_DIR / "apiserver.json"
APISERVER_UNIT = Path("/etc/systemd/system/kube-apiserver-standin.service")
# transient units the stand-in kubelet runs static pods in (they outlive a kubelet restart, as containers do)
POD_UNIT_PREFIX = "k8s-standin-pod-"


class Fail(Exception):
    """An error the tool reports like the real one and exits non-zero."""


class ApiError(Fail):
    """An API answer other than 2xx: the Kubernetes Status the server sent."""

    def __init__(self, code: int, status: dict[str, Any]) -> None:
        super().__init__(status.get("message") or f"HTTP {code}")
        self.code = code
        self.status = status

    @property
    def reason(self) -> str:
        """The Status reason (NotFound, AlreadyExists, Conflict...)."""
        return str(self.status.get("reason") or "")


def minor() -> int:
    """This build's Kubernetes minor (37 for 1.37.1)."""
    return int(KUBE_VERSION.split(".")[1])


def log_call(tool: str) -> None:
    """Append this invocation to the node's stand-in log."""
    log_line(f"{tool} {shlex.join(sys.argv[1:])}")


def log_line(text: str) -> None:
    """Append a free-form line to the node's stand-in log."""
    try:
        with LOG.open("a") as fh:
            now = time.time()
            fh.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.localtime(now))}.{int(now * 1000) % 1000:03d} {text}\n")
    except OSError:
        pass


def main_wrapper(tool: str, func: Any) -> None:
    """Log the call, run func(argv), print errors the way kubeadm/kubectl do."""
    log_call(tool)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        code = func(sys.argv[1:]) or 0
    except Fail as exc:
        if tool == "kubectl":
            text = str(exc) if str(exc).startswith(("error:", "Error from server", "The ")) else f"error: {exc}"
        else:
            text = f"error execution phase: {exc}"
        print(text, file=sys.stderr)
        log_line(f"{tool} failed: {exc}")
        code = 1
    log_line(f"{tool} exit {code}")
    sys.exit(code)


# ---------------------------------------------------------------- Go-style flags (spf13/pflag)

def parse_flags(argv: list[str], known: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Parse --name=value / --name value / bool --name like pflag; unknown flags fail as cobra reports them.

    known maps a flag name to its kind: "str", "bool", "list" (repeatable, comma-separated values).
    """
    values: dict[str, Any] = {}
    args: list[str] = []
    i = 0
    while i < len(argv):
        item = argv[i]
        i += 1
        if item == "--":
            args.extend(argv[i:])
            break
        if not item.startswith("-") or item == "-":
            args.append(item)
            continue
        name, eq, value = item.lstrip("-").partition("=")
        kind = known.get(name)
        if kind is None:
            raise Fail(f"unknown flag: {item.split('=')[0]}" if item.startswith("--")
                       else f"unknown shorthand flag: {name[:1]!r} in {item}")
        if kind == "bool":
            if eq and value.lower() not in ("true", "false", "1", "0", "t", "f"):
                raise Fail(f'invalid argument "{value}" for "{item.split("=")[0]}" flag: strconv.ParseBool: '
                           f'parsing "{value}": invalid syntax')
            values[name] = (value.lower() in ("true", "1", "t")) if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise Fail(f"flag needs an argument: {item}")
            value = argv[i]
            i += 1
        if kind == "list":
            values.setdefault(name, []).extend(v for v in value.split(",") if v)
        else:
            values[name] = value
    return values, args


# ---------------------------------------------------------------- certificates (openssl CLI)

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


def new_ec_key(path: Path) -> None:
    """Write a fresh ECDSA P-256 private key (what the kubelet generates for its client certificate)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path))
    path.chmod(0o600)


def new_ca(crt: Path, key: Path, cn: str = "kubernetes") -> None:
    """Create a CA (10 years)."""
    new_key(key)
    openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-days", "3650",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,digitalSignature,keyEncipherment,keyCertSign", "-out", str(crt))


def sign(csr_pem: bytes, ca_crt: Path, ca_key: Path, sans: list[str] | None = None, client: bool = False,
         server_and_client: bool = False, days: int = 365) -> bytes:
    """Sign a CSR with the CA (server cert with SANs, client cert, or both usages)."""
    with tempfile.TemporaryDirectory() as tmp:
        ext = Path(tmp, "ext.cnf")
        usage = "serverAuth,clientAuth" if server_and_client else "clientAuth" if client else "serverAuth"
        lines = ["keyUsage=critical,digitalSignature,keyEncipherment", f"extendedKeyUsage={usage}"]
        if sans:
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        csr_path = Path(tmp, "req.csr")
        csr_path.write_bytes(csr_pem)
        return openssl("x509", "-req", "-in", str(csr_path), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                       "-CAcreateserial", "-CAserial", str(Path(tmp, "serial")), "-days", str(days),
                       "-extfile", str(ext))


def csr(key: Path, subject: str) -> bytes:
    """Make a CSR for key."""
    return openssl("req", "-new", "-key", str(key), "-subj", subject)


def csr_subject(csr_pem: bytes) -> tuple[str, list[str]]:
    """(CN, organisations) of a PEM CSR."""
    text = openssl("req", "-noout", "-subject", "-nameopt", "RFC2253", input=csr_pem).decode().strip()
    cn, orgs = "", []
    for part in text.removeprefix("subject=").split(","):
        key, _, value = part.strip().partition("=")
        if key == "CN":
            cn = value
        elif key == "O":
            orgs.append(value)
    return cn, orgs


def issue(crt: Path, key: Path, subject: str, ca_crt: Path, ca_key: Path, sans: list[str] | None = None,
          client: bool = False) -> None:
    """Create a key and a CA-signed certificate locally."""
    new_key(key)
    crt.write_bytes(sign(csr(key, subject), ca_crt, ca_key, sans, client))


def self_signed(crt: Path, key: Path, cn: str, sans: list[str]) -> None:
    """A self-signed serving certificate (the kubelet's own when no serving cert is configured)."""
    new_key(key)
    openssl("req", "-x509", "-new", "-key", str(key), "-subj", f"/CN={cn}", "-days", "365",
            "-addext", "subjectAltName=" + ",".join(sans), "-out", str(crt))


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


# ---------------------------------------------------------------- HTTPS with keep-alive

class Https:
    """A keep-alive HTTPS client for one base URL list (one connection per thread), failing over in order."""

    def __init__(self, urls: list[str], ctx: ssl.SSLContext, timeout: float = 15) -> None:
        self.urls = [u.rstrip("/") for u in urls]
        self.ctx = ctx
        self.timeout = timeout
        self._local = threading.local()

    def _conn(self, url: str) -> http.client.HTTPSConnection:
        conns = self._local.__dict__.setdefault("conns", {})
        if url not in conns:
            parsed = urllib.parse.urlsplit(url)
            conns[url] = http.client.HTTPSConnection(parsed.hostname, parsed.port or 443, context=self.ctx,
                                                     timeout=self.timeout)
        return conns[url]

    def _drop(self, url: str) -> None:
        conn = self._local.__dict__.get("conns", {}).pop(url, None)
        if conn is not None:
            conn.close()

    def send(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        """One request: (status, body, the URL that answered); OSError when no URL answers."""
        order = self.urls[:]
        first = getattr(self._local, "good", None)
        if first in order:
            order.remove(first)
            order.insert(0, first)
        last: Exception | None = None
        for url in order:
            for attempt in (1, 2):  # a kept-alive connection the peer closed is retried once
                conn = self._conn(url)
                try:
                    conn.request(method, urllib.parse.urlsplit(url).path + path, body=body, headers=headers or {})
                    resp = conn.getresponse()
                    data = resp.read()
                    self._local.good = url
                    return resp.status, data, url
                except (http.client.HTTPException, OSError) as exc:
                    self._drop(url)
                    last = exc
                    if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError,
                                                            ConnectionResetError)):
                        break
        # apimachinery pkg/util/net/http.go (v0.35.7-v0.37.0-beta.0) IsProbableEOF / IsConnectionReset: io.EOF and
        # io.ErrUnexpectedEOF (a TLS or HTTP stream that ended), "connection reset by peer"; a broken pipe is not one.
        if isinstance(last, (ssl.SSLEOFError, http.client.RemoteDisconnected, ConnectionResetError,
                             http.client.IncompleteRead)):
            raise ProbableEOF(str(last))
        raise OSError(str(last))


class ProbableEOF(OSError):
    """The connection ended under a request: apimachinery util/net IsProbableEOF (EOF, connection reset)."""


# ---------------------------------------------------------------- etcd v3 JSON gateway

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def prefix_end(prefix: bytes) -> bytes:
    """The range_end that selects every key starting with prefix (etcd's clientv3.GetPrefixRangeEnd)."""
    end = bytearray(prefix)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[:i + 1])
    return b"\x00"


class EtcdError(Exception):
    """etcd answered with an error (or no endpoint answered)."""


class Etcd:
    """etcd v3 through its gRPC JSON gateway (POST /v3/kv/...), over TLS with a client certificate."""

    def __init__(self, endpoints: list[str], ca: str | None, cert: str | None, key: str | None,
                 timeout: float = 10) -> None:
        ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
        if cert and key:
            ctx.load_cert_chain(cert, key)
        self.http = Https(endpoints, ctx, timeout)

    def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one gateway request and return its JSON answer."""
        try:
            status, data, _ = self.http.send("POST", path, json.dumps(body).encode(),
                                             {"Content-Type": "application/json"})
        except OSError as exc:
            raise EtcdError(f"dial etcd: {exc}") from None
        try:
            answer = json.loads(data or b"{}")
        except ValueError:
            raise EtcdError(f"etcd answered HTTP {status}: {data[:200]!r}") from None
        if status != 200 or "error" in answer:
            raise EtcdError(answer.get("message") or answer.get("error") or f"HTTP {status}")
        return answer

    def get(self, key: str) -> tuple[bytes, int] | None:
        """(value, mod_revision) of key, or None."""
        kvs = self.call("/v3/kv/range", {"key": _b64(key.encode())}).get("kvs") or []
        if not kvs:
            return None
        return base64.b64decode(kvs[0].get("value", "")), int(kvs[0]["mod_revision"])

    def list(self, prefix: str, keys_only: bool = False) -> tuple[list[tuple[str, bytes, int]], int]:
        """([(key, value, mod_revision)], store revision) of every key under prefix."""
        raw = prefix.encode()
        body: dict[str, Any] = {"key": _b64(raw), "range_end": _b64(prefix_end(raw))}
        if keys_only:
            body["keys_only"] = True
        answer = self.call("/v3/kv/range", body)
        items = [(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")),
                  int(kv["mod_revision"])) for kv in answer.get("kvs") or []]
        return items, int(answer.get("header", {}).get("revision", 0))

    def _txn(self, compare: dict[str, Any], success: list[dict[str, Any]]) -> tuple[bool, int]:
        answer = self.call("/v3/kv/txn", {"compare": [compare], "success": success})
        return bool(answer.get("succeeded")), int(answer.get("header", {}).get("revision", 0))

    def create(self, key: str, value: bytes) -> int | None:
        """Write key only if it does not exist; its new revision, or None if it existed."""
        ok, rev = self._txn({"key": _b64(key.encode()), "result": "EQUAL", "target": "CREATE",
                             "create_revision": "0"},
                            [{"request_put": {"key": _b64(key.encode()), "value": _b64(value)}}])
        return rev if ok else None

    def update(self, key: str, value: bytes, mod_revision: int) -> int | None:
        """Write key only if it is still at mod_revision; its new revision, or None on a conflict."""
        ok, rev = self._txn({"key": _b64(key.encode()), "result": "EQUAL", "target": "MOD",
                             "mod_revision": str(mod_revision)},
                            [{"request_put": {"key": _b64(key.encode()), "value": _b64(value)}}])
        return rev if ok else None

    def delete(self, key: str, mod_revision: int | None = None) -> bool:
        """Delete key (only at mod_revision, when given); whether it was deleted."""
        request = {"request_delete_range": {"key": _b64(key.encode())}}
        if mod_revision is None:
            return int(self.call("/v3/kv/deleterange", {"key": _b64(key.encode())}).get("deleted", 0)) > 0
        ok, _ = self._txn({"key": _b64(key.encode()), "result": "EQUAL", "target": "MOD",
                           "mod_revision": str(mod_revision)}, [request])
        return ok

    def healthy(self) -> bool:
        """Whether etcd answers a read (what the API server's etcd health check does)."""
        try:
            self.call("/v3/kv/range", {"key": _b64(b"health")})
            return True
        except EtcdError:
            return False


# ---------------------------------------------------------------- Kubernetes API client

GET_RETRIES = 10  # client-go rest/request.go NewRequest maxRetries (v0.35.7, v0.36.3, v0.37.0-beta.0: Kubernetes 1.35-1.37)


class Kube:
    """A client of the (stand-in) API server configured from a kubeconfig, like client-go's."""

    def __init__(self, kubeconfig_path: Path, user_agent: str = "kubectl") -> None:
        if not kubeconfig_path.exists():
            raise Fail(f"stat {kubeconfig_path}: no such file or directory")
        cfg = yaml.safe_load(kubeconfig_path.read_text()) or {}
        ctx_name = cfg.get("current-context")
        contexts = {c["name"]: c["context"] for c in cfg.get("contexts") or []}
        context = contexts.get(ctx_name) or (next(iter(contexts.values())) if contexts else {})
        clusters = {c["name"]: c["cluster"] for c in cfg.get("clusters") or []}
        users = {u["name"]: u.get("user") or {} for u in cfg.get("users") or []}
        cluster = clusters.get(context.get("cluster")) or next(iter(clusters.values()), None)
        if not cluster:
            raise Fail("invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER "
                       "environment variable")
        user = users.get(context.get("user")) or (next(iter(users.values())) if users else {})
        self.namespace = context.get("namespace") or "default"
        self.server = cluster["server"].rstrip("/")
        base = kubeconfig_path.parent
        self._tmp = tempfile.TemporaryDirectory()
        ctx = ssl.create_default_context(cafile=self._file(cluster, "certificate-authority", base, "ca.crt"))
        if cluster.get("insecure-skip-tls-verify"):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        cert = self._file(user, "client-certificate", base, "c.crt")
        key = self._file(user, "client-key", base, "c.key")
        if cert:
            ctx.load_cert_chain(cert, key or cert)
        self.token = user.get("token")
        self.user_agent = user_agent
        self.http = Https([self.server], ctx)

    def _file(self, section: dict[str, Any], field: str, base: Path, name: str) -> str | None:
        """A kubeconfig credential as a file path (embedded *-data written to a private temp file)."""
        if section.get(field + "-data"):
            path = Path(self._tmp.name, name)
            path.write_bytes(base64.b64decode(section[field + "-data"]))
            path.chmod(0o600)
            return str(path)
        if section.get(field):
            return str(base / section[field])
        return None

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                accept: str = "application/json") -> Any:
        """Send one request; the decoded JSON answer, ApiError with the server's Status otherwise."""
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        attempt = 0
        while True:
            try:
                status, raw, _ = self.http.send(method, path, data, headers)
                break
            except ProbableEOF as exc:
                # client-go rest/request.go: a GET whose connection was reset or ended (IsProbableEOF) is
                # retried, 1 s apart (with_retry.go retryAfterResponse "Retry-After: 1"), up to 10 times
                # (maxRetries); other verbs are not (not idempotent).
                attempt += 1
                if method != "GET" or attempt > GET_RETRIES:
                    raise Fail(f'Get "{self.server}{path}": {exc}') from None
                log_line(f'{self.user_agent}: W0000 request.go] "Retrying request after response" url="{self.server}{path}" '
                         f'err="{exc}" attempt={attempt}')
                time.sleep(1)
            except OSError as exc:
                raise Fail(f'Get "{self.server}{path}": {exc}') from None
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = {"message": raw.decode(errors="replace").strip()}
        if status >= 300:
            if not isinstance(answer, dict) or "message" not in answer:
                answer = {"message": f"the server responded with the status code {status}", "code": status}
            raise ApiError(status, answer)
        return answer

    def get(self, path: str) -> Any | None:
        """GET path, None when NotFound."""
        try:
            return self.request("GET", path)
        except ApiError as exc:
            if exc.code == 404:
                return None
            raise


class Client(Kube):
    """Kube with the older call() name the kubeadm stand-in uses."""

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Send a JSON request; raise Fail with the server's message on error."""
        return self.request(method, path, body)


# kept for the kubeadm stand-in: a JSON-over-HTTPS call with an explicit context
def request(ctx: ssl.SSLContext, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
            timeout: float = 15) -> Any:
    """One JSON-over-HTTPS request; Fail with the server's message on error."""
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


def api_path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
             sub: str | None = None) -> str:
    """The REST path of a resource (collection, object or subresource)."""
    path = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    if namespace:
        path += f"/namespaces/{namespace}"
    path += f"/{plural}"
    if name:
        path += f"/{name}"
    if sub:
        path += f"/{sub}"
    return path


def now_rfc3339() -> str:
    """The current time as Kubernetes timestamps are written."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch of a Kubernetes timestamp."""
    import calendar
    return float(calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S")))


# ---------------------------------------------------------------- node helpers

def systemctl(*args: str) -> None:
    """Run systemctl, ignoring failures (logged)."""
    res = subprocess.run(["systemctl", *args], capture_output=True, text=True)
    if res.returncode != 0:
        log_line(f"systemctl {' '.join(args)} failed: {res.stderr.strip()}")


def node_addresses() -> set[str]:
    """IPv4 addresses configured on this node."""
    res = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True)
    return {line.split()[3].split("/")[0] for line in res.stdout.splitlines() if len(line.split()) > 3}


def stop_static_pods() -> list[str]:
    """Stop and forget every static pod the stand-in kubelet runs (what `kubeadm reset` does through the CRI)."""
    res = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", f"{POD_UNIT_PREFIX}*"],
                         capture_output=True, text=True)
    units = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    for unit in units:
        systemctl("stop", unit)
        systemctl("reset-failed", unit)
    return units


# ---------------------------------------------------------------- pieces the control-plane stand-ins share

def serve_healthz(bind: str, port: int, cert: Path, key: Path, checks: Any = None, tls: bool = True) -> Any:
    """Serve /healthz, /livez, /readyz ("ok") in a thread, over TLS unless tls=False; the server object.

    checks() -> bool decides readiness (default: always ready). Raises OSError when the port is taken.
    """
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Health(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            good = path in ("/healthz", "/livez", "/readyz") and (checks is None or checks())
            body = b"ok" if good else b"[-]not ready" if path in ("/healthz", "/livez", "/readyz") else b"404 page not found"
            self.send_response(200 if good else 500 if path in ("/healthz", "/livez", "/readyz") else 404)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server((bind, port), Health)
    if tls:
        if not cert.exists() or not key.exists():
            self_signed(cert, key, f"{bind}@{int(time.time())}", ["DNS:localhost", f"IP:{bind}", "IP:127.0.0.1"]
                        if bind not in ("127.0.0.1", "0.0.0.0") else ["DNS:localhost", "IP:127.0.0.1"])
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class LeaderElection:
    """client-go leaderelection with a coordination.k8s.io Lease in kube-system (15 s lease, renewed every 2 s)."""

    def __init__(self, kube: "Kube", name: str, identity: str, duration: int = 15) -> None:
        self.kube = kube
        self.name = name
        self.identity = identity
        self.duration = duration
        self.path = api_path("coordination.k8s.io", "v1", "leases", "kube-system", name)

    def try_acquire(self) -> bool:
        """Acquire or renew the lease; whether this process leads."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1e6) % 1000000:06d}Z"
        try:
            lease = self.kube.get(self.path)
            if lease is None:
                self.kube.request("POST", api_path("coordination.k8s.io", "v1", "leases", "kube-system"), {
                    "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "namespace": "kube-system"},
                    "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                             "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0}})
                return True
            spec = lease.get("spec") or {}
            renewed = parse_rfc3339(spec.get("renewTime", "1970-01-01T00:00:00Z"))
            mine = spec.get("holderIdentity") == self.identity
            if not mine and now - renewed < int(spec.get("leaseDurationSeconds", self.duration)):
                return False
            if not mine:
                spec["acquireTime"] = stamp
                spec["leaseTransitions"] = int(spec.get("leaseTransitions", 0)) + 1
                spec["holderIdentity"] = self.identity
            spec["renewTime"] = stamp
            spec["leaseDurationSeconds"] = self.duration
            lease["spec"] = spec
            self.kube.request("PUT", self.path, lease)
            return True
        except (ApiError, Fail):
            return False


def jws_detached(content: str, token_id: str, token_secret: str) -> str:
    """The detached JWS (HS256, kid = token id) the bootstrap signer puts in cluster-info as jws-kubeconfig-<id>.

    As k8s.io/cluster-bootstrap/token/jws ComputeDetachedSignature: header {"alg":"HS256","kid":<id>},
    HMAC-SHA256 keyed by the token secret over base64url(header) "." base64url(content); payload left out.
    """
    import hmac

    def enc(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = enc(json.dumps({"alg": "HS256", "kid": token_id}, separators=(",", ":")).encode())
    signing_input = f"{header}.{enc(content.encode())}"
    sig = hmac.new(token_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{header}..{enc(sig)}"
