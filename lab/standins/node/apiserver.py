#!/usr/bin/python3
"""TEST DOUBLE of kube-apiserver for the lab (not Kubernetes).

Started by the stand-in kubelet from the static pod manifest kubeadm writes, with that manifest's
flags (unknown flags are an error, as in the real binary). Every object lives in the real etcd
(v3 JSON gateway over TLS with --etcd-certfile/--etcd-keyfile) under the real keys
(/registry/secrets/<ns>/<name>, /registry/minions/<node>, ...), Secrets encrypted as
--encryption-provider-config says; so several API servers on several control planes agree
because etcd replicates. Serves real TLS with client-certificate, bootstrap-token and anonymous
authentication, the Node and RBAC authorizers, discovery, CRUD, patches, server-side apply,
CustomResourceDefinitions (a custom kind is served only once its CRD is Established, which
happens a moment after creation) with schema checks, audit logging and /healthz, /livez, /readyz.
See lab/standins/README.md ("API server") for what it copies from upstream and what it leaves out.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import re
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import apiobjects as ao  # noqa: E402
import apisecurity as sec  # noqa: E402
import standin  # noqa: E402
from apiobjects import Invalid, Resource  # noqa: E402

# The flags of kube-apiserver (cmd/kube-apiserver/app/options and the generic apiserver options, v1.35-v1.37):
# those kubeadm's manifest sets, those users commonly add, and the logging ones. Values of flags the stand-in
# does not act on are accepted and ignored (see the README).
S, B, L = "str", "bool", "list"
FLAGS: dict[str, str] = {
    "advertise-address": S, "allow-privileged": B, "anonymous-auth": B, "api-audiences": L,
    "audit-log-path": S, "audit-log-maxage": S, "audit-log-maxbackup": S, "audit-log-maxsize": S,
    "audit-log-format": S, "audit-log-mode": S, "audit-log-compress": B, "audit-policy-file": S,
    "audit-webhook-config-file": S, "authentication-config": S, "authorization-config": S,
    "authorization-mode": L, "bind-address": S, "cert-dir": S, "client-ca-file": S,
    "cloud-provider": S, "default-not-ready-toleration-seconds": S, "default-unreachable-toleration-seconds": S,
    "delete-collection-workers": S, "disable-admission-plugins": L, "egress-selector-config-file": S,
    "enable-admission-plugins": L, "enable-aggregator-routing": B, "enable-bootstrap-token-auth": B,
    "enable-garbage-collector": B, "enable-priority-and-fairness": B, "encryption-provider-config": S,
    "encryption-provider-config-automatic-reload": B, "endpoint-reconciler-type": S, "etcd-cafile": S,
    "etcd-certfile": S, "etcd-compaction-interval": S, "etcd-count-metric-poll-period": S, "etcd-keyfile": S,
    "etcd-prefix": S, "etcd-servers": L, "etcd-servers-overrides": L, "event-ttl": S, "external-hostname": S,
    "feature-gates": L, "goaway-chance": S, "kubelet-certificate-authority": S, "kubelet-client-certificate": S,
    "kubelet-client-key": S, "kubelet-preferred-address-types": L, "kubelet-timeout": S, "livez-grace-period": S,
    "log-flush-frequency": S, "logging-format": S, "max-mutating-requests-inflight": S, "max-requests-inflight": S,
    "min-request-timeout": S, "oidc-ca-file": S, "oidc-client-id": S, "oidc-groups-claim": S, "oidc-issuer-url": S,
    "oidc-username-claim": S, "permit-address-sharing": B, "permit-port-sharing": B, "profiling": B,
    "proxy-client-cert-file": S, "proxy-client-key-file": S, "request-timeout": S,
    "requestheader-allowed-names": L, "requestheader-client-ca-file": S, "requestheader-extra-headers-prefix": L,
    "requestheader-group-headers": L, "requestheader-username-headers": L, "runtime-config": L,
    "secure-port": S, "service-account-extend-token-expiration": B, "service-account-issuer": L,
    "service-account-jwks-uri": S, "service-account-key-file": L, "service-account-lookup": B,
    "service-account-max-token-expiration": S, "service-account-signing-key-file": S,
    "service-cluster-ip-range": S, "service-node-port-range": S, "shutdown-delay-duration": S,
    "shutdown-send-retry-after": B, "shutdown-watch-termination-grace-period": S, "storage-backend": S,
    "storage-media-type": S, "strict-transport-security-directives": L, "tls-cert-file": S,
    "tls-cipher-suites": L, "tls-min-version": S, "tls-private-key-file": S, "tls-sni-cert-key": L,
    "token-auth-file": S, "tracing-config-file": S, "v": S, "vmodule": S, "watch-cache": B,
    "watch-cache-sizes": L, "help": B, "version": B,
}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
ESTABLISH_DELAY = 1.0  # seconds between a CRD's creation and its Established condition
TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
BY_GVR = {(r.group, r.version, r.plural): r for r in ao.BUILTIN}
BY_KIND = {(r.group, r.kind): r for r in ao.BUILTIN}


class Api:
    """The server's state: flags, etcd, encryption, audit, caches of CRDs and RBAC objects."""

    def __init__(self, flags: dict[str, Any]) -> None:
        self.flags = flags
        self.prefix = flags.get("etcd-prefix", "/registry")
        self.etcd = standin.Etcd(flags["etcd-servers"], flags.get("etcd-cafile"), flags.get("etcd-certfile"),
                                 flags.get("etcd-keyfile"))
        self.enc = sec.Encryption.load(flags.get("encryption-provider-config"))
        self.audit = sec.Audit(flags.get("audit-policy-file"), flags.get("audit-log-path"))
        self.modes = flags.get("authorization-mode") or ["AlwaysAllow"]
        self.bootstrap_tokens = bool(flags.get("enable-bootstrap-token-auth"))
        self.anonymous = flags.get("anonymous-auth", True)
        self.hooks_done = False
        self.lock = threading.Lock()
        self.crds: dict[str, tuple[int, dict[str, Any]]] = {}
        self.crds_at = 0.0
        self.policy: dict[str, Any] | None = None
        self.policy_at = 0.0
        # key -> (mod_revision, decoded object): the objects lists are served from (the real server's watch cache,
        # storage/cacher, serves lists from memory; --watch-cache=false turns it off there and here)
        self.cache: dict[str, tuple[int, dict[str, Any]]] = {}
        self.use_cache = flags.get("watch-cache", True) is not False

    # ------------------------------------------------------------ storage

    def read(self, res: Resource, key: str, value: bytes, rev: int) -> dict[str, Any]:
        """Decode a stored object (decrypting it) and stamp its resourceVersion."""
        try:
            plain = self.enc.read(res.plural, res.group, key, value)
        except Exception as exc:  # noqa: BLE001 - a wrong key is reported like the real server
            raise Invalid(500, "InternalError", f"Internal error occurred: {exc}") from None
        obj = json.loads(plain)
        obj.setdefault("metadata", {})["resourceVersion"] = str(rev)
        return obj

    def encode(self, res: Resource, key: str, obj: dict[str, Any]) -> bytes:
        """The bytes to store for obj (without resourceVersion), encrypted when configured."""
        doc = copy.deepcopy(obj)
        doc.get("metadata", {}).pop("resourceVersion", None)
        return self.enc.write(res.plural, res.group, key, json.dumps(doc, separators=(",", ":")).encode())

    def get(self, res: Resource, ns: str | None, name: str) -> dict[str, Any] | None:
        """One object, or None."""
        key = res.key(self.prefix, ns, name)
        found = self.etcd.get(key)
        return None if found is None else self.read(res, key, found[0], found[1])

    def must_get(self, res: Resource, ns: str | None, name: str) -> dict[str, Any]:
        """One object, or 404 NotFound as the real API words it."""
        obj = self.get(res, ns, name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def list(self, res: Resource, ns: str | None) -> tuple[list[dict[str, Any]], int]:
        """Every object of res (in ns, or all namespaces) and the store revision."""
        items, rev = self.etcd.list(res.key(self.prefix, ns))
        return [self.read(res, k, v, r) for k, v, r in items], rev

    def list_view(self, res: Resource, ns: str | None) -> tuple[list[dict[str, Any]], int]:
        """list(), the objects shared with the cache (READ ONLY: for answers that are only serialized).

        One keys-only range gives the keys and their revisions at one store revision; objects whose
        (key, mod_revision) is cached are not fetched nor decoded again, the others are read at that
        same mod_revision (a few one by one, else the whole range again): the answer is what a full
        range at that revision would give.
        """
        if not self.use_cache:
            return self.list(res, ns)
        prefix = res.key(self.prefix, ns)
        keys, rev = self.etcd.list(prefix, keys_only=True)
        missing = [(k, r) for k, _, r in keys if self.cache.get(k, (None,))[0] != r]
        if len(missing) > 8:
            items, rev = self.etcd.list(prefix)
            for k, v, r in items:
                self.cache[k] = (r, self.read(res, k, v, r))
            keys = [(k, b"", r) for k, _, r in items]
        else:
            for k, r in missing:
                found = self.etcd.get(k)
                if found is None or found[1] != r:  # changed since the keys-only range: read it all again
                    return self.list(res, ns)
                self.cache[k] = (r, self.read(res, k, found[0], r))
        current = {k for k, _, _ in keys}
        for k in [k for k in self.cache if k.startswith(prefix) and k not in current]:
            self.cache.pop(k, None)
        return [self.cache[k][1] for k, _, _ in keys], rev

    def put_new(self, res: Resource, obj: dict[str, Any]) -> dict[str, Any]:
        """Store a new object; 409 AlreadyExists if its key is taken."""
        meta = obj["metadata"]
        key = res.key(self.prefix, meta.get("namespace"), meta["name"])
        rev = self.etcd.create(key, self.encode(res, key, obj))
        if rev is None:
            raise Invalid(409, "AlreadyExists", f'{res.qualified} "{meta["name"]}" already exists',
                          {"name": meta["name"], "group": res.group, "kind": res.plural})
        obj["metadata"]["resourceVersion"] = str(rev)
        self.invalidate(res)
        return obj

    def put(self, res: Resource, obj: dict[str, Any], rev: int) -> dict[str, Any]:
        """Replace an object stored at revision rev; 409 Conflict if it changed meanwhile."""
        meta = obj["metadata"]
        key = res.key(self.prefix, meta.get("namespace"), meta["name"])
        new_rev = self.etcd.update(key, self.encode(res, key, obj), rev)
        if new_rev is None:
            raise conflict(res, meta["name"])
        obj["metadata"]["resourceVersion"] = str(new_rev)
        self.invalidate(res)
        return obj

    def invalidate(self, res: Resource) -> None:
        """Forget cached CRDs / RBAC objects after this server wrote one."""
        if res.kind == "CustomResourceDefinition":
            self.crds_at = 0.0
        if res.group == "rbac.authorization.k8s.io":
            self.policy_at = 0.0

    # ------------------------------------------------------------ CRDs

    def crd_list(self) -> list[dict[str, Any]]:
        """Every CRD (cached; re-read when etcd shows a change, at most every 0.3 s)."""
        res = BY_KIND[("apiextensions.k8s.io", "CustomResourceDefinition")]
        with self.lock:
            if time.monotonic() - self.crds_at > 0.3:
                keys, _ = self.etcd.list(res.key(self.prefix, None), keys_only=True)
                fresh: dict[str, tuple[int, dict[str, Any]]] = {}
                for key, _, rev in keys:
                    cached = self.crds.get(key)
                    if cached and cached[0] == rev:
                        fresh[key] = cached
                    else:
                        found = self.etcd.get(key)
                        if found:
                            fresh[key] = (found[1], self.read(res, key, found[0], found[1]))
                self.crds = fresh
                self.crds_at = time.monotonic()
            return [obj for _, obj in self.crds.values()]

    def served(self) -> list[Resource]:
        """Built-in resources plus every served version of every Established CRD."""
        out = list(ao.BUILTIN)
        for crd in self.crd_list():
            if ao.crd_condition(crd, "Established"):
                out.extend(ao.crd_resource(crd, v["name"]) for v in crd["spec"].get("versions") or [] if v.get("served"))
        return out

    def resource(self, group: str, version: str, plural: str) -> Resource:
        """The resource at group/version/plural; 404 if not served (a CRD that is not Established is not served)."""
        if (group, version, plural) in BY_GVR:
            return BY_GVR[(group, version, plural)]
        for crd in self.crd_list():
            spec = crd["spec"]
            if spec["group"] == group and spec["names"]["plural"] == plural and ao.crd_condition(crd, "Established"):
                for v in spec.get("versions") or []:
                    if v["name"] == version and v.get("served"):
                        return ao.crd_resource(crd, version)
        raise Invalid(404, "NotFound", "the server could not find the requested resource")

    def establish_forever(self) -> None:
        """The establishing controller: set Established on CRDs a moment after they were accepted."""
        res = BY_KIND[("apiextensions.k8s.io", "CustomResourceDefinition")]
        first_seen: dict[str, float] = {}  # uid -> when this server first saw the CRD not yet Established
        while True:
            time.sleep(0.25)
            try:
                for crd in self.crd_list():
                    if ao.crd_condition(crd, "Established"):
                        first_seen.pop(crd["metadata"]["uid"], None)
                        continue
                    seen = first_seen.setdefault(crd["metadata"]["uid"], time.monotonic())
                    if time.monotonic() - seen < ESTABLISH_DELAY:
                        continue
                    obj = copy.deepcopy(crd)
                    set_condition(obj, "Established", "True", "InitialNamesAccepted",
                                  "the initial names have been accepted")
                    try:
                        self.put(res, obj, int(crd["metadata"]["resourceVersion"]))
                    except Invalid:
                        pass  # another API server (or a writer) got there first
            except (standin.EtcdError, Invalid, OSError):
                pass

    # ------------------------------------------------------------ RBAC

    def rbac(self) -> dict[str, Any]:
        """ClusterRoles, Roles and bindings (cached for a second, like the informer-fed authorizer)."""
        with self.lock:
            if self.policy is None or time.monotonic() - self.policy_at > 1.0:
                policy: dict[str, Any] = {}
                for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
                    res = BY_KIND[("rbac.authorization.k8s.io", kind)]
                    items, _ = self.list(res, None)
                    if res.namespaced:
                        policy[res.plural] = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in items}
                    else:
                        policy[res.plural] = {o["metadata"]["name"]: o for o in items}
                self.policy = policy
                self.policy_at = time.monotonic()
            return self.policy

    def allowed(self, user: str, groups: list[str], attrs: dict[str, Any]) -> bool:
        """The authorizer chain of --authorization-mode."""
        for mode in self.modes:
            if mode == "AlwaysAllow":
                return True
            if mode == "Node" and "system:nodes" in groups and user.startswith("system:node:"):
                if sec.node_allows(user, attrs):
                    return True
            if mode == "RBAC" and sec.rbac_allows(self.rbac(), user, groups, attrs):
                return True
        return False

    # ------------------------------------------------------------ authentication

    def authenticate(self, headers: Any, cert: dict[str, Any] | None) -> tuple[str, list[str]]:
        """(user, groups) from a verified client certificate, a bootstrap token, or anonymous."""
        auth = headers.get("Authorization") or ""
        if cert:
            cn, orgs = peer_identity(cert)
            if cn:
                return cn, orgs + ["system:authenticated"]
        if auth.startswith("Bearer "):
            who = self.bootstrap_user(auth[7:].strip()) if self.bootstrap_tokens else None
            if who is None:
                raise Invalid(401, "Unauthorized", "Unauthorized")
            return who
        if not self.anonymous:
            raise Invalid(401, "Unauthorized", "Unauthorized")
        return "system:anonymous", ["system:unauthenticated"]

    def bootstrap_user(self, token: str) -> tuple[str, list[str]] | None:
        """The identity of a valid bootstrap token (Secret kube-system/bootstrap-token-<id>)."""
        m = TOKEN_RE.match(token)
        if not m:
            return None
        secret = self.get(BY_KIND[("", "Secret")], "kube-system", f"bootstrap-token-{m.group(1)}")
        if not secret or secret.get("type") != "bootstrap.kubernetes.io/token":
            return None
        data = {k: _b64d(v) for k, v in (secret.get("data") or {}).items()}
        if data.get("token-id") != m.group(1) or data.get("token-secret") != m.group(2):
            return None
        if data.get("usage-bootstrap-authentication") != "true":
            return None
        if data.get("expiration") and standin.parse_rfc3339(data["expiration"]) < time.time():
            return None
        extra = [g.strip() for g in data.get("auth-extra-groups", "").split(",") if g.strip()]
        return f"system:bootstrap:{m.group(1)}", ["system:bootstrappers", *extra, "system:authenticated"]

    # ------------------------------------------------------------ post-start hooks

    def ready(self) -> bool:
        """readyz: etcd answers and the post-start hooks ran."""
        return self.hooks_done and self.etcd.healthy()

    def post_start_forever(self) -> None:
        """Create what the real API server creates at start, once etcd answers; retry until done."""
        while not self.hooks_done:
            try:
                self.post_start()
                self.hooks_done = True
                standin.log_line("apiserver: post-start hooks done (etcd reachable)")
            except (standin.EtcdError, Invalid, OSError) as exc:
                standin.log_line(f"apiserver: waiting for etcd: {exc}")
                time.sleep(1)

    def post_start(self) -> None:
        """System namespaces, the bootstrap RBAC policy, system priority classes, the kubernetes Service."""
        system = {"user": "system:apiserver", "groups": ["system:masters"], "manager": "kube-apiserver"}
        ns_res = BY_KIND[("", "Namespace")]
        for ns in SYSTEM_NAMESPACES:
            if self.get(ns_res, None, ns) is None:
                self.create_quiet(ns_res, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
                                  system)
        for obj in sec.bootstrap_policy():
            res = BY_KIND[("rbac.authorization.k8s.io", obj["kind"])]
            if self.get(res, None, obj["metadata"]["name"]) is None:
                self.create_quiet(res, None, obj, system)
        pc = BY_KIND[("scheduling.k8s.io", "PriorityClass")]
        for name, value in (("system-node-critical", 2000001000), ("system-cluster-critical", 2000000000)):
            if self.get(pc, None, name) is None:
                self.create_quiet(pc, None, {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                             "metadata": {"name": name}, "value": value,
                                             "description": "Used for system critical pods that must not be moved "
                                                            "from their current node."}, system)
        svc = BY_KIND[("", "Service")]
        if self.get(svc, "default", "kubernetes") is None:
            cidr = (self.flags.get("service-cluster-ip-range") or "10.0.0.0/24").split(",")[0]
            ip = str(next(ipaddress.ip_network(cidr, strict=False).hosts()))
            self.create_quiet(svc, "default", {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip],
                         "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                    "targetPort": int(self.flags.get("secure-port", 6443))}]}}, system)

    def create_quiet(self, res: Resource, ns: str | None, obj: dict[str, Any], who: dict[str, Any]) -> None:
        """Create an object, ignoring AlreadyExists (another API server was first)."""
        try:
            create(self, res, ns, obj, who, {})
        except Invalid as exc:
            if exc.code != 409:
                raise


# ---------------------------------------------------------------- helpers

def _b64d(value: str) -> str:
    return base64.b64decode(value).decode(errors="replace")


def peer_identity(cert: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(CN, organisations) of a verified client certificate."""
    cn, orgs = None, []
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                cn = value
            elif key == "organizationName":
                orgs.append(value)
    return cn, orgs


def not_found(res: Resource, name: str) -> Invalid:
    """404 NotFound for one object."""
    return Invalid(404, "NotFound", f'{res.qualified} "{name}" not found',
                   {"name": name, "group": res.group, "kind": res.plural})


def conflict(res: Resource, name: str) -> Invalid:
    """409 Conflict for a stale resourceVersion."""
    return Invalid(409, "Conflict", f'Operation cannot be fulfilled on {res.qualified} "{name}": the object has been '
                                    "modified; please apply your changes to the latest version and try again",
                   {"name": name, "group": res.group, "kind": res.plural})


def set_condition(obj: dict[str, Any], kind: str, status: str, reason: str, message: str) -> None:
    """Set one status condition (lastTransitionTime moves when status changes)."""
    conds = obj.setdefault("status", {}).setdefault("conditions", [])
    for cond in conds:
        if cond.get("type") == kind:
            if cond.get("status") != status:
                cond["lastTransitionTime"] = standin.now_rfc3339()
            cond.update(status=status, reason=reason, message=message)
            return
    conds.append({"type": kind, "status": status, "lastTransitionTime": standin.now_rfc3339(), "reason": reason,
                  "message": message})


def spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    """Everything but metadata and status (what bumps metadata.generation)."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def check_target(res: Resource, obj: Any, ns: str | None, name: str | None) -> None:
    """The body must be an object of this resource, in this namespace, with this name."""
    if not isinstance(obj, dict):
        raise Invalid(400, "BadRequest", "the body of the request was in an unknown format")
    if obj.get("apiVersion") != res.api_version or obj.get("kind") != res.kind:
        if obj.get("kind") != res.kind:
            raise Invalid(400, "BadRequest", f'the server could not find the requested resource: {obj.get("kind")} '
                                             f'in version "{obj.get("apiVersion")}" is not {res.kind}')
        raise Invalid(400, "BadRequest", f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                                         f"expected API version ({res.api_version})")
    meta = obj.setdefault("metadata", {})
    if res.namespaced:
        if meta.get("namespace") and ns and meta["namespace"] != ns:
            raise Invalid(400, "BadRequest", "the namespace of the provided object does not match the namespace sent "
                                             "on the request")
        meta["namespace"] = ns or meta.get("namespace") or "default"
    else:
        meta.pop("namespace", None)
    if name and meta.get("name") and meta["name"] != name:
        raise Invalid(400, "BadRequest", "the name of the object (%s) does not match the name on the URL (%s)"
                      % (meta["name"], name))
    if name:
        meta["name"] = name


def admit(api: Api, res: Resource, obj: dict[str, Any], who: dict[str, Any], old: dict[str, Any] | None,
          strict: bool) -> None:
    """Admission and validation: namespace exists, names, annotations, schemas, kind-specific rules."""
    meta = obj["metadata"]
    if res.namespaced and old is None:
        ns = api.get(BY_KIND[("", "Namespace")], None, meta["namespace"])
        if ns is None:
            raise Invalid(404, "NotFound", f'namespaces "{meta["namespace"]}" not found',
                          {"name": meta["namespace"], "kind": "namespaces"})
        if (ns.get("status") or {}).get("phase") == "Terminating":
            raise Invalid(403, "Forbidden", f'{res.qualified} "{meta["name"]}" is forbidden: unable to create new '
                                            f'content in namespace {meta["namespace"]} because it is being terminated')
    ao.validate_meta(res, obj)
    if res.crd is not None:
        ao.validate_custom(res, obj, strict)
    if res.kind == "CustomResourceDefinition":
        ao.validate_crd(obj)
        if old is not None and (old["spec"]["group"], old["spec"]["names"]["plural"]) != \
                (obj["spec"]["group"], obj["spec"]["names"]["plural"]):
            raise ao.invalid(res, meta["name"], ["spec.group: Invalid value: field is immutable"])
    if res.kind == "Pod" and old is None:
        pcn = (obj.get("spec") or {}).get("priorityClassName")
        if pcn and api.get(BY_KIND[("scheduling.k8s.io", "PriorityClass")], None, pcn) is None:
            raise Invalid(403, "Forbidden", f'pods "{meta["name"]}" is forbidden: no PriorityClass with name {pcn} '
                                            "was found")


def prepare_create(res: Resource, obj: dict[str, Any], who: dict[str, Any]) -> None:
    """What the registry strategies set on create (uid, timestamps, status defaults)."""
    meta = obj["metadata"]
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = standin.now_rfc3339()
    meta["generation"] = 1
    for field in ("resourceVersion", "deletionTimestamp", "selfLink"):
        meta.pop(field, None)
    if res.kind in ao.RESET_STATUS_ON_CREATE or (res.crd is not None and res.status):
        obj.pop("status", None)
    if res.kind == "Namespace":
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif res.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
    elif res.kind == "CertificateSigningRequest":
        spec = obj.setdefault("spec", {})
        spec.update(username=who["user"], groups=who["groups"], uid=who.get("uid", ""))
        obj["status"] = {}
    elif res.kind == "CustomResourceDefinition":
        spec = obj["spec"]
        obj["status"] = {"acceptedNames": spec["names"], "storedVersions": [v["name"] for v in spec["versions"]
                                                                           if v.get("storage")], "conditions": []}
        set_condition(obj, "NamesAccepted", "True", "NoConflicts", "no conflicts found")
        set_condition(obj, "Established", "False", "Installing", "the initial names have been accepted")
    elif res.kind == "Secret":
        obj.setdefault("type", "Opaque")


def create(api: Api, res: Resource, ns: str | None, obj: Any, who: dict[str, Any], query: dict[str, str]) -> Any:
    """POST to a collection."""
    if res.kind in ("SubjectAccessReview", "SelfSubjectAccessReview"):
        return access_review(api, res, obj, who)
    check_target(res, obj, ns, None)
    meta = obj["metadata"]
    if not meta.get("name"):
        if meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        else:
            raise ao.invalid(res, "", ["metadata.name: Required value: name or generateName is required"])
    admit(api, res, obj, who, None, query.get("fieldValidation") == "Strict")
    prepare_create(res, obj, who)
    ao.record_update(None, obj, query.get("fieldManager") or who["manager"], res.api_version, standin.now_rfc3339())
    if query.get("dryRun") == "All":
        return obj
    return api.put_new(res, obj)


def update(api: Api, res: Resource, ns: str | None, name: str, sub: str | None, obj: Any, who: dict[str, Any],
           query: dict[str, str], old: dict[str, Any] | None = None) -> Any:
    """PUT an object (or its status / approval subresource)."""
    check_target(res, obj, ns, name)
    old = old if old is not None else api.must_get(res, ns, name)
    wanted = (obj.get("metadata") or {}).get("resourceVersion")
    if wanted and wanted != old["metadata"]["resourceVersion"]:
        raise conflict(res, name)
    new = merge_write(res, old, obj, sub)
    new["metadata"]["managedFields"] = old["metadata"].get("managedFields") or []
    admit(api, res, new, who, old, query.get("fieldValidation") == "Strict")
    if ao.same(new, old):
        return old
    ao.record_update(old, new, query.get("fieldManager") or who["manager"], res.api_version, standin.now_rfc3339())
    if query.get("dryRun") == "All":
        return new
    if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
        api.etcd.delete(res.key(api.prefix, ns, name))
        return new
    return api.put(res, new, int(old["metadata"]["resourceVersion"]))


def merge_write(res: Resource, old: dict[str, Any], obj: dict[str, Any], sub: str | None) -> dict[str, Any]:
    """The stored object after a write: status-only for /status, spec-only for the main endpoint."""
    new = copy.deepcopy(obj)
    keep = ("uid", "creationTimestamp", "generation", "deletionTimestamp", "resourceVersion")
    for field in keep:
        if field in old["metadata"]:
            new["metadata"][field] = old["metadata"][field]
    if sub in ("status", "approval"):
        result = copy.deepcopy(old)
        if sub == "approval":
            result.setdefault("status", {})["conditions"] = (obj.get("status") or {}).get("conditions") or []
        else:
            result["status"] = obj.get("status")
        return result
    if res.status or res.kind == "CustomResourceDefinition":
        if "status" in old:
            new["status"] = old["status"]
        else:
            new.pop("status", None)
    if res.kind == "CustomResourceDefinition":
        new["status"]["acceptedNames"] = new["spec"]["names"]
    if spec_of(new) != spec_of(old):
        new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
    return new


def patch(api: Api, res: Resource, ns: str | None, name: str, sub: str | None, body: bytes, ctype: str,
          who: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
    """PATCH: JSON merge, strategic merge, JSON patch or server-side apply.

    A write that meets a newer version of the object is retried on the latest one, as the real server's
    GuaranteedUpdate does (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go, at most
    maxRetryWhenPatchConflicts = 5); a patch that names a resourceVersion is a precondition: 409 Conflict.
    """
    ctype = ctype.split(";")[0].strip()
    if ctype == "application/apply-patch+yaml":
        return apply(api, res, ns, name, body, who, query)
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise Invalid(400, "BadRequest", f"error decoding patch: {exc}") from None
    pinned = isinstance(doc, dict) and bool((doc.get("metadata") or {}).get("resourceVersion"))
    for attempt in range(PATCH_CONFLICT_RETRIES + 1):
        try:
            return _patch_once(api, res, ns, name, sub, doc, ctype, who, query)
        except Invalid as exc:
            if exc.code != 409 or exc.reason != "Conflict" or pinned or attempt == PATCH_CONFLICT_RETRIES:
                raise
    raise AssertionError("unreachable")


PATCH_CONFLICT_RETRIES = 5  # patch.go maxRetryWhenPatchConflicts


def _patch_once(api: Api, res: Resource, ns: str | None, name: str, sub: str | None, doc: Any, ctype: str,
                who: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
    """One PATCH attempt on the object as stored now."""
    old = api.must_get(res, ns, name)
    if ctype == "application/merge-patch+json":
        new = ao.merge_patch(old, doc)
    elif ctype == "application/strategic-merge-patch+json":
        if res.crd is not None:
            raise Invalid(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                                                       "media types include: application/json-patch+json, "
                                                       "application/merge-patch+json, application/apply-patch+yaml")
        new = ao.strategic_merge_patch(old, doc)
    elif ctype == "application/json-patch+json":
        new = ao.json_patch(old, doc)
    else:
        raise Invalid(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - accepted "
                                                   f"media types include: application/json-patch+json, "
                                                   f"application/merge-patch+json, application/apply-patch+yaml, "
                                                   f"application/strategic-merge-patch+json (got {ctype})")
    new.setdefault("metadata", {}).setdefault("resourceVersion", old["metadata"]["resourceVersion"])
    return 200, update(api, res, ns, name, sub, new, who, query, old)


def apply(api: Api, res: Resource, ns: str | None, name: str, body: bytes, who: dict[str, Any],
          query: dict[str, str]) -> tuple[int, Any]:
    """Server-side apply (create when absent); 409 on field conflicts unless force=true."""
    manager = query.get("fieldManager")
    if not manager:
        raise Invalid(422, "Invalid", "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                                      "required for apply patch")
    try:
        cfg = json.loads(body)
    except ValueError:
        cfg = None
    try:
        cfg = cfg if cfg is not None else yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise Invalid(400, "BadRequest", f"error decoding YAML: {exc}") from None
    check_target(res, cfg, ns, name)
    old = api.get(res, ns, name)
    force = query.get("force") == "true"
    now = standin.now_rfc3339()
    new = ao.server_side_apply(old, cfg, manager, force, res.api_version, now)
    strict = query.get("fieldValidation") == "Strict"
    if old is None:
        admit(api, res, new, who, None, strict)
        fields = new["metadata"]["managedFields"]
        prepare_create(res, new, who)
        new["metadata"]["managedFields"] = fields
        if query.get("dryRun") == "All":
            return 201, new
        return 201, api.put_new(res, new)
    merged = merge_write(res, old, new, None)
    merged["metadata"]["managedFields"] = new["metadata"]["managedFields"]
    admit(api, res, merged, who, old, strict)
    if ao.same(merged, old):
        return 200, old
    if query.get("dryRun") == "All":
        return 200, merged
    return 200, api.put(res, merged, int(old["metadata"]["resourceVersion"]))


def delete(api: Api, res: Resource, ns: str | None, name: str) -> Any:
    """DELETE one object (a namespace takes its content with it; a CRD its custom objects)."""
    obj = api.must_get(res, ns, name)
    if obj["metadata"].get("finalizers") and res.kind != "Namespace":
        obj["metadata"]["deletionTimestamp"] = standin.now_rfc3339()
        return api.put(res, obj, int(obj["metadata"]["resourceVersion"]))
    if res.kind == "Namespace":
        for other in api.served():
            if other.namespaced and (other.crd is None or other.version == other.crd["spec"]["versions"][0]["name"]):
                prefix = other.key(api.prefix, name)
                api.etcd.call("/v3/kv/deleterange", {"key": _b64e(prefix.encode()),
                                                     "range_end": _b64e(standin.prefix_end(prefix.encode()))})
    if res.kind == "CustomResourceDefinition":
        prefix = f"{api.prefix}/{obj['spec']['group']}/{obj['spec']['names']['plural']}/"
        api.etcd.call("/v3/kv/deleterange", {"key": _b64e(prefix.encode()),
                                             "range_end": _b64e(standin.prefix_end(prefix.encode()))})
    if not api.etcd.delete(res.key(api.prefix, ns, name), int(obj["metadata"]["resourceVersion"])):
        raise conflict(res, name)
    api.invalidate(res)
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
            "details": {"name": name, "group": res.group, "kind": res.plural, "uid": obj["metadata"].get("uid")}}


def _b64e(data: bytes) -> str:
    return base64.b64encode(data).decode()


def access_review(api: Api, res: Resource, obj: dict[str, Any], who: dict[str, Any]) -> dict[str, Any]:
    """SubjectAccessReview / SelfSubjectAccessReview: the authorizers' decision for the given attributes."""
    spec = obj.get("spec") or {}
    if res.kind == "SubjectAccessReview":
        user, groups = spec.get("user", ""), list(spec.get("groups") or [])
    else:
        user, groups = who["user"], who["groups"]
    ra = spec.get("resourceAttributes")
    if ra:
        attrs = {"verb": ra.get("verb", ""), "group": ra.get("group", ""), "version": ra.get("version", ""),
                 "resource": ra.get("resource", ""), "subresource": ra.get("subresource", ""),
                 "namespace": ra.get("namespace", ""), "name": ra.get("name", "")}
    else:
        nra = spec.get("nonResourceAttributes") or {}
        attrs = {"verb": nra.get("verb", ""), "path": nra.get("path", ""), "resource": ""}
    allowed = api.allowed(user, groups, attrs)
    return {**obj, "status": {"allowed": allowed, **({"reason": "RBAC: allowed"} if allowed else {})}}


def subresource_post(api: Api, res: Resource, ns: str | None, name: str, sub: str, body: Any,
                     who: dict[str, Any]) -> Any:
    """POST pods/<name>/eviction (deletes, no PodDisruptionBudget check) and pods/<name>/binding."""
    if res.kind == "Pod" and sub == "eviction":
        delete(api, res, ns, name)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    if res.kind == "Pod" and sub == "binding":
        pod = api.must_get(res, ns, name)
        if (pod.get("spec") or {}).get("nodeName"):
            raise Invalid(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{name}": pod {name} is '
                                           f'already assigned to node "{pod["spec"]["nodeName"]}"')
        pod.setdefault("spec", {})["nodeName"] = (body.get("target") or {}).get("name")
        api.put(res, pod, int(pod["metadata"]["resourceVersion"]))
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
    raise Invalid(404, "NotFound", "the server could not find the requested resource")


# ---------------------------------------------------------------- discovery

def discovery_resources(resources: list[Resource]) -> dict[tuple[str, str], list[Resource]]:
    """Resources grouped by (group, version)."""
    out: dict[tuple[str, str], list[Resource]] = {}
    for r in resources:
        out.setdefault((r.group, r.version), []).append(r)
    return out


def resource_list(group: str, version: str, items: list[Resource]) -> dict[str, Any]:
    """An APIResourceList (GET /api/v1, /apis/<group>/<version>)."""
    out = []
    for r in items:
        out.append({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                    "verbs": list(r.verbs), **({"shortNames": list(r.short)} if r.short else {})})
        if r.status:
            out.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced, "kind": r.kind,
                        "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": out}


def group_list(grouped: dict[tuple[str, str], list[Resource]]) -> dict[str, Any]:
    """APIGroupList (GET /apis)."""
    groups: dict[str, list[str]] = {}
    for group, version in grouped:
        if group:
            groups.setdefault(group, []).append(version)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
         "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}} for g, vs in groups.items()]}


def aggregated(grouped: dict[tuple[str, str], list[Resource]], core: bool) -> dict[str, Any]:
    """apidiscovery.k8s.io/v2 APIGroupDiscoveryList (what kubectl 1.30+ asks /api and /apis for)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for (group, version), items in grouped.items():
        if bool(group) == core:
            continue
        resources = []
        for r in items:
            item = {"resource": r.plural, "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
                    "scope": "Namespaced" if r.namespaced else "Cluster", "singularResource": r.singular,
                    "verbs": list(r.verbs)}
            if r.short:
                item["shortNames"] = list(r.short)
            if r.status:
                item["subresources"] = [{"subresource": "status", "verbs": ["get", "patch", "update"],
                                         "responseKind": {"group": r.group, "version": r.version, "kind": r.kind}}]
            resources.append(item)
        groups.setdefault(group, []).append({"version": version, "resources": resources, "freshness": "Current"})
    return {"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {},
            "items": [{"metadata": {"name": g}, "versions": vs} for g, vs in groups.items()]}


# ---------------------------------------------------------------- HTTP

class Request:
    """One parsed request: path, verb, resource attributes."""

    def __init__(self, method: str, raw_path: str) -> None:
        url = urlsplit(raw_path)
        self.path = url.path.rstrip("/") or "/"
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.method = method
        self.parts = [p for p in self.path.split("/") if p]
        self.group = self.version = self.plural = ""
        self.ns: str | None = None
        self.name: str | None = None
        self.sub: str | None = None
        self.is_resource = False
        self.parse()

    def parse(self) -> None:
        """Split /api/v1/... and /apis/<group>/<version>/... into resource attributes."""
        p = self.parts
        if p[:1] == ["api"] and len(p) >= 3:
            self.version, rest = p[1], p[2:]
        elif p[:1] == ["apis"] and len(p) >= 4:
            self.group, self.version, rest = p[1], p[2], p[3:]
        else:
            return
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            self.ns, rest = rest[1], rest[2:]
        self.plural = rest[0]
        self.name = rest[1] if len(rest) > 1 else None
        self.sub = "/".join(rest[2:]) or None
        self.is_resource = True

    @property
    def verb(self) -> str:
        """The authorization verb."""
        if not self.is_resource:
            return {"GET": "get", "HEAD": "get", "POST": "post", "PUT": "put", "PATCH": "patch",
                    "DELETE": "delete"}.get(self.method, self.method.lower())
        if self.method == "GET":
            if self.query.get("watch") in ("1", "true"):
                return "watch"
            return "get" if self.name else "list"
        if self.method == "POST":
            return "create"
        if self.method == "PUT":
            return "update"
        if self.method == "PATCH":
            return "patch"
        if self.method == "DELETE":
            return "delete" if self.name else "deletecollection"
        return self.method.lower()

    def attrs(self) -> dict[str, Any]:
        """Authorization/audit attributes."""
        if not self.is_resource:
            return {"verb": self.verb, "path": self.path, "resource": ""}
        return {"verb": self.verb, "group": self.group, "version": self.version, "resource": self.plural,
                "subresource": self.sub or "", "namespace": self.ns or "", "name": self.name or ""}


def forbidden(req: Request, user: str) -> Invalid:
    """403 Forbidden worded like the RBAC authorizer's denial."""
    if not req.is_resource:
        return Invalid(403, "Forbidden", f'forbidden: User "{user}" cannot {req.verb} path "{req.path}"')
    what = f"{req.plural}.{req.group}" if req.group else req.plural
    target = f'{what} "{req.name}"' if req.name else what
    resource = req.plural + (f"/{req.sub}" if req.sub else "")
    scope = f'in the namespace "{req.ns}"' if req.ns else "at the cluster scope"
    return Invalid(403, "Forbidden", f'{target} is forbidden: User "{user}" cannot {req.verb} resource "{resource}" '
                                     f'in API group "{req.group}" {scope}',
                   {"name": req.name or "", "group": req.group, "kind": req.plural})


def serve(api: Api, req: Request, body: bytes, headers: Any, who: dict[str, Any]) -> tuple[int, Any, str]:
    """Dispatch an authorized request: (HTTP code, payload, content type)."""
    path, accept = req.path, headers.get("Accept") or ""
    if path in ("/healthz", "/livez", "/readyz") or path.startswith(("/healthz/", "/livez/", "/readyz/")):
        return health(api, path, "verbose" in req.query)
    if path in ("/version", "/version/"):
        return 200, version(), "application/json"
    if path in ("/api", "/apis") and "as=APIGroupDiscoveryList" in accept:
        return 200, aggregated(discovery_resources(api.served()), core=path == "/apis"), \
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    if path == "/api":
        return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{api.flags.get('advertise-address', '')}:"
                                                          f"{api.flags.get('secure-port', '6443')}"}]}, "application/json"
    if path == "/apis":
        return 200, group_list(discovery_resources(api.served())), "application/json"
    if len(req.parts) in (2, 3) and req.parts[0] in ("api", "apis") and not req.is_resource:
        group, ver = (("", req.parts[1]) if req.parts[0] == "api" else
                      (req.parts[1], req.parts[2] if len(req.parts) == 3 else ""))
        grouped = discovery_resources(api.served())
        if ver and (group, ver) in grouped:
            return 200, resource_list(group, ver, grouped[(group, ver)]), "application/json"
        if not ver and any(g == group for g, _ in grouped):
            vs = [v for g, v in grouped if g == group]
            return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": group,
                         "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in vs],
                         "preferredVersion": {"groupVersion": f"{group}/{vs[0]}", "version": vs[0]}}, "application/json"
        raise Invalid(404, "NotFound", "the server could not find the requested resource")
    if not req.is_resource:
        raise Invalid(404, "NotFound", "the server could not find the requested resource")
    res = api.resource(req.group, req.version, req.plural)
    if res.namespaced != bool(req.ns) and (req.name or req.method != "GET"):
        if res.namespaced:
            req.ns = req.ns or "default"
        else:
            raise Invalid(404, "NotFound", "the server could not find the requested resource")
    return rest(api, res, req, body, headers, who)


def rest(api: Api, res: Resource, req: Request, body: bytes, headers: Any, who: dict[str, Any]) -> tuple[int, Any, str]:
    """The verbs on a resource."""
    js = "application/json"
    verb = req.verb
    if verb not in res.verbs and not req.sub:
        raise Invalid(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
    if req.sub and (req.sub not in ("status", "approval", "eviction", "binding") or (req.sub == "status" and not res.status)
                    or (req.sub == "approval" and res.kind != "CertificateSigningRequest")
                    or (req.sub in ("eviction", "binding") and res.kind != "Pod")):
        raise Invalid(404, "NotFound", "the server could not find the requested resource")
    if verb == "watch":
        raise Invalid(405, "MethodNotAllowed", "watch is not implemented by the lab's API server stand-in")
    if verb == "get":
        return 200, api.must_get(res, req.ns, req.name or ""), js
    if verb == "list":
        items, rev = api.list_view(res, req.ns)  # only filtered and serialized below
        if req.query.get("labelSelector"):
            items = [o for o in items if ao.match_labels(o["metadata"].get("labels") or {},
                                                        req.query["labelSelector"])]
        if req.query.get("fieldSelector"):
            items = [o for o in items if ao.match_fields(o, req.query["fieldSelector"])]
        return 200, {"apiVersion": res.api_version, "kind": f"{res.kind}List",
                     "metadata": {"resourceVersion": str(rev)}, "items": items}, js
    try:
        doc = json.loads(body) if body and verb in ("create", "update") else None
    except ValueError as exc:
        raise Invalid(400, "BadRequest", f"the body of the request was in an unknown format: {exc}") from None
    if verb == "create":
        if req.name and req.sub:
            return 201, subresource_post(api, res, req.ns, req.name, req.sub, doc, who), js
        return 201, create(api, res, req.ns, doc, who, req.query), js
    if verb == "update":
        return 200, update(api, res, req.ns, req.name or "", req.sub, doc, who, req.query), js
    if verb == "patch":
        code, obj = patch(api, res, req.ns, req.name or "", req.sub, body, headers.get("Content-Type") or "",
                          who, req.query)
        return code, obj, js
    if verb == "delete":
        return 200, delete(api, res, req.ns, req.name or ""), js
    if verb == "deletecollection":
        items, _ = api.list(res, req.ns)
        sel = req.query.get("labelSelector")
        for obj in items:
            if not sel or ao.match_labels(obj["metadata"].get("labels") or {}, sel):
                delete(api, res, obj["metadata"].get("namespace"), obj["metadata"]["name"])
        return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "metadata": {}}, js
    raise Invalid(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


def health(api: Api, path: str, verbose: bool) -> tuple[int, Any, str]:
    """healthz/readyz need etcd (readyz also the post-start hooks); livez only needs the process."""
    checks = [("ping", True), ("log", True)]
    if not path.startswith("/livez"):
        checks.append(("etcd", api.etcd.healthy()))
    if path.startswith("/readyz"):
        checks.append(("poststarthook/rbac/bootstrap-roles", api.hooks_done))
    ok = all(c[1] for c in checks)
    if ok and not verbose:
        return 200, b"ok", "text/plain; charset=utf-8"
    lines = [f"[+]{n} ok" if good else f"[-]{n} failed: reason withheld" for n, good in checks]
    name = path.strip("/").split("/")[0]
    lines.append(f"{name} check passed" if ok else f"{name} check failed")
    return (200 if ok else 500), ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"


def version() -> dict[str, Any]:
    """What /version answers."""
    major, minor, _ = standin.KUBE_VERSION.split(".")
    return {"major": major, "minor": minor, "gitVersion": "v" + standin.KUBE_VERSION,
            "gitCommit": "standin", "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
            "goVersion": "go1.25 (TEST DOUBLE: python stand-in)", "compiler": "gc", "platform": "linux/amd64"}


class Handler(BaseHTTPRequestHandler):
    """HTTPS request handler; the TLS handshake happens in the worker thread."""

    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-standin"
    server: "Server"

    def setup(self) -> None:
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, fmt: str, *args: Any) -> None:
        pass

    def reply(self, code: int, payload: Any, ctype: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def handle_any(self) -> None:
        api = self.server.api
        started = time.time()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Request(self.command, self.path)
        user, groups = "system:anonymous", ["system:unauthenticated"]
        code, payload, ctype = 500, None, "application/json"
        try:
            user, groups = api.authenticate(self.headers, self.request.getpeercert())
            who = {"user": user, "groups": groups,
                   "manager": (self.headers.get("User-Agent") or "unknown").split("/")[0]}
            # --authorization-always-allow-paths defaults to /healthz, /readyz, /livez (apiserver options/authorization.go)
            always = req.path in ("/healthz", "/readyz", "/livez") or req.path.startswith(("/healthz/", "/readyz/",
                                                                                            "/livez/"))
            if not always and not api.allowed(user, groups, req.attrs()):
                raise forbidden(req, user)
            code, payload, ctype = serve(api, req, body, self.headers, who)
        except Invalid as exc:
            code, payload = exc.code, exc.status()
        except standin.EtcdError as exc:
            code, payload = 500, Invalid(500, "InternalError", f"etcdserver: {exc}").status()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a Status, logged
            standin.log_line(f"apiserver error {self.command} {req.path}: {exc!r}")
            code, payload = 500, Invalid(500, "InternalError", f"Internal error occurred: {exc!r}").status()
        try:
            self.reply(code, payload, ctype)
        finally:
            request_obj = None
            if body and req.is_resource:
                try:
                    request_obj = json.loads(body)
                except ValueError:
                    request_obj = None
            api.audit.log(user, groups, req.attrs(), self.path, self.client_address[0],
                          self.headers.get("User-Agent") or "", code, started, request_obj,
                          payload if isinstance(payload, dict) else None)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = handle_any


class Server(ThreadingHTTPServer):
    """Threading HTTPS server."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    tls: ssl.SSLContext
    api: Api


def tls_context(flags: dict[str, Any]) -> ssl.SSLContext:
    """Serving certificate plus optional client-certificate verification against --client-ca-file."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(flags["tls-cert-file"], flags["tls-private-key-file"])
    if flags.get("client-ca-file"):
        ctx.verify_mode = ssl.CERT_OPTIONAL
        ctx.load_verify_locations(flags["client-ca-file"])
    return ctx


def check_flags(flags: dict[str, Any]) -> None:
    """The required flags the real binary refuses to start without (options/validation.go)."""
    errors = []
    if not flags.get("etcd-servers"):
        errors.append("--etcd-servers must be specified")
    if not flags.get("service-account-issuer"):
        errors.append("service-account-issuer is a required flag")
    if not flags.get("service-account-signing-key-file") or not flags.get("service-account-issuer"):
        errors.append("--service-account-signing-key-file and --service-account-issuer are required flags")
    if not flags.get("tls-cert-file") or not flags.get("tls-private-key-file"):
        errors.append("--tls-cert-file and --tls-private-key-file: the lab stand-in does not self-sign; both are "
                      "required")
    for name in ("client-ca-file", "tls-cert-file", "tls-private-key-file", "etcd-cafile", "etcd-certfile",
                 "etcd-keyfile", "service-account-signing-key-file", "encryption-provider-config", "audit-policy-file"):
        if flags.get(name) and not Path(flags[name]).exists():
            errors.append(f"--{name}: open {flags[name]}: no such file or directory")
    if errors:
        raise standin.Fail("[" + ", ".join(errors) + "]" if len(errors) > 1 else errors[0])


def main(argv: list[str]) -> int:
    """Parse flags, then serve until stopped."""
    try:
        flags, args = standin.parse_flags(argv, FLAGS)
        if args:
            raise standin.Fail(f'unknown command "{args[0]}" for "kube-apiserver"')
        if flags.get("version"):
            print(f"Kubernetes v{standin.KUBE_VERSION}")
            return 0
        check_flags(flags)
        api = Api(flags)
        tls = tls_context(flags)
    except (standin.Fail, sec.ConfigError, ssl.SSLError, OSError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        standin.log_line(f"kube-apiserver refused to start: {exc}")
        return 1
    port = int(flags.get("secure-port", 6443))
    server = Server((flags.get("bind-address", "0.0.0.0"), port), Handler)
    server.tls = tls
    server.api = api
    threading.Thread(target=api.post_start_forever, daemon=True).start()
    threading.Thread(target=api.establish_forever, daemon=True).start()
    standin.log_line(f"kube-apiserver (stand-in) serving on :{port}, etcd {','.join(flags['etcd-servers'])}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
