#!/usr/bin/python3
"""TEST DOUBLE of kube-apiserver for the lab: real TLS, /healthz, /version, discovery, a node registry.

Not Kubernetes. The first control plane keeps the registry; the others forward every
registry request to it, so all control planes agree, and pull a copy of it every second
(as etcd members hold the data), from which they answer reads while the first is down.
"""

from __future__ import annotations

import json
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402

CONF: dict[str, Any] = {}
LOCK = threading.Lock()
STORE: dict[str, Any] = {}
ADMIN_GROUPS = {"system:masters", "kubeadm:cluster-admins"}


def load_store() -> None:
    """Read the registry from disk (primary only)."""
    path = Path(CONF["store"])
    data = json.loads(path.read_text()) if path.exists() else {}
    for key in ("nodes", "tokens", "objects"):
        data.setdefault(key, {})
    data.setdefault("certkey", None)
    STORE.clear()
    STORE.update(data)


def save_store() -> None:
    """Persist the registry atomically."""
    path = Path(CONF["store"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(STORE, indent=1))
    tmp.replace(path)


class ApiError(Exception):
    """An HTTP error answered as a Kubernetes Status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def peer_identity(cert: dict | None) -> tuple[str | None, set[str]]:
    """(CN, organisations) of a verified client certificate."""
    if not cert:
        return None, set()
    cn, orgs = None, set()
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.add(value)
    return cn, orgs


def valid_token(auth: str | None) -> str | None:
    """The token id if auth is a live bootstrap token."""
    if not auth or not auth.startswith("Bearer "):
        return None
    token = auth[len("Bearer "):].strip()
    tid, _, secret = token.partition(".")
    entry = STORE["tokens"].get(tid)
    if entry and entry["secret"] == secret and entry["expires"] > time.time():
        return tid
    return None


def node_view(node: dict) -> dict:
    """A Node object as the API returns it."""
    ready = any(o["kind"] == "Installation" for o in STORE["objects"].values())
    labels = {"kubernetes.io/hostname": node["name"], "kubernetes.io/os": "linux"}
    if node["role"] == "control-plane":
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node["name"], "labels": labels, "creationTimestamp": node["created"]},
        "status": {
            "addresses": [{"type": "InternalIP", "address": node["ip"]}, {"type": "Hostname", "address": node["name"]}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            "reason": "KubeletReady" if ready else "KubeletNotReady"}],
            "nodeInfo": {"kubeletVersion": "v" + standin.KUBE_VERSION, "containerRuntimeVersion": "containerd://standin"},
        },
    }


def obj_key(obj: dict) -> str:
    """Registry key of an object."""
    meta = obj.get("metadata") or {}
    return f"{obj.get('apiVersion')}/{obj.get('kind')}/{meta.get('namespace', '')}/{meta.get('name')}"


def route(method: str, path: str, query: dict, body: Any, who: dict) -> Any:
    """Serve one registry request on the primary."""
    is_admin = who["admin"]
    parts = [p for p in path.split("/") if p]
    if path == "/standin/v1/join" and method == "POST":
        return join(body, who)
    if not (is_admin or (who["node"] and method == "GET")):
        raise ApiError(403, f"forbidden: User \"{who['user'] or 'system:anonymous'}\" cannot {method} {path}")
    if parts[:3] == ["api", "v1", "nodes"]:
        if len(parts) == 3 and method == "GET":
            return {"apiVersion": "v1", "kind": "NodeList",
                    "items": [node_view(n) for n in sorted(STORE["nodes"].values(), key=lambda n: n["name"])]}
        name = parts[3] if len(parts) > 3 else ""
        if name not in STORE["nodes"]:
            raise ApiError(404, f'nodes "{name}" not found')
        if method == "DELETE":
            del STORE["nodes"][name]
            save_store()
            return {"kind": "Status", "status": "Success"}
        return node_view(STORE["nodes"][name])
    if path == "/standin/v1/tokens" and method == "POST":
        tid, secret = body.get("id") or secrets.token_hex(3), body.get("secret") or secrets.token_hex(8)
        ttl = float(body.get("ttl", 86400)) or 10 ** 9
        STORE["tokens"][tid] = {"secret": secret, "expires": time.time() + ttl, "description": body.get("description", "")}
        save_store()
        return {"token": f"{tid}.{secret}", "expires": STORE["tokens"][tid]["expires"]}
    if path == "/standin/v1/tokens" and method == "GET":
        return {"items": [{"token": f"{k}.{v['secret']}", "expires": v["expires"]} for k, v in STORE["tokens"].items()
                          if v["expires"] > time.time()]}
    if parts[:3] == ["standin", "v1", "tokens"] and method == "DELETE":
        if STORE["tokens"].pop(parts[3], None) is None:
            raise ApiError(404, f'secrets "bootstrap-token-{parts[3]}" not found')
        save_store()
        return {}
    if path == "/standin/v1/certkey" and method == "POST":
        STORE["certkey"] = {"key": body["key"], "expires": time.time() + 7200}
        save_store()
        return {}
    if path == "/standin/v1/certkey" and method == "DELETE":
        STORE["certkey"] = None
        save_store()
        return {}
    if path == "/standin/v1/replica" and method == "GET":
        return STORE
    if path == "/standin/v1/apply" and method == "POST":
        return apply(body)
    if path == "/standin/v1/objects" and method == "GET":
        kind = query.get("kind", [None])[0]
        return {"items": [o for o in STORE["objects"].values() if kind in (None, o.get("kind"))]}
    if parts[:4] == ["apis", "apiextensions.k8s.io", "v1", "customresourcedefinitions"] and len(parts) == 5:
        for obj in STORE["objects"].values():
            if obj.get("kind") == "CustomResourceDefinition" and obj["metadata"]["name"] == parts[4]:
                return {**obj, "status": {"conditions": [{"type": "Established", "status": "True"},
                                                         {"type": "NamesAccepted", "status": "True"}]}}
        raise ApiError(404, f'customresourcedefinitions.apiextensions.k8s.io "{parts[4]}" not found')
    raise ApiError(404, f"the server could not find the requested resource ({method} {path})")


def apply(body: dict) -> dict:
    """Record objects as kubectl apply/create sent them."""
    results = []
    for obj in body["objects"]:
        key = obj_key(obj)
        old = STORE["objects"].get(key)
        if body.get("mode") == "create" and old is not None:
            raise ApiError(409, f'{obj["kind"].lower()}s "{obj["metadata"]["name"]}" already exists')
        if old is None:
            action = "created"
        elif old == obj:
            action = "unchanged"
        else:
            action = "configured"
        STORE["objects"][key] = obj
        results.append({"kind": obj["kind"], "apiVersion": obj["apiVersion"], "name": obj["metadata"]["name"],
                        "action": action})
    save_store()
    return {"results": results}


def join(body: dict, who: dict) -> dict:
    """Admit a node presenting a live bootstrap token (and, for control planes, the certificate key)."""
    tid = who["token"]
    if not tid:
        raise ApiError(401, "Unauthorized: the bootstrap token is invalid, expired or deleted")
    name, role = body["name"], body["role"]
    if role == "control-plane":
        ck = STORE["certkey"]
        if not ck or ck["expires"] < time.time():
            raise ApiError(404, 'secrets "kubeadm-certs" not found or expired; run "kubeadm init phase upload-certs '
                                '--upload-certs" on a control plane to generate a new certificate key')
        if body.get("certificateKey") != ck["key"]:
            raise ApiError(403, "error decoding certificate key: the certificate key does not match (cipher: message "
                                "authentication failed)")
    old = STORE["nodes"].get(name)
    if old and old["ip"] != body["ip"]:
        raise ApiError(409, f'a Node with name "{name}" and status "Ready" already exists in the cluster')
    ca_crt = standin.PKI / "ca.crt"
    cert = standin.sign(body["csr"].encode(), ca_crt, standin.PKI / "ca.key", client=True).decode()
    STORE["nodes"][name] = {"name": name, "ip": body["ip"], "role": role, "token": tid,
                            "created": (old or {}).get("created") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    save_store()
    reply = {"kubelet_cert": cert, "primary": f"https://{CONF['advertise']}:{CONF['port']}"}
    if role == "control-plane":
        reply["ca_key"] = (standin.PKI / "ca.key").read_text()
    return reply


class Handler(BaseHTTPRequestHandler):
    """HTTPS request handler; TLS handshake happens in the worker thread."""

    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-standin"

    def setup(self) -> None:
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def reply(self, code: int, payload: Any, ctype: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self, method: str) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            if url.path in ("/healthz", "/livez", "/readyz"):
                return self.reply(200, b"ok", "text/plain")
            if url.path == "/version":
                return self.reply(200, version())
            if url.path == "/api/v1/namespaces/kube-public/configmaps/cluster-info":
                return self.reply(200, cluster_info())
            who = self.identity()
            if CONF.get("primary"):
                try:
                    return self.forward(method, raw, who)
                except (urllib.error.URLError, OSError) as exc:  # the first control plane is down
                    if method != "GET":
                        raise ApiError(503, f"the first control plane is unreachable ({exc}); reads only") from None
                    standin.log_line(f"apiserver: primary unreachable, answering {url.path} from the replica")
            body = json.loads(raw) if raw else None
            with LOCK:
                result = route(method, url.path, parse_qs(url.query), body, who)
            self.reply(200, result)
        except ApiError as exc:
            self.reply(exc.code, {"kind": "Status", "status": "Failure", "message": str(exc), "code": exc.code})
        except Exception as exc:  # noqa: BLE001 - report every failure as a Status
            standin.log_line(f"apiserver error {method} {url.path}: {exc!r}")
            self.reply(500, {"kind": "Status", "status": "Failure", "message": repr(exc), "code": 500})

    def identity(self) -> dict:
        """Who sent this request: admin cert, node cert, bootstrap token or a forwarding peer."""
        cn, orgs = peer_identity(self.request.getpeercert())
        if cn == "kube-apiserver-standin-forward" and "system:masters" in orgs and self.headers.get("X-Standin-Who"):
            who = json.loads(self.headers["X-Standin-Who"])
            with LOCK:
                who["token"] = valid_token(who.get("auth"))
            return who
        with LOCK:
            token = valid_token(self.headers.get("Authorization")) if not CONF.get("primary") else None
        return {"user": cn, "admin": bool(orgs & ADMIN_GROUPS), "node": "system:nodes" in orgs, "token": token,
                "auth": self.headers.get("Authorization")}

    def forward(self, method: str, raw: bytes, who: dict) -> None:
        """Send a registry request on to the first control plane."""
        req = urllib.request.Request(CONF["primary"] + self.path, data=raw or None, method=method,
                                     headers={"Content-Type": "application/json", "X-Standin-Who": json.dumps(who)})
        try:
            with urllib.request.urlopen(req, context=forward_context(), timeout=3) as resp:
                self.reply(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            self.reply(exc.code, exc.read())

    def do_GET(self) -> None:
        self.handle_any("GET")

    def do_POST(self) -> None:
        self.handle_any("POST")

    def do_PUT(self) -> None:
        self.handle_any("PUT")

    def do_PATCH(self) -> None:
        self.handle_any("PATCH")

    def do_DELETE(self) -> None:
        self.handle_any("DELETE")


def forward_context() -> ssl.SSLContext:
    """TLS client context of a secondary talking to the first control plane."""
    ctx = ssl.create_default_context(cafile=str(standin.PKI / "ca.crt"))
    ctx.load_cert_chain(str(standin.STANDIN_DIR / "forward.crt"), str(standin.STANDIN_DIR / "forward.key"))
    return ctx


def replicate_forever() -> None:
    """On a secondary: copy the first control plane's registry every second (kept on disk too)."""
    who = json.dumps({"user": "kube-apiserver-standin-forward", "admin": True, "node": False})
    while True:
        try:
            req = urllib.request.Request(CONF["primary"] + "/standin/v1/replica", headers={"X-Standin-Who": who})
            with urllib.request.urlopen(req, context=forward_context(), timeout=3) as resp:
                data = json.loads(resp.read())
            with LOCK:
                STORE.clear()
                STORE.update(data)
                save_store()
        except (urllib.error.URLError, OSError, ValueError):
            pass  # the first control plane is down: keep the last copy
        time.sleep(1)


def version() -> dict:
    """What /version answers."""
    major, minor, _ = standin.KUBE_VERSION.split(".")
    return {"major": major, "minor": minor, "gitVersion": "v" + standin.KUBE_VERSION, "platform": "linux/amd64",
            "standin": "TEST DOUBLE, not Kubernetes"}


def cluster_info() -> dict:
    """The kube-public/cluster-info ConfigMap joining nodes discover the CA from."""
    ca = (standin.PKI / "ca.crt").read_bytes()
    kcfg = {"apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "", "cluster": {"server": f"https://{CONF['endpoint']}",
                                                   "certificate-authority-data": standin.b64(ca)}}]}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cluster-info", "namespace": "kube-public"},
            "data": {"kubeconfig": json.dumps(kcfg)}}


class Server(ThreadingHTTPServer):
    """Threading HTTPS server."""

    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext


def main() -> None:
    """Serve until stopped."""
    CONF.update(json.loads(standin.APISERVER_CONF.read_text()))
    load_store()
    if CONF.get("primary"):
        threading.Thread(target=replicate_forever, daemon=True).start()
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(str(standin.PKI / "apiserver.crt"), str(standin.PKI / "apiserver.key"))
    tls.verify_mode = ssl.CERT_OPTIONAL
    tls.load_verify_locations(str(standin.PKI / "ca.crt"))
    server = Server((CONF.get("bind", "0.0.0.0"), int(CONF["port"])), Handler)
    server.tls = tls
    standin.log_line(f"apiserver listening on :{CONF['port']} primary={CONF.get('primary')}")
    server.serve_forever()


if __name__ == "__main__":
    main()
