#!/usr/bin/python3
"""TEST DOUBLE of kubectl for the lab (not Kubernetes).

Talks real TLS to the stand-in API server named in the kubeconfig: `get nodes` lists
registered nodes, `apply`/`create -f` records the objects given, `wait` succeeds for
recorded CRDs. Every call is logged to /var/log/k8s-standin.log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
from standin import Fail  # noqa: E402

import yaml  # noqa: E402


def kubeconfig_path(opts: argparse.Namespace) -> Path:
    """--kubeconfig, $KUBECONFIG or ~/.kube/config, as kubectl resolves it."""
    if opts.kubeconfig:
        return Path(opts.kubeconfig)
    env = os.environ.get("KUBECONFIG")
    return Path(env.split(":")[0]) if env else Path.home() / ".kube/config"


def read_objects(files: list[str]) -> list[dict]:
    """Objects from -f files (multi-document YAML or JSON, List kinds flattened)."""
    objects: list[dict] = []
    for name in files:
        if name.startswith(("http://", "https://")):
            objects.extend(parse_docs(fetch(name), name))
            continue
        paths = sorted(Path(name).glob("*.y*ml")) if Path(name).is_dir() else [Path(name)]
        for path in paths:
            try:
                text = sys.stdin.read() if name == "-" else path.read_text()
            except OSError:
                raise Fail(f'the path "{name}" does not exist') from None
            objects.extend(parse_docs(text, name))
    if not objects:
        raise Fail("no objects passed to apply")
    return objects


def fetch(url: str) -> str:
    """Read a manifest from a URL, as kubectl -f URL does."""
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.read().decode()
    except OSError as exc:
        raise Fail(f'unable to read URL "{url}", server reported {exc}') from None


def parse_docs(text: str, name: str) -> list[dict]:
    """Objects of one manifest (multi-document YAML or JSON, List kinds flattened)."""
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise Fail(f"error parsing {name}: {exc}") from None
    objects = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
            raise Fail(f'error validating "{name}": error validating data: [apiVersion not set, kind not set]')
        if doc["kind"].endswith("List") and "items" in doc:
            objects.extend(doc["items"])
        elif not (doc.get("metadata") or {}).get("name"):
            raise Fail(f'error when retrieving current configuration of "{name}": resource name may not be empty')
        else:
            objects.append(doc)
    return objects


def ref(kind: str, api_version: str, name: str) -> str:
    """kind.group/name as kubectl prints it."""
    group = api_version.split("/")[0] if "/" in api_version else ""
    return f"{kind.lower()}{'.' + group if group else ''}/{name}"


def cmd_apply(opts: argparse.Namespace, client: standin.Client, mode: str) -> int:
    """apply/create -f: record objects on the API server."""
    objects = read_objects(opts.filename)
    if opts.namespace:
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("namespace", opts.namespace)
    res = client.call("POST", "/standin/v1/apply", {"objects": objects, "mode": mode})
    for item in res["results"]:
        action = "serverside-applied" if opts.server_side else item["action"]
        print(f"{ref(item['kind'], item['apiVersion'], item['name'])} {action}")
    return 0


def age(created: str) -> str:
    """A kubectl-style age."""
    secs = max(0, int(time.time() - time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))) + time.timezone)
    return f"{secs}s" if secs < 120 else f"{secs // 60}m" if secs < 7200 else f"{secs // 3600}h"


def print_nodes(items: list[dict], output: str | None) -> None:
    """Render nodes like kubectl get nodes."""
    if output == "json":
        print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=4))
        return
    if output == "yaml":
        print(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
        return
    if output == "name":
        for item in items:
            print(f"node/{item['metadata']['name']}")
        return
    rows = [("NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP")]
    for item in items:
        ready = item["status"]["conditions"][0]["status"] == "True"
        roles = ",".join(k.split("/")[1] for k in item["metadata"]["labels"] if k.startswith("node-role")) or "<none>"
        rows.append((item["metadata"]["name"], "Ready" if ready else "NotReady", roles,
                     age(item["metadata"]["creationTimestamp"]), item["status"]["nodeInfo"]["kubeletVersion"],
                     item["status"]["addresses"][0]["address"]))
    width = [max(len(r[i]) for r in rows) for i in range(6)]
    cols = 6 if output == "wide" else 5
    for row in rows:
        print("   ".join(row[i].ljust(width[i]) for i in range(cols)).rstrip())


def cmd_get(opts: argparse.Namespace, client: standin.Client) -> int:
    """get nodes | get KIND [NAME]."""
    if not opts.args:
        raise Fail("You must specify the type of resource to get.")
    what, names = opts.args[0], opts.args[1:]
    if "/" in what:
        what, names = what.split("/", 1)[0], [what.split("/", 1)[1]]
    if what in ("nodes", "node", "no"):
        if names:
            items = [client.call("GET", f"/api/v1/nodes/{n}") for n in names]
        else:
            items = client.call("GET", "/api/v1/nodes")["items"]
        print_nodes(items, opts.output)
        return 0
    objects = client.call("GET", "/standin/v1/objects")["items"]
    want = what.lower().split(".")[0]
    found = [o for o in objects if o["kind"].lower() in (want, want.rstrip("s"), want.removesuffix("es"))
             or (want in ("crd", "crds") and o["kind"] == "CustomResourceDefinition")]
    if names:
        found = [o for o in found if o["metadata"]["name"] in names]
        if not found:
            raise Fail(f'Error from server (NotFound): {what} "{names[0]}" not found')
    if opts.output in ("json", "yaml"):
        doc = found[0] if names and len(found) == 1 else {"apiVersion": "v1", "kind": "List", "items": found}
        print(json.dumps(doc, indent=4) if opts.output == "json" else yaml.safe_dump(doc))
    elif not found:
        print("No resources found", file=sys.stderr)
    else:
        print("NAME")
        for obj in found:
            print(obj["metadata"]["name"])
    return 0


def cmd_wait(opts: argparse.Namespace, client: standin.Client) -> int:
    """wait --for condition=established crd/NAME."""
    cond = (opts.wait_for or "").lower()
    if not cond.startswith("condition="):
        raise Fail(f"unrecognized condition: {opts.wait_for!r}")
    timeout = float(opts.timeout.rstrip("s")) if opts.timeout.rstrip("s").replace(".", "").isdigit() else 30
    deadline = time.time() + timeout
    for target in opts.args:
        kind, _, name = target.partition("/")
        if kind.split(".")[0] not in ("crd", "crds", "customresourcedefinition", "customresourcedefinitions"):
            raise Fail(f"the stand-in kubectl waits for CRDs only, not {target}")
        while True:
            try:
                client.call("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                break
            except Fail as exc:
                if time.time() > deadline:
                    raise Fail(f"timed out waiting for the condition on customresourcedefinitions/{name}: {exc}") \
                        from None
                time.sleep(1)
        print(f"customresourcedefinition.apiextensions.k8s.io/{name} condition met")
    return 0


def cmd_version(opts: argparse.Namespace, client: standin.Client | None) -> int:
    """version [--client]."""
    v = "v" + standin.KUBE_VERSION
    print(f"Client Version: {v}\nKustomize Version: v5.7.1")
    if client:
        print(f"Server Version: {v}")
    return 0


def cmd_delete(opts: argparse.Namespace, client: standin.Client) -> int:
    """delete node NAME | delete secret kubeadm-certs (-n kube-system)."""
    if opts.args[:1] in (["node"], ["nodes"]):
        for name in opts.args[1:]:
            client.call("DELETE", f"/api/v1/nodes/{name}")
            print(f'node "{name}" deleted')
        return 0
    if opts.args[:2] in (["secret", "kubeadm-certs"], ["secrets", "kubeadm-certs"]):
        # the certificates `kubeadm init phase upload-certs` stored (and their key)
        client.call("DELETE", "/standin/v1/certkey")
        print('secret "kubeadm-certs" deleted')
        return 0
    raise Fail("the stand-in kubectl deletes nodes and the kubeadm-certs secret only")


def parser() -> argparse.ArgumentParser:
    """The subset of kubectl's command line the stand-in understands."""
    p = argparse.ArgumentParser(prog="kubectl", description="TEST DOUBLE of kubectl (lab stand-in)")
    p.add_argument("command")
    p.add_argument("args", nargs="*")
    p.add_argument("--kubeconfig")
    p.add_argument("-n", "--namespace")
    p.add_argument("-A", "--all-namespaces", action="store_true")
    p.add_argument("-o", "--output")
    p.add_argument("-f", "--filename", action="append", default=[])
    p.add_argument("--server-side", action="store_true")
    p.add_argument("--force-conflicts", action="store_true")
    p.add_argument("--field-manager")
    p.add_argument("--for", dest="wait_for")
    p.add_argument("--timeout", default="30s")
    p.add_argument("--client", action="store_true")
    p.add_argument("--request-timeout")
    p.add_argument("--ignore-not-found", action="store_true")
    p.add_argument("-v", "--v", dest="verbosity")
    return p


def main(argv: list[str]) -> int:
    """Dispatch a kubectl command line."""
    opts = parser().parse_intermixed_args(argv)
    if opts.command == "version" and opts.client:
        return cmd_version(opts, None)
    client = standin.Client(kubeconfig_path(opts))
    if opts.command == "apply":
        return cmd_apply(opts, client, "apply")
    if opts.command == "create":
        return cmd_apply(opts, client, "create")
    handlers = {"get": cmd_get, "wait": cmd_wait, "version": cmd_version, "delete": cmd_delete}
    if opts.command == "cluster-info":
        print(f"Kubernetes control plane is running at {client.server}")
        return 0
    if opts.command not in handlers:
        raise Fail(f'unknown command "{opts.command}" for "kubectl" (stand-in)')
    return handlers[opts.command](opts, client)


if __name__ == "__main__":
    standin.main_wrapper("kubectl", main)
