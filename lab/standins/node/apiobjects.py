"""TEST DOUBLE pieces of kube-apiserver's object handling (not Kubernetes): resources, patches, apply, validation.

Each behaviour names the upstream code it copies (kubernetes/kubernetes unless said otherwise):
- etcd keys: pkg/registry/*/storage (the "minions", "services/specs" prefixes), CRs under /registry/<group>/<plural>
  (staging/src/k8s.io/apiextensions-apiserver/pkg/registry/customresource/etcd.go).
- annotation limit: staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go
  (TotalAnnotationSizeLimitB = 256 KiB: "metadata.annotations: Too long: must have at most 262144 bytes").
- names: staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go (IsDNS1123Subdomain / Label).
- server-side apply: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager (conflict message,
  managedFields entries); the stand-in treats every list as atomic (no list-map merge keys).
- CR schema checks: staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/validation (types, enum) and
  the strict field validation of KEP-2885 ("strict decoding error: unknown field ...").
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

ANNOTATION_LIMIT = 256 * 1024
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SYSTEM_META = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
               "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}


class Invalid(Exception):
    """A request the API refuses: HTTP code, Status reason and message."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        """The Kubernetes Status object of this error."""
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": str(self),
                "reason": self.reason, "details": self.details, "code": self.code}


@dataclass
class Resource:
    """One REST resource the stand-in serves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    short: tuple[str, ...] = ()
    storage: str = ""
    status: bool = False  # has a status subresource (status kept on main-endpoint writes)
    verbs: tuple[str, ...] = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    crd: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def api_version(self) -> str:
        """group/version as objects carry it."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        """The singular name (kind lowercased, or the CRD's)."""
        if self.crd:
            return self.crd["spec"]["names"].get("singular") or self.kind.lower()
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """plural.group as error messages name it (just plural for the core group)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def key(self, prefix: str, namespace: str | None, name: str | None = None) -> str:
        """The etcd key (or key prefix when name is None) of an object."""
        parts = [prefix.rstrip("/"), self.storage or self.plural]
        if self.namespaced and namespace:
            parts.append(namespace)
        if name is not None:
            parts.append(name)
        return "/".join(parts) + ("" if name is not None else "/")


def _r(group: str, version: str, plural: str, kind: str, namespaced: bool, short: tuple[str, ...] = (),
       storage: str = "", status: bool = False, verbs: tuple[str, ...] | None = None) -> Resource:
    res = Resource(group, version, plural, kind, namespaced, short, storage, status)
    if verbs:
        res.verbs = verbs
    return res


BUILTIN: list[Resource] = [
    _r("", "v1", "namespaces", "Namespace", False, ("ns",), status=True),
    _r("", "v1", "nodes", "Node", False, ("no",), storage="minions", status=True),
    _r("", "v1", "pods", "Pod", True, ("po",), status=True),
    _r("", "v1", "services", "Service", True, ("svc",), storage="services/specs", status=True),
    _r("", "v1", "endpoints", "Endpoints", True, ("ep",), storage="services/endpoints"),
    _r("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _r("", "v1", "secrets", "Secret", True),
    _r("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _r("", "v1", "events", "Event", True, ("ev",)),
    _r("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), status=True),
    _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), status=True),
    _r("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    _r("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), status=True),
    _r("apps", "v1", "deployments", "Deployment", True, ("deploy",), status=True),
    _r("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), status=True),
    _r("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), status=True),
    _r("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), status=True),
    _r("batch", "v1", "jobs", "Job", True, status=True),
    _r("batch", "v1", "cronjobs", "CronJob", True, ("cj",), status=True),
    _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _r("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False, ("crd", "crds"),
       storage="apiextensions.k8s.io/customresourcedefinitions", status=True),
    _r("apiregistration.k8s.io", "v1", "apiservices", "APIService", False,
       storage="apiregistration.k8s.io/apiservices", status=True),
    _r("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False, ("csr",),
       status=True),
    _r("coordination.k8s.io", "v1", "leases", "Lease", True),
    _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), status=True),
    _r("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",)),
    _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",)),
    _r("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), storage="ingress", status=True),
    _r("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
    _r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    _r("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",)),
    _r("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False),
    _r("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
       False),
    _r("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False),
    _r("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False, verbs=("create",)),
    _r("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False, verbs=("create",)),
]
# kinds whose status the API resets on create (pods start Pending; nodes keep theirs: registry/core/node/strategy.go)
RESET_STATUS_ON_CREATE = {"Pod", "Deployment", "DaemonSet", "ReplicaSet", "StatefulSet", "Job", "CronJob",
                          "CertificateSigningRequest", "Service", "PersistentVolumeClaim", "PersistentVolume",
                          "PodDisruptionBudget", "APIService", "Ingress"}
# RBAC objects may hold ':' in their names (ValidateRBACName = path segment names)
PATH_SEGMENT_KINDS = {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "CertificateSigningRequest"}


def crd_resource(crd: dict[str, Any], version: str) -> Resource:
    """The REST resource a CRD serves at one version."""
    spec = crd["spec"]
    names = spec["names"]
    status = any(v["name"] == version and (v.get("subresources") or {}).get("status") is not None
                 for v in spec.get("versions") or [])
    return Resource(spec["group"], version, names["plural"], names["kind"], spec.get("scope") == "Namespaced",
                    tuple(names.get("shortNames") or ()), storage=f"{spec['group']}/{names['plural']}", status=status,
                    crd=crd)


def crd_condition(crd: dict[str, Any], kind: str) -> bool:
    """Whether the CRD has condition kind=True."""
    return any(c.get("type") == kind and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def crd_schema(crd: dict[str, Any], version: str) -> dict[str, Any] | None:
    """The openAPIV3Schema of one version of a CRD."""
    for item in crd["spec"].get("versions") or []:
        if item["name"] == version:
            return ((item.get("schema") or {}).get("openAPIV3Schema")) or None
    return None


# ---------------------------------------------------------------- generic validation

def validate_meta(res: Resource, obj: dict[str, Any]) -> None:
    """Name format and total annotation size, as ValidateObjectMeta does for every kind."""
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    errors = []
    if res.kind == "Namespace":
        if not LABEL.match(name) or len(name) > 63:
            errors.append(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower '
                          "case alphanumeric characters or '-', and must start and end with an alphanumeric character "
                          "(e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
    elif res.kind in PATH_SEGMENT_KINDS:
        if name in (".", "..") or "/" in name or "%" in name:
            errors.append(f'metadata.name: Invalid value: "{name}": may not contain \'/\' or \'%\'')
    elif not SUBDOMAIN.match(name) or len(name) > 253:
        errors.append(f'metadata.name: Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower '
                      "case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character "
                      "(e.g. 'example.com', regex used for validation is "
                      "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
    annotations = meta.get("annotations") or {}
    if sum(len(k) + len(str(v)) for k, v in annotations.items()) > ANNOTATION_LIMIT:
        errors.append(f"metadata.annotations: Too long: must have at most {ANNOTATION_LIMIT} bytes")
    if errors:
        raise invalid(res, name, errors)


def invalid(res: Resource, name: str, errors: list[str]) -> Invalid:
    """The 422 Invalid error for a list of field errors."""
    group_kind = f"{res.kind}.{res.group}" if res.group else res.kind
    text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    return Invalid(422, "Invalid", f'{group_kind} "{name}" is invalid: {text}',
                   {"name": name, "group": res.group, "kind": res.kind,
                    "causes": [{"reason": "FieldValueInvalid", "message": e} for e in errors]})


def validate_crd(crd: dict[str, Any]) -> None:
    """The CustomResourceDefinition checks of apiextensions' validation.go the deploy could trip."""
    res = next(r for r in BUILTIN if r.kind == "CustomResourceDefinition")
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    name = (crd.get("metadata") or {}).get("name", "")
    errors = []
    if name != f"{names.get('plural')}.{spec.get('group')}":
        errors.append(f'metadata.name: Invalid value: "{name}": must be spec.names.plural+"."+spec.group')
    if not names.get("kind"):
        errors.append("spec.names.kind: Required value")
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errors.append(f'spec.scope: Unsupported value: "{spec.get("scope", "")}": supported values: "Cluster", '
                      '"Namespaced"')
    versions = spec.get("versions") or []
    if not versions:
        errors.append("spec.versions: Invalid value: null: must have exactly one version marked as storage version")
    elif sum(1 for v in versions if v.get("storage")) != 1:
        errors.append("spec.versions: Invalid value: ...: must have exactly one version marked as storage version")
    if errors:
        raise invalid(res, name, errors)


def check_schema(value: Any, schema: dict[str, Any], path: str, errors: list[str], unknown: list[str]) -> None:
    """Type/enum errors and unknown fields of value against a structural schema."""
    if value is None:
        if not schema.get("nullable"):
            errors.append(f'{path}: Invalid value: "null": {path} in body must be of type '
                          f'{schema.get("type", "object")}: "null"')
        return
    if schema.get("x-kubernetes-int-or-string"):
        if not isinstance(value, (int, str)) or isinstance(value, bool):
            errors.append(f"{path}: Invalid value: {json.dumps(value)}: {path} in body must be of type "
                          "int-or-string")
        return
    kind = schema.get("type")
    actual = json_type(value)
    if kind and not (actual == kind or (kind == "number" and actual == "integer")):
        errors.append(f'{path}: Invalid value: "{actual}": {path} in body must be of type {kind}: "{actual}"')
        return
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        errors.append(f"{path}: Unsupported value: {json.dumps(value)}: supported values: {allowed}")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in props:
                check_schema(item, props[key], sub, errors, unknown)
            elif isinstance(extra, dict):
                check_schema(item, extra, sub, errors, unknown)
            elif not (extra or schema.get("x-kubernetes-preserve-unknown-fields")
                      or (schema.get("x-kubernetes-embedded-resource") and key in ("apiVersion", "kind", "metadata"))):
                unknown.append(sub)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{path}[{i}]", errors, unknown)


def prune(value: Any, schema: dict[str, Any]) -> None:
    """Drop the fields a structural schema does not declare (apiextensions pruning)."""
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key in list(value):
            if key in props:
                prune(value[key], props[key])
            elif isinstance(extra, dict):
                prune(value[key], extra)
            elif not extra and not (schema.get("x-kubernetes-embedded-resource")
                                    and key in ("apiVersion", "kind", "metadata")):
                del value[key]
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for item in value:
            prune(item, schema["items"])


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two stored objects are equal but for managedFields timestamps (a no-op write)."""
    def strip(obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        for item in (out.get("metadata") or {}).get("managedFields") or []:
            item.pop("time", None)
        return out
    return strip(a) == strip(b)


def json_type(value: Any) -> str:
    """The OpenAPI type name of a decoded JSON value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate_custom(res: Resource, obj: dict[str, Any], strict: bool) -> None:
    """Check a custom object against its CRD's schema (strict: unknown fields are an error, like kubectl's default)."""
    assert res.crd is not None
    schema = crd_schema(res.crd, res.version)
    if not schema:
        return
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    top = {**schema, "properties": {k: v for k, v in (schema.get("properties") or {}).items()
                                    if k not in ("apiVersion", "kind", "metadata")}}
    errors: list[str] = []
    unknown: list[str] = []
    check_schema(body, top, "", errors, unknown)
    name = (obj.get("metadata") or {}).get("name", "")
    if unknown and not strict:  # structural pruning drops unknown fields (the server's Warn/Ignore validation)
        for key in [k for k in obj if k not in ("apiVersion", "kind", "metadata")]:
            if key in top["properties"]:
                prune(obj[key], top["properties"][key])
            elif not top.get("x-kubernetes-preserve-unknown-fields"):
                del obj[key]
    if unknown and strict:
        fields = ", ".join(f'unknown field "{u}"' for u in unknown)
        raise Invalid(400, "BadRequest", f'{res.kind} in version "{res.version}" cannot be handled as a {res.kind}: '
                                         f"strict decoding error: {fields}")
    if errors:
        raise invalid(res, name, errors)


# ---------------------------------------------------------------- patches

def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A strategic merge patch, approximated: maps merge, lists of named items merge by name, others replace."""
    if not isinstance(patch, dict):
        if isinstance(patch, list) and isinstance(target, list) and patch and _named(patch) and _named(target):
            merged = {item["name"]: item for item in target}
            for item in patch:
                merged[item["name"]] = strategic_merge_patch(merged.get(item["name"]), item)
            return list(merged.values())
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _named(items: list[Any]) -> bool:
    return all(isinstance(i, dict) and "name" in i for i in items)


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 JSON patch (add, remove, replace, test, copy, move)."""
    doc = copy.deepcopy(target)
    for op in ops:
        kind, path = op.get("op"), op.get("path", "")
        if kind == "test":
            if _pointer_get(doc, path) != op.get("value"):
                raise Invalid(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                              f"testing value {path} failed")
            continue
        if kind in ("copy", "move"):
            value = copy.deepcopy(_pointer_get(doc, op["from"]))
            if kind == "move":
                doc = _pointer_set(doc, op["from"], None, remove=True)
            doc = _pointer_set(doc, path, value, add=True)
        elif kind in ("add", "replace"):
            doc = _pointer_set(doc, path, copy.deepcopy(op.get("value")), add=kind == "add")
        elif kind == "remove":
            doc = _pointer_set(doc, path, None, remove=True)
        else:
            raise Invalid(400, "BadRequest", f"Unexpected kind: {kind}")
    return doc


def _tokens(path: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]] if path else []


def _pointer_get(doc: Any, path: str) -> Any:
    for token in _tokens(path):
        try:
            doc = doc[int(token)] if isinstance(doc, list) else doc[token]
        except (KeyError, IndexError, ValueError, TypeError):
            raise Invalid(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                          f"doc is missing path: \"{path}\"") from None
    return doc


def _pointer_set(doc: Any, path: str, value: Any, add: bool = False, remove: bool = False) -> Any:
    tokens = _tokens(path)
    if not tokens:
        return value
    parent = _pointer_get(doc, "/" + "/".join(t.replace("~", "~0").replace("/", "~1") for t in tokens[:-1]))
    last = tokens[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if remove:
            parent.pop(index)
        elif add:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        if remove or not add:
            if last not in parent:
                raise Invalid(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                              f"doc is missing key: {path}")
        if remove:
            del parent[last]
        else:
            parent[last] = value
    return doc


# ---------------------------------------------------------------- managed fields and server-side apply

Path = tuple[str, ...]


def leaves(obj: Any, prefix: Path = ()) -> set[Path]:
    """The field paths an object sets (lists are atomic), minus the fields the server owns."""
    out: set[Path] = set()
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            if not prefix and key in ("apiVersion", "kind"):
                continue
            if prefix == ("metadata",) and key in SYSTEM_META:
                continue
            out |= leaves(value, prefix + (key,))
    elif prefix:
        out.add(prefix)
    return out


def encode_fields(paths: Iterable[Path]) -> dict[str, Any]:
    """A FieldsV1 tree ("f:" keys) of paths."""
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def decode_fields(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    """The leaf paths of a FieldsV1 tree."""
    out: set[Path] = set()
    for key, sub in (tree or {}).items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        children = decode_fields(sub, path)
        out |= children or {path}
    return out


_MISSING = object()


def get_path(obj: Any, path: Path) -> Any:
    """The value at path, or a sentinel when absent."""
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def remove_path(obj: dict[str, Any], path: Path) -> None:
    """Delete the field at path (and maps it leaves empty)."""
    chain = [obj]
    for part in path[:-1]:
        nxt = chain[-1].get(part)
        if not isinstance(nxt, dict):
            return
        chain.append(nxt)
    chain[-1].pop(path[-1], None)
    for depth in range(len(chain) - 1, 0, -1):
        if not chain[depth]:
            chain[depth - 1].pop(path[depth - 1], None)


def overlaps(a: Path, b: Path) -> bool:
    """Whether one path contains the other."""
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def deep_merge(live: Any, cfg: Any) -> Any:
    """Apply cfg over live: maps merge recursively, everything else (lists too) is replaced."""
    if isinstance(live, dict) and isinstance(cfg, dict):
        out = dict(live)
        for key, value in cfg.items():
            out[key] = deep_merge(live.get(key), value)
        return out
    return copy.deepcopy(cfg)


def entry(manager: str, operation: str, api_version: str, paths: set[Path], when: str) -> dict[str, Any]:
    """One metadata.managedFields entry."""
    return {"manager": manager, "operation": operation, "apiVersion": api_version, "time": when,
            "fieldsType": "FieldsV1", "fieldsV1": encode_fields(paths)}


def record_update(old: dict[str, Any] | None, new: dict[str, Any], manager: str, api_version: str,
                  when: str) -> None:
    """Give manager (operation Update) the fields this write changed, taking them from other managers."""
    entries = [] if old is None else copy.deepcopy((old.get("metadata") or {}).get("managedFields") or [])
    before = leaves(old or {})
    after = leaves(new)
    changed = {p for p in after if old is None or p not in before or get_path(old, p) != get_path(new, p)}
    result = []
    mine: set[Path] = set()
    for item in entries:
        owned = {p for p in decode_fields(item.get("fieldsV1") or {}) if p in after}
        if item.get("manager") == manager and item.get("operation") == "Update":
            mine |= owned
            continue
        owned = {p for p in owned if not any(overlaps(p, c) for c in changed)}
        if owned:
            result.append({**item, "fieldsV1": encode_fields(owned)})
    mine |= changed
    if mine:
        result.append(entry(manager, "Update", api_version, mine, when))
    new.setdefault("metadata", {})["managedFields"] = result


def server_side_apply(live: dict[str, Any] | None, cfg: dict[str, Any], manager: str, force: bool,
                      api_version: str, when: str) -> dict[str, Any]:
    """The object after applying cfg as manager; Invalid(409) on conflicts unless force."""
    applied = leaves(cfg)
    if live is None:
        obj = copy.deepcopy(cfg)
        obj.setdefault("metadata", {})["managedFields"] = [entry(manager, "Apply", api_version, applied, when)]
        return obj
    entries = copy.deepcopy((live.get("metadata") or {}).get("managedFields") or [])
    conflicts: list[tuple[str, str, Path]] = []
    previous: set[Path] = set()
    others: list[tuple[dict[str, Any], set[Path]]] = []
    merged = deep_merge(live, cfg)
    for item in entries:
        owned = decode_fields(item.get("fieldsV1") or {})
        if item.get("manager") == manager and item.get("operation") == "Apply":
            previous = owned
            continue
        others.append((item, owned))
        for theirs in owned:
            if any(overlaps(path, theirs) for path in applied) and get_path(live, theirs) != get_path(merged, theirs):
                conflicts.append((item["manager"], item.get("apiVersion", api_version), theirs))
    if conflicts and not force:
        raise conflict_error(conflicts)
    owned_by_others = set().union(*(o for _, o in others)) if others else set()
    for path in previous - applied:
        if not any(overlaps(path, o) for o in owned_by_others):
            remove_path(merged, path)
    lost = {c[2] for c in conflicts}
    result = []
    for item, owned in others:
        keep = {p for p in owned if p not in lost and get_path(merged, p) is not _MISSING}
        if keep:
            result.append({**item, "fieldsV1": encode_fields(keep)})
    result.append(entry(manager, "Apply", api_version, applied, when))
    merged.setdefault("metadata", {})["managedFields"] = result
    return merged


def conflict_error(conflicts: list[tuple[str, str, Path]]) -> Invalid:
    """The 409 Conflict server-side apply answers (fieldmanager/internal/conflict.go wording)."""
    unique = sorted(set(conflicts))
    fmt = [f".{'.'.join(p)}" for _, _, p in unique]
    if len(unique) == 1:
        mgr, ver, _ = unique[0]
        text = f'Apply failed with 1 conflict: conflict with "{mgr}" using {ver}: {fmt[0]}'
    else:
        by_mgr: dict[tuple[str, str], list[str]] = {}
        for (mgr, ver, _), path in zip(unique, fmt):
            by_mgr.setdefault((mgr, ver), []).append(path)
        parts = [f'conflicts with "{m}" using {v}:\n' + "\n".join(f"- {p}" for p in paths)
                 for (m, v), paths in by_mgr.items()]
        text = f"Apply failed with {len(unique)} conflicts: " + "\n".join(parts)
    return Invalid(409, "Conflict", text,
                   {"causes": [{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": p}
                               for (m, _, _), p in zip(unique, fmt)]})


# ---------------------------------------------------------------- selectors

def match_labels(labels: dict[str, str], selector: str) -> bool:
    """Whether labels satisfy a label selector string (=, ==, !=, in, notin, exists, !exists)."""
    for term in split_selector(selector):
        term = term.strip()
        if not term:
            continue
        m = re.fullmatch(r"([^\s!=]+)\s+(in|notin)\s+\((.*)\)", term)
        if m:
            values = {v.strip() for v in m.group(3).split(",")}
            has = labels.get(m.group(1)) in values
            if has != (m.group(2) == "in"):
                return False
        elif "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def split_selector(selector: str) -> list[str]:
    """Split a selector on commas outside parentheses."""
    out, depth, cur = [], 0, ""
    for ch in selector:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


def match_fields(obj: dict[str, Any], selector: str) -> bool:
    """Whether obj satisfies a field selector (metadata.name, metadata.namespace, spec.nodeName, status.phase...)."""
    for term in split_selector(selector):
        if not term.strip():
            continue
        neg = "!=" in term
        key, value = (term.split("!=", 1) if neg else term.replace("==", "=").split("=", 1))
        actual = get_path(obj, tuple(key.strip().split(".")))
        actual_s = "" if actual is _MISSING or actual is None else str(actual)
        if (actual_s == value.strip()) == neg:
            return False
    return True
