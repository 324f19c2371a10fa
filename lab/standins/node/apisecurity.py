"""TEST DOUBLE pieces of kube-apiserver's security (not Kubernetes): encryption at rest, RBAC, audit.

Upstream sources copied (kubernetes/kubernetes, staging/src/k8s.io/...):
- encryption: apiserver/pkg/server/options/encryptionconfig/config.go (providers identity, aescbc, aesgcm,
  secretbox; stored value = "k8s:enc:<provider>:v1:<key name>:" + ciphertext; the first provider writes,
  every listed one reads), apiserver/pkg/storage/value/encrypt/aes/aes.go (CBC: 16-byte IV + PKCS#7;
  GCM: 12-byte nonce, the etcd key as additional data), .../secretbox/secretbox.go (24-byte nonce + box).
- RBAC: plugin/pkg/auth/authorizer/rbac/rbac.go (rule matching), bootstrappolicy/policy.go and
  controller_policy.go (the default roles and bindings the API server reconciles at start).
- bootstrap tokens: plugin/pkg/auth/authenticator/token/bootstrap/bootstrap.go (Secret
  kube-system/bootstrap-token-<id>, user system:bootstrap:<id>, groups system:bootstrappers + auth-extra-groups).
- audit: apiserver/pkg/apis/audit/v1/types.go (Event, Policy), apiserver/pkg/audit/policy/checker.go
  (first matching rule wins; omitStages).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from typing import Any

import yaml

# ---------------------------------------------------------------- encryption at rest

PROVIDERS = ("identity", "aescbc", "aesgcm", "secretbox", "kms")


class ConfigError(Exception):
    """The encryption or audit configuration cannot be loaded (the real API server exits)."""


class Transformer:
    """One configured encryption key of one provider."""

    def __init__(self, provider: str, name: str, secret: bytes) -> None:
        self.provider = provider
        self.name = name
        self.secret = secret
        self.prefix = f"k8s:enc:{provider}:v1:{name}:".encode()

    def encrypt(self, data: bytes, key: str) -> bytes:
        """Ciphertext with this key's prefix."""
        if self.provider == "aescbc":
            from cryptography.hazmat.primitives import padding
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            iv = os.urandom(16)
            padder = padding.PKCS7(128).padder()
            body = padder.update(data) + padder.finalize()
            enc = Cipher(algorithms.AES(self.secret), modes.CBC(iv)).encryptor()
            return self.prefix + iv + enc.update(body) + enc.finalize()
        if self.provider == "aesgcm":
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            nonce = os.urandom(12)
            return self.prefix + nonce + AESGCM(self.secret).encrypt(nonce, data, key.encode())
        from nacl.secret import SecretBox
        nonce = os.urandom(24)
        return self.prefix + SecretBox(self.secret).encrypt(data, nonce)

    def decrypt(self, value: bytes, key: str) -> bytes:
        """Plaintext of a value carrying this key's prefix."""
        data = value[len(self.prefix):]
        if self.provider == "aescbc":
            from cryptography.hazmat.primitives import padding
            from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
            dec = Cipher(algorithms.AES(self.secret), modes.CBC(data[:16])).decryptor()
            body = dec.update(data[16:]) + dec.finalize()
            unpad = padding.PKCS7(128).unpadder()
            return unpad.update(body) + unpad.finalize()
        if self.provider == "aesgcm":
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
            return AESGCM(self.secret).decrypt(data[:12], data[12:], key.encode())
        from nacl.secret import SecretBox
        return SecretBox(self.secret).decrypt(data)


class Encryption:
    """Per-resource transformer lists from an EncryptionConfiguration (none = identity for all)."""

    def __init__(self, rules: list[tuple[list[str], list[Transformer | None]]]) -> None:
        self.rules = rules  # (resource patterns, providers in order; None = identity)

    @classmethod
    def load(cls, path: str | None) -> "Encryption":
        """Parse --encryption-provider-config (apiserver.config.k8s.io/v1 EncryptionConfiguration)."""
        if not path:
            return cls([])
        try:
            doc = yaml.safe_load(open(path).read()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"error while parsing file: {exc}") from None
        if doc.get("kind") != "EncryptionConfiguration" or doc.get("apiVersion") not in (
                "apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1"):
            raise ConfigError(f"error while parsing file: no kind \"{doc.get('kind')}\" is registered for version "
                              f"\"{doc.get('apiVersion')}\"")
        rules = []
        for i, item in enumerate(doc.get("resources") or []):
            providers: list[Transformer | None] = []
            for j, prov in enumerate(item.get("providers") or []):
                if len(prov) != 1 or next(iter(prov)) not in PROVIDERS:
                    raise ConfigError(f"resources[{i}].providers[{j}]: Invalid value: {json.dumps(prov)}: "
                                      "provider does not contain any of the expected providers: KMS, AESGCM, AESCBC, "
                                      "Secretbox, Identity")
                name, conf = next(iter(prov.items()))
                if name == "identity":
                    providers.append(None)
                    continue
                if name == "kms":
                    raise ConfigError("kms providers need a KMS plugin, which the lab stand-in does not run")
                keys = (conf or {}).get("keys") or []
                if not keys:
                    raise ConfigError(f"resources[{i}].providers[{j}].{name}.keys: Required value")
                for key in keys:
                    secret = base64.b64decode(key.get("secret", ""))
                    sizes = (32,) if name == "secretbox" else (16, 24, 32)
                    if len(secret) not in sizes:
                        raise ConfigError(f"resources[{i}].providers[{j}].{name}.keys[0].secret: Invalid value: "
                                          f"\"REDACTED\": secret is not of the expected length, got {len(secret)}, "
                                          f"expected one of {list(sizes)}")
                    providers.append(Transformer(name, key["name"], secret))
            rules.append((list(item.get("resources") or []), providers))
        return cls(rules)

    def providers(self, resource: str, group: str) -> list[Transformer | None]:
        """The providers that apply to resource.group (the first rule whose pattern matches)."""
        qualified = f"{resource}.{group}" if group else resource
        for patterns, providers in self.rules:
            for pat in patterns:
                res, _, grp = pat.partition(".")
                if pat in ("*.*", qualified) or (res == "*" and grp == group):
                    return providers
        return [None]

    def write(self, resource: str, group: str, key: str, data: bytes) -> bytes:
        """The value to store: encrypted by the first provider."""
        first = self.providers(resource, group)[0]
        return data if first is None else first.encrypt(data, key)

    def read(self, resource: str, group: str, key: str, value: bytes) -> bytes:
        """Plaintext of a stored value; error if no configured provider can read it."""
        providers = self.providers(resource, group)
        if value.startswith(b"k8s:enc:"):
            for prov in providers:
                if prov is not None and value.startswith(prov.prefix):
                    return prov.decrypt(value, key)
            raise ConfigError("no matching prefix found")
        if None in providers:
            return value
        raise ConfigError("no matching prefix found")


# ---------------------------------------------------------------- authorization (RBAC + a Node authorizer)

def rule_allows(rule: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """Whether one PolicyRule covers the request attributes (rbac.go RuleAllows)."""
    verbs = rule.get("verbs") or []
    if "*" not in verbs and attrs["verb"] not in verbs:
        return False
    if not attrs.get("resource"):
        for url in rule.get("nonResourceURLs") or []:
            if url == "*" or url == attrs["path"] or (url.endswith("*") and attrs["path"].startswith(url[:-1])):
                return True
        return False
    groups = rule.get("apiGroups") or []
    if "*" not in groups and attrs["group"] not in groups:
        return False
    resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    resources = rule.get("resources") or []
    if not ("*" in resources or resource in resources or
            (attrs.get("subresource") and f"*/{attrs['subresource']}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or attrs.get("name") in names


def subject_matches(subject: dict[str, Any], user: str, groups: list[str], namespace: str) -> bool:
    """Whether a binding subject names this user (User, Group or ServiceAccount)."""
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return name == user
    if kind == "Group":
        return name in groups
    if kind == "ServiceAccount":
        return user == f"system:serviceaccount:{subject.get('namespace') or namespace}:{name}"
    return False


def rbac_allows(policy: dict[str, Any], user: str, groups: list[str], attrs: dict[str, Any]) -> bool:
    """RBAC decision over ClusterRoles/Roles and their bindings (policy: name -> object maps by kind)."""
    for binding in policy["clusterrolebindings"].values():
        if any(subject_matches(s, user, groups, "") for s in binding.get("subjects") or []):
            role = policy["clusterroles"].get(binding["roleRef"]["name"])
            if role and any(rule_allows(r, attrs) for r in role_rules(role, policy)):
                return True
    ns = attrs.get("namespace")
    if not ns or not attrs.get("resource"):
        return False
    for (bns, _), binding in policy["rolebindings"].items():
        if bns != ns or not any(subject_matches(s, user, groups, ns) for s in binding.get("subjects") or []):
            continue
        ref = binding["roleRef"]
        role = (policy["clusterroles"].get(ref["name"]) if ref.get("kind") == "ClusterRole"
                else policy["roles"].get((ns, ref["name"])))
        if role and any(rule_allows(r, attrs) for r in role_rules(role, policy)):
            return True
    return False


def role_rules(role: dict[str, Any], policy: dict[str, Any]) -> list[dict[str, Any]]:
    """A role's rules, plus those of the ClusterRoles an aggregationRule selects."""
    rules = list(role.get("rules") or [])
    agg = role.get("aggregationRule")
    if agg:
        for other in policy["clusterroles"].values():
            labels = (other.get("metadata") or {}).get("labels") or {}
            for sel in agg.get("clusterRoleSelectors") or []:
                if all(labels.get(k) == v for k, v in (sel.get("matchLabels") or {}).items()):
                    rules.extend(other.get("rules") or [])
    return rules


NODE_READ = {"nodes", "pods", "services", "endpoints", "endpointslices", "configmaps", "secrets", "namespaces",
             "persistentvolumes", "persistentvolumeclaims", "csidrivers", "runtimeclasses", "serviceaccounts"}


def node_allows(user: str, attrs: dict[str, Any]) -> bool:
    """The Node authorizer, simplified: a kubelet reads what it needs and writes its own Node, Lease, pods' status.

    Upstream (plugin/pkg/auth/authorizer/node/node_authorizer.go) limits secret/configmap reads to objects
    referenced by pods bound to the node; the stand-in allows reading them all.
    """
    node = user.removeprefix("system:node:")
    verb, res, sub = attrs["verb"], attrs.get("resource"), attrs.get("subresource")
    if not res:
        return False
    if verb in ("get", "list", "watch") and res in NODE_READ:
        return True
    if res == "nodes":
        return verb in ("create", "update", "patch", "delete") and attrs.get("name") in (node, None, "")
    if res == "leases":
        return attrs.get("namespace") == "kube-node-lease" and attrs.get("name") in (node, None, "")
    if res == "pods":
        return verb in ("create", "delete") or (sub == "status" and verb in ("update", "patch"))
    if res == "certificatesigningrequests":
        return verb in ("create", "get", "list", "watch") or sub == "selfnodeclient"
    if res in ("events", "subjectaccessreviews", "tokenreviews"):
        return verb in ("create", "update", "patch")
    return False


def _role(name: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "rules": rules}


def _binding(name: str, role: str, kind: str, subject: str) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
                         "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"}},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": subject}]}


PUBLIC_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
CSR = "certificates.k8s.io"


def bootstrap_policy() -> list[dict[str, Any]]:
    """The default ClusterRoles/Bindings the API server creates at start (the subset the lab uses).

    system:kube-controller-manager and system:kube-scheduler are granted everything here; upstream
    gives each controller its own narrower role.
    """
    everything = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, {"nonResourceURLs": ["*"], "verbs": ["*"]}]
    return [
        _role("cluster-admin", everything),
        _binding("cluster-admin", "cluster-admin", "Group", "system:masters"),
        _role("system:discovery", [{"nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                        "/openapi", "/openapi/*", "/readyz", "/version", "/version/"],
                                    "verbs": ["get"]}]),
        _binding("system:discovery", "system:discovery", "Group", "system:authenticated"),
        _role("system:public-info-viewer", [{"nonResourceURLs": PUBLIC_URLS, "verbs": ["get"]}]),
        {**_binding("system:public-info-viewer", "system:public-info-viewer", "Group", "system:unauthenticated"),
         "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:authenticated"},
                      {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}]},
        _role("system:basic-user", [{"apiGroups": ["authorization.k8s.io"],
                                     "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                                     "verbs": ["create"]}]),
        _binding("system:basic-user", "system:basic-user", "Group", "system:authenticated"),
        _role("system:node-bootstrapper", [{"apiGroups": [CSR], "resources": ["certificatesigningrequests"],
                                            "verbs": ["create", "get", "list", "watch"]}]),
        _role("system:certificates.k8s.io:certificatesigningrequests:nodeclient",
              [{"apiGroups": [CSR], "resources": ["certificatesigningrequests/nodeclient"], "verbs": ["create"]}]),
        _role("system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
              [{"apiGroups": [CSR], "resources": ["certificatesigningrequests/selfnodeclient"], "verbs": ["create"]}]),
        _role("system:node", []),
        _role("system:kube-controller-manager", everything),
        _binding("system:kube-controller-manager", "system:kube-controller-manager", "User",
                 "system:kube-controller-manager"),
        _role("system:kube-scheduler", everything),
        _binding("system:kube-scheduler", "system:kube-scheduler", "User", "system:kube-scheduler"),
    ]


# ---------------------------------------------------------------- audit

LEVELS = ("None", "Metadata", "Request", "RequestResponse")


class Audit:
    """Writes audit.k8s.io/v1 Events (JSON lines) for the rules of an audit Policy."""

    def __init__(self, policy_path: str | None, log_path: str | None) -> None:
        self.rules: list[dict[str, Any]] = []
        self.omit: list[str] = []
        self.path = log_path
        if not (policy_path and log_path):
            self.path = None
            return
        try:
            doc = yaml.safe_load(open(policy_path).read()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"loading audit policy file: {exc}") from None
        if doc.get("kind") != "Policy" or not str(doc.get("apiVersion", "")).startswith("audit.k8s.io/"):
            raise ConfigError(f"loading audit policy file: failed decoding: no kind \"{doc.get('kind')}\" is "
                              f"registered for version \"{doc.get('apiVersion')}\"")
        self.rules = doc.get("rules") or []
        if not self.rules:
            raise ConfigError(f"loading audit policy file: loaded illegal policy with 0 rules from file {policy_path}")
        for i, rule in enumerate(self.rules):
            if rule.get("level") not in LEVELS:
                raise ConfigError(f"loading audit policy file: rules[{i}].level: Unsupported value: "
                                  f"\"{rule.get('level')}\"")
        self.omit = doc.get("omitStages") or []

    def rule_for(self, user: str, groups: list[str], attrs: dict[str, Any]) -> dict[str, Any] | None:
        """The first policy rule matching the request (checker.go ruleMatches)."""
        for rule in self.rules:
            if rule.get("users") and user not in rule["users"]:
                continue
            if rule.get("userGroups") and not set(rule["userGroups"]) & set(groups):
                continue
            if rule.get("verbs") and attrs["verb"] not in rule["verbs"]:
                continue
            if attrs.get("resource"):
                if rule.get("nonResourceURLs"):
                    continue
                if rule.get("namespaces") and (attrs.get("namespace") or "") not in rule["namespaces"]:
                    continue
                if rule.get("resources") and not any(_gr_matches(gr, attrs) for gr in rule["resources"]):
                    continue
            else:
                if rule.get("resources") or rule.get("namespaces"):
                    continue
                urls = rule.get("nonResourceURLs")
                if urls and not any(u == attrs["path"] or (u.endswith("*") and attrs["path"].startswith(u[:-1]))
                                    for u in urls):
                    continue
            return rule
        return None

    def log(self, user: str, groups: list[str], attrs: dict[str, Any], uri: str, source: str, agent: str,
            code: int, started: float, request: Any = None, response: Any = None) -> None:
        """Append the RequestReceived and ResponseComplete events of one request."""
        if not self.path:
            return
        rule = self.rule_for(user, groups, attrs)
        level = (rule or {}).get("level", "None")
        if level == "None":
            return
        omit = set(self.omit) | set((rule or {}).get("omitStages") or [])
        audit_id = str(uuid.uuid4())
        base: dict[str, Any] = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": audit_id,
            "requestURI": uri, "verb": attrs["verb"], "user": {"username": user, "groups": groups},
            "sourceIPs": [source], "userAgent": agent,
            "requestReceivedTimestamp": _micro(started),
        }
        if attrs.get("resource"):
            ref = {"resource": attrs["resource"], "namespace": attrs.get("namespace") or None,
                   "name": attrs.get("name") or None, "apiGroup": attrs.get("group") or None,
                   "apiVersion": attrs.get("version"), "subresource": attrs.get("subresource") or None}
            base["objectRef"] = {k: v for k, v in ref.items() if v}
        lines = []
        if "RequestReceived" not in omit:
            lines.append({**base, "stage": "RequestReceived", "stageTimestamp": _micro(started)})
        if "ResponseComplete" not in omit:
            done = {**base, "stage": "ResponseComplete", "stageTimestamp": _micro(time.time()),
                    "responseStatus": {"metadata": {}, "code": code}}
            if level in ("Request", "RequestResponse") and request is not None:
                done["requestObject"] = request
            if level == "RequestResponse" and response is not None:
                done["responseObject"] = response
            lines.append(done)
        text = "".join(json.dumps(line) + "\n" for line in lines)
        if self.path == "-":
            print(text, end="", flush=True)
            return
        with open(self.path, "a") as fh:
            fh.write(text)


def _gr_matches(gr: dict[str, Any], attrs: dict[str, Any]) -> bool:
    """Whether one audit GroupResources entry covers the request."""
    if (gr.get("group") or "") != (attrs.get("group") or ""):
        return False
    resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs.get("subresource") else "")
    names = gr.get("resources") or []
    if names and not any(n in (resource, attrs["resource"], "*", f"*/{attrs.get('subresource')}") for n in names):
        return False
    rnames = gr.get("resourceNames") or []
    return not rnames or attrs.get("name") in rnames


def _micro(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts * 1e6) % 1000000:06d}Z"
