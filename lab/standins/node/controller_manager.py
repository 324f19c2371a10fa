#!/usr/bin/python3
"""TEST DOUBLE of kube-controller-manager for the lab (not Kubernetes).

Run by the stand-in kubelet from kubeadm's static pod manifest, with its flags. Serves TLS
/healthz on --secure-port (10257), elects a leader through the kube-system/kube-controller-manager
Lease, and the leader runs the controllers the lab's cluster needs (kubernetes/kubernetes
pkg/controller/...): CSR approving (kubelet client certificates, after a SubjectAccessReview) and
signing (--cluster-signing-cert-file/--cluster-signing-key-file), the bootstrap signer (cluster-info
JWS signatures) and token cleaner, the service-account and root-CA ConfigMap publishers, node
lifecycle (the node.kubernetes.io/not-ready taint), DaemonSet and Deployment pods (simplified: no
ReplicaSets, DaemonSet pods bound directly), pod garbage collection, and the tigera-operator
stand-in (tigera_operator.py), which "runs" once the operator's pod is Running.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
import tigera_operator  # noqa: E402
from standin import ApiError, Fail  # noqa: E402

S, B, L = "str", "bool", "list"
# kube-controller-manager flags (cmd/kube-controller-manager/app/options, v1.35-v1.37) kubeadm and users pass.
FLAGS = {
    "allocate-node-cidrs": B, "authentication-kubeconfig": S, "authorization-kubeconfig": S, "bind-address": S,
    "client-ca-file": S, "cloud-provider": S, "cluster-cidr": S, "cluster-name": S, "cluster-signing-cert-file": S,
    "cluster-signing-duration": S, "cluster-signing-key-file": S, "concurrent-deployment-syncs": S,
    "configure-cloud-routes": B, "controllers": L, "feature-gates": L, "horizontal-pod-autoscaler-sync-period": S,
    "kubeconfig": S, "leader-elect": B, "leader-elect-lease-duration": S, "leader-elect-renew-deadline": S,
    "leader-elect-retry-period": S, "node-cidr-mask-size": S, "node-cidr-mask-size-ipv4": S,
    "node-monitor-grace-period": S, "node-monitor-period": S, "profiling": B, "requestheader-client-ca-file": S,
    "root-ca-file": S, "secure-port": S, "service-account-private-key-file": S, "service-cluster-ip-range": S,
    "terminated-pod-gc-threshold": S, "tls-cert-file": S, "tls-private-key-file": S,
    "use-service-account-credentials": B, "v": S, "vmodule": S, "version": B, "help": B,
}
CSR_PATH = "/apis/certificates.k8s.io/v1/certificatesigningrequests"
# The real csrapproving, csrsigning and bootstrapsigner controllers are informer-driven, each on its own workers
# (pkg/controller/certificates/certificate_controller.go, pkg/controller/bootstrap/bootstrapsigner.go: a CSR, a token
# Secret or cluster-info is handled as its watch event arrives), so a join's discovery (the cluster-info signature of a
# token made a moment before) and TLS bootstrap are not held up by the other controllers. The API server stand-in has
# no watch: the stand-in runs them on their own thread. The signer looks every turn: a join's discovery starts about
# 0.2 s after the deploy made its token, and one that finds no signature waits kubeadm's DiscoveryRetryInterval (5 s),
# where the real signer, woken by the token Secret's watch event, has signed within milliseconds.
FAST_PERIOD = 0.1
CSR_EVERY = 3  # turns: the CSR approving and signing controllers every 0.3 s
CLUSTER_INFO_EVERY = 5  # turns: cluster-info read again at least this often while the token set stays the same


def log(text: str) -> None:
    """A controller-manager log line."""
    print(text, file=sys.stderr, flush=True)
    standin.log_line(f"kube-controller-manager: {text}")


def duration(value: str | None, default: float) -> float:
    """A Go duration flag (40s, 1m30s) in seconds."""
    if not value:
        return default
    return sum(float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u]
               for n, u in re.findall(r"([\d.]+)(ms|s|m|h)", value)) or default


def items(kube: standin.Kube, path: str) -> list[dict[str, Any]]:
    """The items of a list."""
    return kube.request("GET", path)["items"]


# ---------------------------------------------------------------- certificates

def approve_csrs(kube: standin.Kube) -> None:
    """csrapproving: approve kubelet client CSRs whose requester may create certificatesigningrequests/nodeclient
    (or selfnodeclient for its own node), checked with a SubjectAccessReview (pkg/controller/certificates/approver)."""
    for csr in items(kube, CSR_PATH):
        spec, status = csr["spec"], csr.get("status") or {}
        if spec.get("signerName") != "kubernetes.io/kube-apiserver-client-kubelet" or status.get("conditions"):
            continue
        cn, orgs = standin.csr_subject(base64.b64decode(spec["request"]))
        if orgs != ["system:nodes"] or not cn.startswith("system:node:"):
            continue
        sub = "selfnodeclient" if spec.get("username") == cn else "nodeclient"
        review = kube.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": spec.get("username"), "groups": spec.get("groups") or [], "uid": spec.get("uid", ""),
                     "resourceAttributes": {"group": "certificates.k8s.io", "resource": "certificatesigningrequests",
                                            "verb": "create", "subresource": sub}}})
        if not review["status"]["allowed"]:
            continue
        csr.setdefault("status", {})["conditions"] = [{
            "type": "Approved", "status": "True", "reason": "AutoApproved",
            "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
            "lastUpdateTime": standin.now_rfc3339(), "lastTransitionTime": standin.now_rfc3339()}]
        kube.request("PUT", f"{CSR_PATH}/{csr['metadata']['name']}/approval", csr)
        log(f'I0000 certificate_controller.go] "Approved CSR" csr="{csr["metadata"]["name"]}" subject="{cn}"')


def sign_csrs(kube: standin.Kube, flags: dict[str, Any]) -> None:
    """csrsigning: sign approved CSRs of the kubelet and kube-apiserver-client signers with the cluster CA."""
    cert, key = flags.get("cluster-signing-cert-file"), flags.get("cluster-signing-key-file")
    if not cert or not key:
        return
    for csr in items(kube, CSR_PATH):
        spec, status = csr["spec"], csr.get("status") or {}
        approved = any(c.get("type") == "Approved" for c in status.get("conditions") or [])
        signer = spec.get("signerName")
        if not approved or status.get("certificate") or signer not in (
                "kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kube-apiserver-client",
                "kubernetes.io/kubelet-serving"):
            continue
        pem = standin.sign(base64.b64decode(spec["request"]), Path(cert), Path(key),
                           client=signer != "kubernetes.io/kubelet-serving")
        csr["status"]["certificate"] = standin.b64(pem)
        kube.request("PUT", f"{CSR_PATH}/{csr['metadata']['name']}/status", csr)
        log(f'I0000 signer.go] "Signed CSR" csr="{csr["metadata"]["name"]}"')


# ---------------------------------------------------------------- bootstrap tokens

def token_secrets(kube: standin.Kube) -> list[dict[str, str]]:
    """Decoded data of every bootstrap token Secret in kube-system."""
    out = []
    for secret in items(kube, "/api/v1/namespaces/kube-system/secrets"):
        if secret.get("type") == "bootstrap.kubernetes.io/token":
            data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            data["_name"] = secret["metadata"]["name"]
            out.append(data)
    return out


def bootstrap_signer(kube: standin.Kube, known: dict[str, Any] | None = None) -> None:
    """bootstrapsigner: a jws-kubeconfig-<id> signature in kube-public/cluster-info for every signing token
    (pkg/controller/bootstrap/bootstrapsigner.go); stale ones removed.

    KNOWN (kept by the caller between turns): the token set last signed; while it stays the same, cluster-info is
    read only every CLUSTER_INFO_EVERY calls (for a changed kubeconfig or an expired token), one list a turn else.
    """
    tokens = token_secrets(kube)
    token_set = sorted((t["_name"], t.get("token-secret", ""), t.get("expiration", ""),
                        t.get("usage-bootstrap-signing", "")) for t in tokens)
    if known is not None:
        if known.get("tokens") == token_set and known.get("skips", 0) > 0:
            known["skips"] -= 1
            return
        known.clear()  # remembered again only once this pass has signed (a failed pass is tried at the next turn)
    path = "/api/v1/namespaces/kube-public/configmaps/cluster-info"
    info = kube.get(path)
    if info is None or "kubeconfig" not in (info.get("data") or {}):
        return
    content = info["data"]["kubeconfig"]
    wanted = {}
    for tok in tokens:
        expired = tok.get("expiration") and standin.parse_rfc3339(tok["expiration"]) < time.time()
        if tok.get("usage-bootstrap-signing") == "true" and not expired and tok.get("token-id"):
            wanted[f"jws-kubeconfig-{tok['token-id']}"] = standin.jws_detached(content, tok["token-id"],
                                                                                tok["token-secret"])
    current = {k: v for k, v in info["data"].items() if k.startswith("jws-kubeconfig-")}
    if current != wanted:
        info["data"] = {k: v for k, v in info["data"].items() if not k.startswith("jws-kubeconfig-")} | wanted
        kube.request("PUT", path, info)
    if known is not None:
        known.update(tokens=token_set, skips=CLUSTER_INFO_EVERY - 1)


def token_cleaner(kube: standin.Kube) -> None:
    """tokencleaner: delete expired bootstrap token Secrets."""
    for tok in token_secrets(kube):
        if tok.get("expiration") and standin.parse_rfc3339(tok["expiration"]) < time.time():
            kube.request("DELETE", f"/api/v1/namespaces/kube-system/secrets/{tok['_name']}")


# ---------------------------------------------------------------- namespaces

def namespace_defaults(kube: standin.Kube, flags: dict[str, Any]) -> None:
    """serviceaccount controller (a "default" ServiceAccount) and root-ca-cert-publisher (kube-root-ca.crt)."""
    ca = Path(flags.get("root-ca-file") or flags.get("client-ca-file") or "")
    ca_text = ca.read_text() if str(ca) not in ("", ".") and ca.exists() else None
    for ns in items(kube, "/api/v1/namespaces"):
        name = ns["metadata"]["name"]
        if (ns.get("status") or {}).get("phase") != "Active":
            continue
        for path, obj in (
                (f"/api/v1/namespaces/{name}/serviceaccounts/default",
                 {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": name}}),
                (f"/api/v1/namespaces/{name}/configmaps/kube-root-ca.crt",
                 {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "kube-root-ca.crt", "namespace": name},
                  "data": {"ca.crt": ca_text}} if ca_text else None)):
            if obj is None or kube.get(path) is not None:
                continue
            try:
                kube.request("POST", path.rsplit("/", 1)[0], obj)
            except ApiError as exc:
                if exc.reason not in ("AlreadyExists", "NotFound", "Forbidden"):
                    raise


# ---------------------------------------------------------------- nodes and pods

def node_lifecycle(kube: standin.Kube, grace: float) -> None:
    """Nodes whose kubelet stopped renewing its Lease for --node-monitor-grace-period (default 50 s since 1.32,
    kubernetes/kubernetes#126287) turn Ready=Unknown; NotReady nodes get node.kubernetes.io/not-ready:NoSchedule,
    Unknown ones node.kubernetes.io/unreachable:NoSchedule (pkg/controller/nodelifecycle, TaintNodesByCondition)."""
    now = time.time()
    for node in items(kube, "/api/v1/nodes"):
        name = node["metadata"]["name"]
        status = node.get("status") or {}
        lease = kube.get(f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{name}")
        renewed = standin.parse_rfc3339((lease or {}).get("spec", {}).get("renewTime") or
                                        node["metadata"]["creationTimestamp"])
        ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if now - renewed > grace and ready.get("status") != "Unknown":
            conds = [{**c, "status": "Unknown", "reason": "NodeStatusUnknown",
                      "message": "Kubelet stopped posting node status.", "lastTransitionTime": standin.now_rfc3339()}
                     for c in status.get("conditions") or []]
            kube.request("PATCH", f"/api/v1/nodes/{name}/status", json.dumps({"status": {"conditions": conds}}).encode(),
                         content_type="application/merge-patch+json")
            log(f'I0000 node_lifecycle_controller.go] "Node is unresponsive" node="{name}"')
            ready = {"status": "Unknown"}
        want = {"False": "node.kubernetes.io/not-ready", "Unknown": "node.kubernetes.io/unreachable"}.get(
            str(ready.get("status")), "")
        taints = (node.get("spec") or {}).get("taints") or []
        ours = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
        new = [t for t in taints if t.get("key") not in ours or (t.get("key") == want and t.get("effect") == "NoSchedule")]
        if want and not any(t.get("key") == want for t in new):
            new.append({"key": want, "effect": "NoSchedule"})
        if new != taints:
            kube.request("PATCH", f"/api/v1/nodes/{name}", json.dumps({"spec": {"taints": new or None}}).encode(),
                         content_type="application/merge-patch+json")


def tolerates(pod_spec: dict[str, Any], taints: list[dict[str, Any]]) -> bool:
    """Whether tolerations cover every NoSchedule/NoExecute taint (component-helpers scheduling/corev1)."""
    for taint in taints:
        if taint.get("effect") not in ("NoSchedule", "NoExecute"):
            continue
        ok = False
        for tol in pod_spec.get("tolerations") or []:
            if tol.get("effect") and tol["effect"] != taint.get("effect"):
                continue
            if tol.get("operator") == "Exists" and (not tol.get("key") or tol["key"] == taint.get("key")):
                ok = True
            elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
                ok = True
        if not ok:
            return False
    return True


def selects(pod_spec: dict[str, Any], node: dict[str, Any]) -> bool:
    """Whether the pod's nodeSelector matches the node's labels."""
    labels = node["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in (pod_spec.get("nodeSelector") or {}).items())


def pod_from_template(owner: dict[str, Any], kind: str, name: str, node: str | None) -> dict[str, Any]:
    """A Pod of a workload's template, owned by it."""
    template = owner["spec"]["template"]
    meta = owner["metadata"]
    spec = dict(template.get("spec") or {})
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": meta["namespace"],
                         "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                         "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": kind, "name": meta["name"],
                                              "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
            "spec": spec}


def owned(pods: list[dict[str, Any]], owner: dict[str, Any]) -> list[dict[str, Any]]:
    """Pods whose controller is owner."""
    return [p for p in pods if any(o.get("uid") == owner["metadata"]["uid"] and o.get("controller")
                                   for o in p["metadata"].get("ownerReferences") or [])]


def pod_ready(pod: dict[str, Any]) -> bool:
    """Whether the pod is Running with every container ready."""
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and all(c.get("ready") for c in status.get("containerStatuses") or [{}])


def daemonsets(kube: standin.Kube, nodes: list[dict[str, Any]], pods: list[dict[str, Any]]) -> None:
    """One pod per eligible node for every DaemonSet (bound directly; upstream binds through the scheduler)."""
    for ds in items(kube, "/apis/apps/v1/daemonsets"):
        meta = ds["metadata"]
        spec = ds["spec"]["template"].get("spec") or {}
        mine = owned(pods, ds)
        by_node = {p["spec"].get("nodeName"): p for p in mine}
        eligible = [n for n in nodes if selects(spec, n) and tolerates(spec, (n.get("spec") or {}).get("taints") or [])]
        for node in eligible:
            name = node["metadata"]["name"]
            if name not in by_node:
                pod = pod_from_template(ds, "DaemonSet", f"{meta['name']}-{uuid.uuid4().hex[:5]}", name)
                kube.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods", pod)
        names = {n["metadata"]["name"] for n in eligible}
        for node_name, pod in by_node.items():
            if node_name not in names:
                kube.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{pod['metadata']['name']}")
        ready = sum(1 for p in mine if pod_ready(p) and p["spec"].get("nodeName") in names)
        status = {"desiredNumberScheduled": len(eligible), "currentNumberScheduled": len(names & set(by_node)),
                  "numberReady": ready, "numberAvailable": ready, "updatedNumberScheduled": len(names & set(by_node)),
                  "numberMisscheduled": 0, "observedGeneration": meta.get("generation", 1)}
        if any((ds.get("status") or {}).get(k) != v for k, v in status.items()):
            ds["status"] = {**(ds.get("status") or {}), **status}
            kube.request("PUT", f"/apis/apps/v1/namespaces/{meta['namespace']}/daemonsets/{meta['name']}/status", ds)


def deployments(kube: standin.Kube, pods: list[dict[str, Any]]) -> None:
    """spec.replicas pods per Deployment (left for the scheduler to bind) and the Deployment's status."""
    for dep in items(kube, "/apis/apps/v1/deployments"):
        meta = dep["metadata"]
        mine = owned(pods, dep)
        want = int(dep["spec"].get("replicas", 1))
        for _ in range(want - len(mine)):
            pod = pod_from_template(dep, "Deployment", f"{meta['name']}-{uuid.uuid4().hex[:10]}-"
                                                       f"{uuid.uuid4().hex[:5]}", None)
            kube.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods", pod)
        for pod in mine[want:]:
            kube.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{pod['metadata']['name']}")
        ready = sum(1 for p in mine[:want] if pod_ready(p))
        now = standin.now_rfc3339()
        status = {"observedGeneration": meta.get("generation", 1), "replicas": min(len(mine), want),
                  "updatedReplicas": min(len(mine), want), "readyReplicas": ready, "availableReplicas": ready,
                  "conditions": [{"type": "Available", "status": "True" if ready >= want else "False",
                                  "reason": "MinimumReplicasAvailable" if ready >= want else "MinimumReplicasUnavailable",
                                  "message": "Deployment has minimum availability." if ready >= want else
                                  "Deployment does not have minimum availability.",
                                  "lastUpdateTime": now, "lastTransitionTime": now}]}
        old = dep.get("status") or {}
        if any(old.get(k) != status[k] for k in ("replicas", "readyReplicas", "availableReplicas",
                                                 "observedGeneration")):
            dep["status"] = status
            kube.request("PUT", f"/apis/apps/v1/namespaces/{meta['namespace']}/deployments/{meta['name']}/status", dep)


def pod_gc(kube: standin.Kube, pods: list[dict[str, Any]]) -> None:
    """Garbage collector: delete pods whose owning DaemonSet or Deployment is gone."""
    live: set[str] = set()
    for path in ("/apis/apps/v1/daemonsets", "/apis/apps/v1/deployments", "/api/v1/nodes"):
        live |= {o["metadata"]["uid"] for o in items(kube, path)}
    for pod in pods:
        refs = [o for o in pod["metadata"].get("ownerReferences") or [] if o.get("controller")]
        if refs and refs[0].get("kind") in ("DaemonSet", "Deployment", "Node") and refs[0].get("uid") not in live:
            kube.get(f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/{pod['metadata']['name']}") and \
                kube.request("DELETE", f"/api/v1/namespaces/{pod['metadata']['namespace']}/pods/"
                                       f"{pod['metadata']['name']}")


# ---------------------------------------------------------------- main loop

def fast_turn(kube: standin.Kube, flags: dict[str, Any], turn: int, known: dict[str, Any] | None = None) -> None:
    """One turn of the bootstrap signer, and of the CSR approving and signing controllers every CSR_EVERY turns."""
    if turn % CSR_EVERY == 0:
        approve_csrs(kube)
        sign_csrs(kube, flags)
    bootstrap_signer(kube, known)


def fast_controllers(kubeconfig: Path, flags: dict[str, Any], leading: threading.Event) -> None:
    """fast_turn every FAST_PERIOD, on its own thread, while this process leads."""
    kube: standin.Kube | None = None
    turn = 0
    known: dict[str, Any] = {}
    while True:
        try:
            if leading.is_set():
                kube = kube or standin.Kube(kubeconfig, user_agent="kube-controller-manager")
                fast_turn(kube, flags, turn, known)
                turn += 1
        except (ApiError, Fail) as exc:
            log(f"E0000 certificate and bootstrap token controllers: {exc}")
        time.sleep(FAST_PERIOD)


def reconcile(kube: standin.Kube, flags: dict[str, Any], operator: tigera_operator.Operator, tick: int) -> None:
    """One pass of the other controllers (the less urgent ones every fifth pass)."""
    steps: list[Any] = []
    if tick % 5 == 0:
        steps += [token_cleaner, lambda k: namespace_defaults(k, flags),
                  lambda k: node_lifecycle(k, duration(flags.get("node-monitor-grace-period"), 50.0))]
    for step in steps:
        try:
            step(kube)
        except (ApiError, Fail) as exc:
            log(f"E0000 controller pass failed: {exc}")
    try:
        nodes = items(kube, "/api/v1/nodes")
        pods = items(kube, "/api/v1/pods")
        daemonsets(kube, nodes, pods)
        deployments(kube, pods)
        pod_gc(kube, pods)
        operator.reconcile()
    except (ApiError, Fail) as exc:
        log(f"E0000 controller pass failed: {exc}")


def main(argv: list[str]) -> int:
    """Serve /healthz, take the leader lease, run the controllers every second."""
    try:
        flags, args = standin.parse_flags(argv, FLAGS)
        if args:
            raise Fail(f'unknown command "{args[0]}" for "kube-controller-manager"')
    except Fail as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if flags.get("version"):
        print(f"Kubernetes v{standin.KUBE_VERSION}")
        return 0
    bind, port = flags.get("bind-address", "0.0.0.0"), int(flags.get("secure-port", 10257))
    cert_dir = Path("/var/lib/k8s-standin/kube-controller-manager")
    try:
        standin.serve_healthz(bind, port, Path(flags.get("tls-cert-file") or cert_dir / "serving.crt"),
                              Path(flags.get("tls-private-key-file") or cert_dir / "serving.key"))
    except OSError as exc:
        print(f"Error: failed to create listener: failed to listen on {bind}:{port}: {exc}", file=sys.stderr)
        return 1
    if not flags.get("kubeconfig"):
        log("W0000 no --kubeconfig: serving /healthz only")
        while True:
            time.sleep(3600)
    identity = f"{socket.gethostname()}_{uuid.uuid4()}"
    log(f"I0000 serving securely on {bind}:{port}; leader election as {identity} (TEST DOUBLE)")
    kube: standin.Kube | None = None
    election: standin.LeaderElection | None = None
    operator: tigera_operator.Operator | None = None
    tick = 0
    leading = threading.Event()
    threading.Thread(target=fast_controllers, args=(Path(flags["kubeconfig"]), flags, leading), daemon=True).start()
    while True:
        try:
            if kube is None:
                kube = standin.Kube(Path(flags["kubeconfig"]), user_agent="kube-controller-manager")
                election = standin.LeaderElection(kube, "kube-controller-manager", identity)
                operator = tigera_operator.Operator(kube)
            assert election is not None and operator is not None
            if not flags.get("leader-elect", True) or election.try_acquire():
                leading.set()
                reconcile(kube, flags, operator, tick)
                tick += 1
            else:
                leading.clear()
        except Fail as exc:
            leading.clear()
            log(f"E0000 {exc}")
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
