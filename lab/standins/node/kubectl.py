#!/usr/bin/python3
"""TEST DOUBLE of kubectl for the lab (not Kubernetes).

Talks to the (stand-in) API server like kubectl does: the kubeconfig's credentials, aggregated
discovery to map kinds and names to resources (a kind whose CRD is not Established is "no matches
for kind"), client-side apply with the last-applied annotation (so the API's 256 KiB annotation
limit bites as it does upstream), server-side apply, create, get (table, json, yaml, name,
jsonpath), delete, wait (a missing object fails at once unless --for=delete), patch, label,
cordon/uncordon/drain. Messages copy kubectl's (kubernetes/kubernetes staging/src/k8s.io/kubectl,
v1.37). Every call is logged to /var/log/k8s-standin.log.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
from standin import ApiError, Fail  # noqa: E402

import yaml  # noqa: E402

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io", "apiextensions.k8s.io",
                  "apiregistration.k8s.io", "certificates.k8s.io", "coordination.k8s.io", "scheduling.k8s.io",
                  "networking.k8s.io", "discovery.k8s.io", "storage.k8s.io", "admissionregistration.k8s.io",
                  "authorization.k8s.io", "node.k8s.io", "events.k8s.io"}
DISCOVERY_ACCEPT = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
S, B, L = "str", "bool", "list"
FLAGS = {
    "kubeconfig": S, "namespace": S, "all-namespaces": B, "output": S, "selector": S, "filename": L,
    "server-side": B, "force-conflicts": B, "field-manager": S, "for": S, "timeout": S, "ignore-not-found": B,
    "dry-run": S, "validate": S, "client": B, "request-timeout": S, "v": S, "ignore-daemonsets": B,
    "delete-emptydir-data": B, "force": B, "grace-period": S, "wait": B, "all": B, "overwrite": B,
    "field-selector": S, "show-labels": B, "no-headers": B, "recursive": B, "type": S, "patch": S, "context": S,
    "disable-eviction": B, "cascade": S, "subresource": S,
    # --server/-s overrides the kubeconfig cluster's server (k8s.io/cli-runtime pkg/genericclioptions/config_flags.go,
    # flagAPIServer "server", shorthand "s"); the kubeconfig's CA and credentials stay.
    "server": S,
}
SHORT = {"n": "namespace", "o": "output", "A": "all-namespaces", "l": "selector", "f": "filename", "R": "recursive",
         "v": "v", "p": "patch", "s": "server"}


# ---------------------------------------------------------------- command line

def parse(argv: list[str]) -> tuple[dict[str, Any], list[str]]:
    """kubectl's flags (long, short, -oVALUE forms) and positional arguments."""
    expanded: list[str] = []
    for item in argv:
        m = re.fullmatch(r"-([a-zA-Z])(=?)(.*)", item)
        if m and m.group(1) in SHORT:
            name = SHORT[m.group(1)]
            expanded.append(f"--{name}" + (f"={m.group(3)}" if m.group(3) else ""))
        else:
            expanded.append(item)
    return standin.parse_flags(expanded, FLAGS)


def kubeconfig_path(opts: dict[str, Any]) -> Path:
    """--kubeconfig, $KUBECONFIG or ~/.kube/config, as kubectl resolves it."""
    if opts.get("kubeconfig"):
        return Path(opts["kubeconfig"])
    env = os.environ.get("KUBECONFIG")
    return Path(env.split(":")[0]) if env else Path.home() / ".kube/config"


def duration(value: str | None, default: float) -> float:
    """A Go duration (30s, 2m, 1h5m, 0 = forever) in seconds."""
    if not value:
        return default
    if value.isdigit():
        return float(value) or 10 ** 9
    total = 0.0
    for num, unit in re.findall(r"([\d.]+)(ms|s|m|h)", value):
        total += float(num) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total or 10 ** 9


# ---------------------------------------------------------------- discovery

class Mapper:
    """Resource names and kinds from aggregated discovery (/api and /apis)."""

    def __init__(self, kube: standin.Kube) -> None:
        self.resources: list[dict[str, Any]] = []
        for path in ("/api", "/apis"):
            doc = kube.request("GET", path, accept=DISCOVERY_ACCEPT)
            for group in doc.get("items") or []:
                for rank, ver in enumerate(group.get("versions") or []):
                    for res in ver.get("resources") or []:
                        kind = res["responseKind"]
                        self.resources.append({
                            "group": kind.get("group", ""), "version": ver["version"], "plural": res["resource"],
                            "singular": res.get("singularResource") or kind["kind"].lower(), "kind": kind["kind"],
                            "namespaced": res.get("scope") == "Namespaced", "short": res.get("shortNames") or [],
                            "preferred": rank == 0})

    def by_name(self, text: str) -> dict[str, Any]:
        """The resource a command-line type names (plural, singular, kind, short name; optional .version.group)."""
        name, _, rest = text.partition(".")
        name = name.lower()
        for preferred_only in (True, False):
            for res in self.resources:
                if preferred_only and not res["preferred"]:
                    continue
                if name not in (res["plural"], res["singular"], res["kind"].lower(), *res["short"]):
                    continue
                if rest and rest not in (res["group"], f"{res['version']}.{res['group']}".rstrip(".")):
                    continue
                return res
        raise Fail(f'the server doesn\'t have a resource type "{text.split(".")[0]}"')

    def by_kind(self, api_version: str, kind: str, name: str, ns: str, source: str) -> dict[str, Any]:
        """The resource of a manifest object; kubectl's "no matches for kind" otherwise."""
        group, _, version = api_version.rpartition("/")
        for res in self.resources:
            if res["group"] == group and res["version"] == version and res["kind"] == kind:
                return res
        raise Fail(f'resource mapping not found for name: "{name}" namespace: "{ns}" from "{source}": no matches for '
                   f'kind "{kind}" in version "{api_version}"\nensure CRDs are installed first')


def path_of(res: dict[str, Any], ns: str | None, name: str | None = None, sub: str | None = None) -> str:
    """REST path of a resource."""
    return standin.api_path(res["group"], res["version"], res["plural"], ns if res["namespaced"] else None, name, sub)


def ref(res: dict[str, Any], name: str) -> str:
    """kind.group/name as kubectl prints it."""
    return f"{res['kind'].lower()}{'.' + res['group'] if res['group'] else ''}/{name}"


def server_error(exc: ApiError, action: str = "", source: str = "") -> Fail:
    """`Error from server (Reason): ...` as kubectl prints API errors."""
    reason = exc.reason or {401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}.get(exc.code, "")
    where = f'error when {action} "{source}": ' if action else ""
    if exc.code == 401:
        return Fail("error: You must be logged in to the server (Unauthorized)")
    return Fail(f"Error from server ({reason}): {where}{exc}")


# ---------------------------------------------------------------- manifests

def read_objects(files: list[str], recursive: bool = False) -> list[tuple[dict[str, Any], str]]:
    """(object, source) for every object of -f files, directories, URLs or stdin; List kinds flattened."""
    out: list[tuple[dict[str, Any], str]] = []
    for name in files:
        if name.startswith(("http://", "https://")):
            out.extend((o, name) for o in parse_docs(fetch(name), name))
            continue
        path = Path(name)
        if name == "-":
            out.extend((o, name) for o in parse_docs(sys.stdin.read(), name))
            continue
        if not path.exists():
            raise Fail(f'the path "{name}" does not exist')
        paths = sorted(p for p in (path.rglob("*") if recursive else path.glob("*"))
                       if p.suffix in (".yaml", ".yml", ".json")) if path.is_dir() else [path]
        for item in paths:
            out.extend((o, str(item)) for o in parse_docs(item.read_text(), str(item)))
    if not out:
        raise Fail("no objects passed to apply")
    return out


def fetch(url: str) -> str:
    """Read a manifest from a URL, as kubectl -f URL does."""
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read().decode()
    except OSError as exc:
        raise Fail(f'unable to read URL "{url}", server reported {exc}') from None


def parse_docs(text: str, source: str) -> list[dict[str, Any]]:
    """Objects of one manifest (multi-document YAML or JSON)."""
    try:
        docs = list(yaml.load_all(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        raise Fail(f"error parsing {source}: {exc}") from None
    objects = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            missing = [f for f in ("apiVersion", "kind") if not isinstance(doc, dict) or f not in doc]
            raise Fail(f'error validating "{source}": error validating data: ['
                       + ", ".join(f"{f} not set" for f in missing) + "]; if you choose to ignore these errors, turn "
                       "validation off with --validate=false")
        if doc["kind"].endswith("List") and isinstance(doc.get("items"), list):
            objects.extend(doc["items"])
        else:
            objects.append(doc)
    return objects


def target_ns(res: dict[str, Any], obj: dict[str, Any], opts: dict[str, Any], kube: standin.Kube) -> str | None:
    """The namespace an object goes to (its own, -n, or the kubeconfig's), None for cluster-scoped kinds."""
    if not res["namespaced"]:
        return None
    meta = obj.setdefault("metadata", {})
    flag = opts.get("namespace")
    if flag and meta.get("namespace") and meta["namespace"] != flag:
        raise Fail(f'the namespace from the provided object "{meta["namespace"]}" does not match the namespace '
                   f'"{flag}". You must pass \'--namespace={meta["namespace"]}\' to perform this operation.')
    meta["namespace"] = meta.get("namespace") or flag or kube.namespace
    return meta["namespace"]


def three_way(original: Any, modified: Any, current: Any) -> Any:
    """A merge patch from the last-applied config, the new config and the live object (kubectl apply)."""
    if not isinstance(modified, dict):
        return None if modified == current else modified
    patch: dict[str, Any] = {}
    original = original if isinstance(original, dict) else {}
    current = current if isinstance(current, dict) else {}
    for key, value in modified.items():
        if isinstance(value, dict) and isinstance(current.get(key), dict):
            sub = three_way(original.get(key), value, current[key])
            if sub:
                patch[key] = sub
        elif current.get(key) != value:
            patch[key] = value
    for key in original:
        if key not in modified and key in current:
            patch[key] = None
    return patch


def cmd_apply(opts: dict[str, Any], kube: standin.Kube, create_only: bool = False) -> int:
    """apply -f (client-side or --server-side) and create -f."""
    mapper = Mapper(kube)
    failed = []
    dry = "&dryRun=All" if opts.get("dry-run") == "server" else ""
    validation = "Ignore" if opts.get("validate") in ("false", "ignore") else "Strict"
    for obj, source in read_objects(opts.get("filename") or [], opts.get("recursive", False)):
        meta = obj.get("metadata") or {}
        name = meta.get("name") or ""
        try:
            res = mapper.by_kind(obj["apiVersion"], obj["kind"], name, meta.get("namespace") or "", source)
            ns = target_ns(res, obj, opts, kube)
            if create_only:
                kube.request("POST", path_of(res, ns) + f"?fieldManager=kubectl-create&fieldValidation={validation}"
                             + dry, obj)
                print(f"{ref(res, name)} created")
            elif opts.get("server-side"):
                manager = opts.get("field-manager") or "kubectl"
                force = "true" if opts.get("force-conflicts") else "false"
                query = f"?fieldManager={urllib.parse.quote(manager)}&force={force}&fieldValidation={validation}"
                kube.request("PATCH", path_of(res, ns, name) + query + dry, json.dumps(obj).encode(),
                             content_type="application/apply-patch+yaml")
                print(f"{ref(res, name)} serverside-applied")
            else:
                print(f"{ref(res, name)} {client_side_apply(kube, res, ns, obj, validation, dry, source)}")
        except ApiError as exc:
            if exc.code == 409 and exc.reason == "Conflict" and opts.get("server-side"):
                failed.append(f"error: {exc}\nPlease review the fields above--they currently have other managers. "
                              "Here\nare the ways you can resolve this warning:\n* If you intend to manage all of "
                              "these fields, please re-run the apply\n  command with the `--force-conflicts` flag.")
            else:
                failed.append(str(server_error(exc, "creating" if create_only else "applying patch", source)))
        except Fail as exc:
            failed.append(str(exc) if str(exc).startswith("error") else f"error: {exc}")
    if failed:
        raise Fail("\n".join(failed))
    return 0


def client_side_apply(kube: standin.Kube, res: dict[str, Any], ns: str | None, obj: dict[str, Any],
                      validation: str, dry: str, source: str) -> str:
    """kubectl apply without --server-side: create with the last-applied annotation, or a three-way patch."""
    name = obj["metadata"]["name"]
    config = json.loads(json.dumps(obj))
    config["metadata"].get("annotations", {}).pop(LAST_APPLIED, None)
    if not config["metadata"].get("annotations"):
        config["metadata"].pop("annotations", None)
    modified = json.loads(json.dumps(obj))
    modified["metadata"].setdefault("annotations", {})[LAST_APPLIED] = json.dumps(config, separators=(",", ":")) + "\n"
    live = kube.get(path_of(res, ns, name))
    query = f"?fieldManager=kubectl-client-side-apply&fieldValidation={validation}" + dry
    if live is None:
        try:
            kube.request("POST", path_of(res, ns) + query, modified)
        except ApiError as exc:
            raise server_error(exc, "creating", source) from None
        return "created"
    try:
        original = json.loads(((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED) or "{}")
    except ValueError:
        original = {}
    patch = three_way(original, modified, live)
    if not patch:
        return "unchanged"
    ctype = "application/merge-patch+json" if "." in res["group"] and not res["group"].endswith(".k8s.io") \
        or res["group"] == "apiextensions.k8s.io" else "application/strategic-merge-patch+json"
    kube.request("PATCH", path_of(res, ns, name) + query, json.dumps(patch).encode(), content_type=ctype)
    return "configured"


# ---------------------------------------------------------------- get

def targets(args: list[str], mapper: Mapper) -> list[tuple[dict[str, Any], list[str]]]:
    """(resource, names) from `TYPE NAME...`, `TYPE/NAME...` or `TYPE1,TYPE2`."""
    if not args:
        raise Fail("You must specify the type of resource to get. Use \"kubectl api-resources\" for a complete list "
                   "of supported resources.")
    if all("/" in a for a in args):
        out: list[tuple[dict[str, Any], list[str]]] = []
        for item in args:
            kind, _, name = item.partition("/")
            out.append((mapper.by_name(kind), [name]))
        return out
    return [(mapper.by_name(t), args[1:]) for t in args[0].split(",")]


def fetch_objects(kube: standin.Kube, res: dict[str, Any], names: list[str], opts: dict[str, Any]
                  ) -> list[dict[str, Any]]:
    """The named objects, or the list (label/field selectors, one or all namespaces)."""
    ns = None if opts.get("all-namespaces") else (opts.get("namespace") or kube.namespace)
    if names:
        out = []
        for name in names:
            try:
                out.append(kube.request("GET", path_of(res, ns, name)))
            except ApiError as exc:
                if exc.code == 404 and opts.get("ignore-not-found"):
                    continue
                raise server_error(exc) from None
        return out
    query = {k: opts[f] for k, f in (("labelSelector", "selector"), ("fieldSelector", "field-selector")) if opts.get(f)}
    path = path_of(res, ns) + ("?" + urllib.parse.urlencode(query) if query else "")
    try:
        items = kube.request("GET", path)["items"]
    except ApiError as exc:
        raise server_error(exc) from None
    for item in items:
        item.setdefault("apiVersion", f"{res['group']}/{res['version']}" if res["group"] else res["version"])
        item.setdefault("kind", res["kind"])
    return items


def age(obj: dict[str, Any]) -> str:
    """kubectl's short age of an object (45s, 12m, 3h, 2d)."""
    return since((obj.get("metadata") or {}).get("creationTimestamp"))


def since(stamp: str | None) -> str:
    """kubectl's short age of a timestamp."""
    if not stamp:
        return "<unknown>"
    secs = int(max(0, time.time() - standin.parse_rfc3339(stamp)))
    if secs < 120:
        return f"{secs}s"
    if secs < 3 * 3600:
        return f"{secs // 60}m"
    if secs < 2 * 86400:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def columns(res: dict[str, Any], obj: dict[str, Any], wide: bool) -> list[tuple[str, str]]:
    """(header, value) pairs of kubectl's default table for a kind."""
    meta, status, spec = obj.get("metadata") or {}, obj.get("status") or {}, obj.get("spec") or {}
    kind = res["kind"]
    if kind == "Node":
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        state = "Ready" if ready.get("status") == "True" else "NotReady"
        if spec.get("unschedulable"):
            state += ",SchedulingDisabled"
        roles = ",".join(sorted(k.split("/", 1)[1] for k in meta.get("labels") or {}
                                if k.startswith("node-role.kubernetes.io/"))) or "<none>"
        info = status.get("nodeInfo") or {}
        cols = [("STATUS", state), ("ROLES", roles), ("AGE", age(obj)), ("VERSION", info.get("kubeletVersion", ""))]
        if wide:
            addr = {a["type"]: a["address"] for a in status.get("addresses") or []}
            cols += [("INTERNAL-IP", addr.get("InternalIP", "<none>")), ("EXTERNAL-IP", addr.get("ExternalIP", "<none>")),
                     ("OS-IMAGE", info.get("osImage", "")), ("KERNEL-VERSION", info.get("kernelVersion", "")),
                     ("CONTAINER-RUNTIME", info.get("containerRuntimeVersion", ""))]
        return cols
    if kind == "Pod":
        statuses = status.get("containerStatuses") or []
        total = len(spec.get("containers") or [])
        ready = sum(1 for c in statuses if c.get("ready"))
        restarts = sum(int(c.get("restartCount", 0)) for c in statuses)
        waiting = next((c["state"]["waiting"].get("reason") for c in statuses
                        if (c.get("state") or {}).get("waiting", {}).get("reason")), None)
        cols = [("READY", f"{ready}/{total}"), ("STATUS", waiting or status.get("phase", "Pending")),
                ("RESTARTS", str(restarts)), ("AGE", age(obj))]
        if wide:
            cols += [("IP", status.get("podIP", "<none>")), ("NODE", spec.get("nodeName", "<none>"))]
        return cols
    if kind == "Namespace":
        return [("STATUS", status.get("phase", "")), ("AGE", age(obj))]
    if kind == "CustomResourceDefinition":
        return [("CREATED AT", meta.get("creationTimestamp", ""))]
    if kind == "Deployment":
        want = spec.get("replicas", 1)
        return [("READY", f"{status.get('readyReplicas', 0)}/{want}"), ("UP-TO-DATE", str(status.get("updatedReplicas", 0))),
                ("AVAILABLE", str(status.get("availableReplicas", 0))), ("AGE", age(obj))]
    if kind == "DaemonSet":
        return [("DESIRED", str(status.get("desiredNumberScheduled", 0))),
                ("CURRENT", str(status.get("currentNumberScheduled", 0))),
                ("READY", str(status.get("numberReady", 0))), ("AGE", age(obj))]
    if kind == "CertificateSigningRequest":
        conds = [c.get("type", "") for c in status.get("conditions") or []]
        issued = ",Issued" if status.get("certificate") else ""
        return [("AGE", age(obj)), ("SIGNERNAME", spec.get("signerName", "")), ("REQUESTOR", spec.get("username", "")),
                ("REQUESTEDDURATION", "<none>"), ("CONDITION", (",".join(conds) or "Pending") + issued)]
    if res.get("printer"):
        cols = []
        for col in res["printer"]:
            if col.get("priority", 0) and not wide:
                continue
            values = _eval(col["jsonPath"], obj)
            if col.get("type") == "date":
                values = [since(str(v)) for v in values[:1]]
            cols.append((col["name"].upper(), ",".join(str(v) for v in values) if values else "<none>"))
        return cols  # with additionalPrinterColumns there is no implicit AGE column (apiextensions tableconvertor)
    return [("AGE", age(obj))]


def printer_columns(kube: standin.Kube, res: dict[str, Any]) -> None:
    """A custom resource's additionalPrinterColumns (what the server's Table for it shows)."""
    if res["group"] in BUILTIN_GROUPS or "printer" in res:
        return
    crd = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{res['plural']}.{res['group']}")
    version = next((v for v in (crd or {}).get("spec", {}).get("versions") or [] if v["name"] == res["version"]), {})
    res["printer"] = version.get("additionalPrinterColumns") or []


def print_table(res: dict[str, Any], items: list[dict[str, Any]], opts: dict[str, Any]) -> None:
    """kubectl's default (or -o wide) table."""
    wide = opts.get("output") == "wide"
    rows = []
    for obj in items:
        cols = [("NAME", obj["metadata"]["name"]), *columns(res, obj, wide)]
        if opts.get("all-namespaces") and res["namespaced"]:
            cols.insert(0, ("NAMESPACE", obj["metadata"].get("namespace", "")))
        if opts.get("show-labels"):
            cols.append(("LABELS", ",".join(f"{k}={v}" for k, v in sorted((obj["metadata"].get("labels") or {})
                                                                           .items())) or "<none>"))
        rows.append(cols)
    header = [h for h, _ in rows[0]]
    table = ([] if opts.get("no-headers") else [header]) + [[v for _, v in r] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        print("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())


def render(res_items: list[tuple[dict[str, Any], list[dict[str, Any]]]], opts: dict[str, Any], single: bool) -> None:
    """Print objects in the -o format."""
    output = opts.get("output") or ""
    items = [o for _, objs in res_items for o in objs]
    doc: Any = items[0] if single and len(items) == 1 else {"apiVersion": "v1", "items": items, "kind": "List",
                                                            "metadata": {"resourceVersion": ""}}
    if output == "json":
        print(json.dumps(doc, indent=4))
    elif output == "yaml":
        print(yaml.safe_dump(doc, sort_keys=True), end="")
    elif output == "name":
        for res, objs in res_items:
            for obj in objs:
                print(ref(res, obj["metadata"]["name"]))
    elif output.startswith("jsonpath="):
        print(jsonpath(output[len("jsonpath="):].strip("'"), doc), end="")
    elif output in ("", "wide"):
        for res, objs in res_items:
            if objs:
                print_table(res, objs, opts)
    else:
        raise Fail(f'unable to match a printer suitable for the output format "{output}", allowed formats are: '
                   "custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,jsonpath-as-json,"
                   "jsonpath-file,name,template,templatefile,wide,yaml")


def cmd_get(opts: dict[str, Any], kube: standin.Kube, args: list[str]) -> int:
    """get TYPE [NAME...] | TYPE/NAME..."""
    mapper = Mapper(kube)
    found = [(res, fetch_objects(kube, res, names, opts)) for res, names in targets(args, mapper)]
    if opts.get("output") in (None, "", "wide"):
        for res, _ in found:
            printer_columns(kube, res)
    single = len(found) == 1 and len(args) >= 2 and len(found[0][1]) == 1 or (len(args) == 1 and "/" in args[0])
    if not any(objs for _, objs in found):
        if not any(names for _, names in targets(args, mapper)) and opts.get("output") in (None, "", "wide"):
            ns = opts.get("namespace") or kube.namespace
            scoped = found[0][0]["namespaced"] and not opts.get("all-namespaces")
            print(f"No resources found in {ns} namespace." if scoped else "No resources found", file=sys.stderr)
            return 0
        if opts.get("output") in ("json", "yaml") and not single:
            render(found, opts, False)
        return 0
    render(found, opts, single)
    return 0


# ---------------------------------------------------------------- jsonpath (the subset kubectl users write)

def jsonpath(template: str, data: Any) -> str:
    """Evaluate a kubectl JSONPath template: {.a.b}, [n], [*], [?(@.k=="v")], {range}...{end}, literals."""
    tokens = re.findall(r"\{[^{}]*\}|[^{}]+", template)
    out, _ = _run_tokens(tokens, 0, data)
    return out


def _run_tokens(tokens: list[str], i: int, data: Any) -> tuple[str, int]:
    out = ""
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("{"):
            out += tok
            i += 1
            continue
        expr = tok[1:-1].strip()
        if expr.startswith("range "):
            values = _eval(expr[6:].strip(), data)
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                inner = tokens[j][1:-1].strip() if tokens[j].startswith("{") else ""
                depth += inner.startswith("range ")
                depth -= inner == "end"
                j += 1
            for value in values:
                part, _ = _run_tokens(tokens[i + 1:j - 1], 0, value)
                out += part
            i = j
            continue
        if expr.startswith('"') and expr.endswith('"'):
            out += json.loads(expr)
        else:
            values = _eval(expr, data)
            out += " ".join(v if isinstance(v, str) else json.dumps(v) for v in values)
        i += 1
    return out, i


def _eval(expr: str, data: Any) -> list[Any]:
    """The values a JSONPath expression selects."""
    if expr in ("", "@", "$"):
        return [data]
    steps = re.findall(r"\.\.?[^.\[]+|\[[^\]]*\]", expr.lstrip("$@"))
    current = [data]
    for step in steps:
        nxt: list[Any] = []
        for value in current:
            if step.startswith("["):
                inner = step[1:-1]
                if isinstance(value, list):
                    if inner == "*":
                        nxt.extend(value)
                    elif inner.startswith("?("):
                        m = re.fullmatch(r"\?\(@\.([\w.\-/]+)\s*==\s*['\"]?(.*?)['\"]?\)", inner)
                        for item in value if m else []:
                            found = _eval("." + m.group(1), item)
                            if found and str(found[0]) == m.group(2):
                                nxt.append(item)
                    elif re.fullmatch(r"-?\d+", inner):
                        idx = int(inner)
                        if -len(value) <= idx < len(value):
                            nxt.append(value[idx])
                elif isinstance(value, dict) and inner in ("*",):
                    nxt.extend(value.values())
                elif isinstance(value, dict) and inner.strip("'\"") in value:
                    nxt.append(value[inner.strip("'\"")])
            elif step.startswith(".."):
                nxt.extend(_descend(value, step[2:]))
            else:
                key = step[1:]
                if key == "*" and isinstance(value, dict):
                    nxt.extend(value.values())
                elif isinstance(value, dict) and key in value:
                    nxt.append(value[key])
        current = nxt
    return current


def _descend(value: Any, key: str) -> list[Any]:
    out = []
    if isinstance(value, dict):
        if key in value:
            out.append(value[key])
        for v in value.values():
            out.extend(_descend(v, key))
    elif isinstance(value, list):
        for v in value:
            out.extend(_descend(v, key))
    return out


# ---------------------------------------------------------------- wait

def condition_met(obj: dict[str, Any], cond: str, want: str) -> bool:
    """Whether obj has status condition cond with status want (case-insensitive type, as kubectl compares)."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if str(c.get("type", "")).lower() == cond.lower():
            return str(c.get("status", "")).lower() == want.lower()
    return False


def cmd_wait(opts: dict[str, Any], kube: standin.Kube, args: list[str]) -> int:
    """wait --for=condition=X[=v] | --for=delete | --for=jsonpath={..}=v | --for=create TYPE/NAME..."""
    spec = opts.get("for") or ""
    if not spec:
        raise Fail("--for must be specified")
    mode, _, rest = spec.partition("=")
    mode = mode.lower()
    if mode not in ("condition", "delete", "jsonpath", "create"):
        raise Fail(f'unrecognized condition: "{spec}"')
    timeout = duration(opts.get("timeout"), 30)
    deadline = time.time() + timeout
    mapper = Mapper(kube)
    pairs = targets(args, mapper) if args else []
    objs: list[tuple[dict[str, Any], str]] = []
    for res, names in pairs:
        if not names and (opts.get("all") or opts.get("selector")):
            names = [o["metadata"]["name"] for o in fetch_objects(kube, res, [], opts)]
            if not names:
                raise Fail("no matching resources found")
        objs.extend((res, n) for n in names)
    if not objs:
        raise Fail("resource(s) were provided, but no name was specified")
    ns = opts.get("namespace") or kube.namespace
    for res, name in objs:
        shown = f"{res['kind'].lower()}{'.' + res['group'] if res['group'] else ''}/{name}"
        while True:
            try:
                obj = kube.request("GET", path_of(res, ns, name))
            except ApiError as exc:
                if exc.code != 404:
                    raise server_error(exc) from None
                if mode == "delete":
                    print(f"{shown} condition met")
                    break
                if mode != "create":
                    raise Fail(f'Error from server (NotFound): {res["plural"]}'
                               f'{"." + res["group"] if res["group"] else ""} "{name}" not found') from None
                obj = None
            if obj is not None and wait_done(mode, rest, obj):
                print(f"{shown} condition met")
                break
            if time.time() > deadline:
                raise Fail(f"timed out waiting for the condition on {res['plural']}/{name}")
            time.sleep(0.5)
    return 0


def wait_done(mode: str, rest: str, obj: dict[str, Any]) -> bool:
    """Whether an existing object satisfies the --for condition."""
    if mode == "create":
        return True
    if mode == "condition":
        cond, _, want = rest.partition("=")
        return condition_met(obj, cond, want or "True")
    if mode == "jsonpath":
        expr, _, want = rest.rpartition("=") if not rest.rstrip().endswith("}") else (rest, "", "")
        values = _eval(expr.strip("'{}"), obj)
        return bool(values) and (not want or any(str(v) == want for v in values))
    return False


# ---------------------------------------------------------------- delete, patch, label, nodes

def cmd_delete(opts: dict[str, Any], kube: standin.Kube, args: list[str]) -> int:
    """delete TYPE NAME... | TYPE/NAME | -f FILE."""
    mapper = Mapper(kube)
    pairs: list[tuple[dict[str, Any], str | None, str]] = []
    if opts.get("filename"):
        for obj, source in read_objects(opts["filename"], opts.get("recursive", False)):
            meta = obj.get("metadata") or {}
            res = mapper.by_kind(obj["apiVersion"], obj["kind"], meta.get("name", ""), meta.get("namespace", ""),
                                 source)
            pairs.append((res, target_ns(res, obj, opts, kube), meta["name"]))
    else:
        ns = opts.get("namespace") or kube.namespace
        for res, names in targets(args, mapper):
            if not names and opts.get("all"):
                names = [o["metadata"]["name"] for o in fetch_objects(kube, res, [], opts)]
            elif not names:
                raise Fail("resource(s) were provided, but no name was specified")
            pairs.extend((res, ns if res["namespaced"] else None, n) for n in names)
    for res, ns, name in pairs:
        try:
            kube.request("DELETE", path_of(res, ns, name))
        except ApiError as exc:
            if exc.code == 404 and opts.get("ignore-not-found"):
                continue
            raise server_error(exc) from None
        print(f'{res["kind"].lower()}{"." + res["group"] if res["group"] else ""} "{name}" deleted')
        if opts.get("wait", True):
            deadline = time.time() + duration(opts.get("timeout"), 60)
            while kube.get(path_of(res, ns, name)) is not None and time.time() < deadline:
                time.sleep(0.3)
    return 0


def cmd_patch(opts: dict[str, Any], kube: standin.Kube, args: list[str]) -> int:
    """patch TYPE NAME -p PATCH [--type strategic|merge|json] [--subresource status]."""
    mapper = Mapper(kube)
    kind = opts.get("type") or "strategic"
    ctype = {"strategic": "application/strategic-merge-patch+json", "merge": "application/merge-patch+json",
             "json": "application/json-patch+json"}.get(kind)
    if ctype is None:
        raise Fail(f'--type must be one of [json merge strategic], not "{kind}"')
    body = yaml.safe_load(opts.get("patch") or "")
    for res, names in targets(args, mapper):
        for name in names:
            ns = (opts.get("namespace") or kube.namespace) if res["namespaced"] else None
            try:
                kube.request("PATCH", path_of(res, ns, name, opts.get("subresource")) + "?fieldManager=kubectl-patch",
                             json.dumps(body).encode(), content_type=ctype)
            except ApiError as exc:
                raise server_error(exc) from None
            print(f"{ref(res, name)} patched")
    return 0


def cmd_label(opts: dict[str, Any], kube: standin.Kube, args: list[str], field: str = "labels") -> int:
    """label/annotate TYPE NAME key=value key-."""
    mapper = Mapper(kube)
    changes = [a for a in args[1:] if "=" in a or a.endswith("-")]
    names = [a for a in args[1:] if a not in changes]
    res = mapper.by_name(args[0].split("/")[0])
    if "/" in args[0]:
        names = [args[0].split("/", 1)[1]]
    for name in names:
        ns = (opts.get("namespace") or kube.namespace) if res["namespaced"] else None
        obj = kube.request("GET", path_of(res, ns, name))
        current = obj["metadata"].get(field) or {}
        patch: dict[str, Any] = {}
        for change in changes:
            if change.endswith("-"):
                patch[change[:-1]] = None
            else:
                key, _, value = change.partition("=")
                if key in current and current[key] != value and not opts.get("overwrite"):
                    raise Fail(f"'{key}' already has a value ({current[key]}), and --overwrite is false")
                patch[key] = value
        kube.request("PATCH", path_of(res, ns, name) + "?fieldManager=kubectl-label",
                     json.dumps({"metadata": {field: patch}}).encode(), content_type="application/merge-patch+json")
        print(f"{ref(res, name)} {'labeled' if field == 'labels' else 'annotated'}")
    return 0


def set_unschedulable(kube: standin.Kube, name: str, value: bool) -> str:
    """Cordon or uncordon one node; kubectl's message."""
    node = kube.request("GET", f"/api/v1/nodes/{name}")
    if bool((node.get("spec") or {}).get("unschedulable")) == value:
        return f"node/{name} already {'cordoned' if value else 'uncordoned'}"
    kube.request("PATCH", f"/api/v1/nodes/{name}?fieldManager=kubectl-cordon",
                 json.dumps({"spec": {"unschedulable": value or None}}).encode(),
                 content_type="application/strategic-merge-patch+json")
    return f"node/{name} {'cordoned' if value else 'uncordoned'}"


def cmd_cordon(opts: dict[str, Any], kube: standin.Kube, args: list[str], value: bool) -> int:
    """cordon / uncordon NODE..."""
    for name in [a.removeprefix("node/").removeprefix("nodes/") for a in args]:
        try:
            print(set_unschedulable(kube, name, value))
        except ApiError as exc:
            raise server_error(exc) from None
    return 0


def cmd_drain(opts: dict[str, Any], kube: standin.Kube, args: list[str]) -> int:
    """drain NODE: cordon, then evict its pods (DaemonSet pods need --ignore-daemonsets; mirror pods stay)."""
    timeout = duration(opts.get("timeout"), 10 ** 9)
    for name in [a.removeprefix("node/") for a in args]:
        try:
            print(set_unschedulable(kube, name, True))
        except ApiError as exc:
            raise server_error(exc) from None
        pods = kube.request("GET", "/api/v1/pods?" + urllib.parse.urlencode({"fieldSelector": f"spec.nodeName={name}"}))
        evict, daemon, bare = [], [], []
        for pod in pods["items"]:
            meta = pod["metadata"]
            if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
                continue
            owners = meta.get("ownerReferences") or []
            if any(o.get("kind") == "DaemonSet" for o in owners):
                daemon.append(pod)
                continue
            if not owners:
                bare.append(pod)
            evict.append(pod)
        problems = []
        if daemon and not opts.get("ignore-daemonsets"):
            problems.append("cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): "
                            + ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in daemon))
        if bare and not opts.get("force"):
            problems.append("cannot delete Pods that declare no controller (use --force to override): "
                            + ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in bare))
        if problems:
            raise Fail(f"unable to drain node \"{name}\" due to error: " + ", ".join(problems)
                       + ", continuing command...\nThere are pending nodes to be drained:\n " + name)
        if daemon:
            print("Warning: ignoring DaemonSet-managed Pods: "
                  + ", ".join(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in daemon), file=sys.stderr)
        deadline = time.time() + timeout
        for pod in evict:
            ns, pname = pod["metadata"]["namespace"], pod["metadata"]["name"]
            print(f"evicting pod {ns}/{pname}")
            kube.request("POST", f"/api/v1/namespaces/{ns}/pods/{pname}/eviction",
                         {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pname, "namespace": ns}})
            while kube.get(f"/api/v1/namespaces/{ns}/pods/{pname}") is not None:
                if time.time() > deadline:
                    raise Fail(f"error when evicting pods/\"{pname}\" -n \"{ns}\": global timeout reached: "
                               f"{opts.get('timeout')}")
                time.sleep(0.3)
            print(f"pod/{pname} evicted")
        print(f"node/{name} drained")
    return 0


def cmd_version(opts: dict[str, Any], kubeconfig: Path) -> int:
    """version [--client] [-o json|yaml]."""
    client = {"major": standin.KUBE_VERSION.split(".")[0], "minor": standin.KUBE_VERSION.split(".")[1],
              "gitVersion": "v" + standin.KUBE_VERSION, "platform": "linux/amd64"}
    server = None
    if not opts.get("client"):
        server = standin.Kube(kubeconfig).request("GET", "/version")
    if opts.get("output") in ("json", "yaml"):
        doc: dict[str, Any] = {"clientVersion": client, "kustomizeVersion": "v5.7.1"}
        if server:
            doc["serverVersion"] = server
        print(json.dumps(doc, indent=2) if opts["output"] == "json" else yaml.safe_dump(doc), end="\n")
        return 0
    print(f"Client Version: {client['gitVersion']}\nKustomize Version: v5.7.1")
    if server:
        print(f"Server Version: {server['gitVersion']}")
    return 0


COMMANDS = ("apply", "create", "get", "wait", "delete", "patch", "label", "annotate", "cordon", "uncordon", "drain",
            "version", "cluster-info")


def main(argv: list[str]) -> int:
    """Dispatch a kubectl command line."""
    opts, args = parse(argv)
    if not args:
        raise Fail("kubectl controls the Kubernetes cluster manager (TEST DOUBLE: lab stand-in).")
    command, args = args[0], args[1:]
    if command not in COMMANDS:
        raise Fail(f'unknown command "{command}" for "kubectl"')
    path = kubeconfig_path(opts)
    if command == "version":
        return cmd_version(opts, path)
    kube = standin.Kube(path)
    if opts.get("server"):
        kube.server = opts["server"].rstrip("/")
    if command == "cluster-info":
        print(f"Kubernetes control plane is running at {kube.server}")
        return 0
    if command in ("apply", "create"):
        if not opts.get("filename"):
            raise Fail("must specify one of -f and -k")
        return cmd_apply(opts, kube, create_only=command == "create")
    if command in ("cordon", "uncordon"):
        return cmd_cordon(opts, kube, args, command == "cordon")
    handlers = {"get": cmd_get, "wait": cmd_wait, "delete": cmd_delete, "patch": cmd_patch, "label": cmd_label,
                "drain": cmd_drain}
    if command == "annotate":
        return cmd_label(opts, kube, args, "annotations")
    return handlers[command](opts, kube, args)


if __name__ == "__main__":
    standin.main_wrapper("kubectl", main)
