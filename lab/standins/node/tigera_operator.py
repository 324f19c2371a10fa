"""TEST DOUBLE of Calico's tigera-operator for the lab (not Calico), run by the controller-manager stand-in.

It "starts" a few seconds after the pod of the Deployment tigera-operator/tigera-operator (from the
real tigera-operator.yaml) is Running, reads that Deployment's container args like the operator's
flags, and then, as tigera/operator does (pkg/crds, pkg/controller/installation, pkg/controller/status):
- with -manage-crds=true, ensures its operator.tigera.io CRDs exist (Calico >= 3.30 ships them in
  operator-crds.yaml, applied before the operator; a missing one is created here, minimal and labelled);
- for the Installation "default": the calico-system namespace, the calico-node DaemonSet (whose pods
  the kubelet stand-in "runs" by writing the CNI config), the default IPPool from
  spec.calicoNetwork.ipPools, Installation status, and TigeraStatus "calico"/"ippools" (and
  "apiserver" for an APIServer "default"), Available once every calico-node pod is ready.
"""

from __future__ import annotations

import json
import time
from typing import Any

import standin
from standin import ApiError

STARTUP_DELAY = 3.0  # seconds between the operator pod turning Running and the operator acting
DEPLOYMENT = "/apis/apps/v1/namespaces/tigera-operator/deployments/tigera-operator"
GROUP = "operator.tigera.io"
# the operator.tigera.io kinds of Calico 3.30/3.31's operator-crds.yaml (plural, kind, scope)
OPERATOR_CRDS = (("apiservers", "APIServer", "Cluster"), ("gatewayapis", "GatewayAPI", "Cluster"),
                 ("goldmanes", "Goldmane", "Cluster"), ("imagesets", "ImageSet", "Cluster"),
                 ("installations", "Installation", "Cluster"),
                 ("managementclusterconnections", "ManagementClusterConnection", "Cluster"),
                 ("tigerastatuses", "TigeraStatus", "Cluster"), ("whiskers", "Whisker", "Cluster"))
# operator image tag -> the Calico release it installs (projectcalico/calico manifests at each tag)
CALICO_OF_OPERATOR = {"v1.38.6": "v3.30.3", "v1.40.15": "v3.31.7"}


def log(text: str) -> None:
    """An operator log line (in the controller-manager's log)."""
    standin.log_line(f"tigera-operator (stand-in): {text}")


def minimal_crd(plural: str, kind: str, scope: str) -> dict[str, Any]:
    """A structural CRD that accepts any spec (the stand-in's own, clearly labelled)."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}",
                         "annotations": {"lab.kubeadm-pyinfra/standin": "created by the tigera-operator TEST DOUBLE"}},
            "spec": {"group": GROUP, "scope": scope,
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def condition(kind: str, ok: bool, reason: str, message: str) -> dict[str, Any]:
    """One TigeraStatus condition."""
    return {"type": kind, "status": "True" if ok else "False", "reason": reason, "message": message,
            "lastTransitionTime": standin.now_rfc3339(), "observedGeneration": 1}


class Operator:
    """The operator's reconcile loop, driven by the controller-manager's leader."""

    def __init__(self, kube: standin.Kube) -> None:
        self.kube = kube
        self.running_since: float | None = None

    def started(self) -> dict[str, Any] | None:
        """The operator Deployment once its pod has run STARTUP_DELAY seconds, else None."""
        dep = self.kube.get(DEPLOYMENT)
        if dep is None:
            self.running_since = None
            return None
        pods = self.kube.request("GET", "/api/v1/namespaces/tigera-operator/pods")["items"]
        running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"
                   and any(o.get("uid") == dep["metadata"]["uid"] for o in p["metadata"].get("ownerReferences") or [])]
        if not running:
            self.running_since = None
            return None
        if self.running_since is None:
            self.running_since = time.time()
            log("operator pod running; starting")
        return dep if time.time() - self.running_since >= STARTUP_DELAY else None

    def reconcile(self) -> None:
        """One pass: CRDs, then the Installation and what it asks for."""
        dep = self.started()
        if dep is None:
            return
        container = dep["spec"]["template"]["spec"]["containers"][0]
        args = container.get("args") or []
        if "-manage-crds=true" in args or "--manage-crds=true" in args:
            self.ensure_crds()
        installation = self.kube.get(f"/apis/{GROUP}/v1/installations/default")
        if installation is None:
            return
        version = CALICO_OF_OPERATOR.get(container.get("image", "").rsplit(":", 1)[-1], "unknown")
        self.install(installation, version)

    def ensure_crds(self) -> None:
        """-manage-crds=true: every operator.tigera.io CRD exists."""
        for plural, kind, scope in OPERATOR_CRDS:
            path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{GROUP}"
            if self.kube.get(path) is None:
                self.kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                  minimal_crd(plural, kind, scope))
                log(f"created CRD {plural}.{GROUP}")

    def apply(self, path: str, obj: dict[str, Any]) -> None:
        """Server-side apply as the operator's field manager."""
        self.kube.request("PATCH", f"{path}?fieldManager=operator&force=true", json.dumps(obj).encode(),
                          content_type="application/apply-patch+yaml")

    def install(self, installation: dict[str, Any], version: str) -> None:
        """calico-system, calico-node, the IP pool, statuses."""
        spec = installation.get("spec") or {}
        registry = (spec.get("registry") or "quay.io/").rstrip("/") + "/"
        image_path = spec.get("imagePath") or "calico"
        self.apply("/api/v1/namespaces/calico-system", {
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "calico-system", "labels": {"name": "calico-system"}}})
        labels = {"k8s-app": "calico-node"}
        self.apply("/apis/apps/v1/namespaces/calico-system/daemonsets/calico-node", {
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "calico-node", "namespace": "calico-system", "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"hostNetwork": True, "priorityClassName": "system-node-critical",
                                           "tolerations": [{"effect": "NoSchedule", "operator": "Exists"},
                                                           {"key": "CriticalAddonsOnly", "operator": "Exists"},
                                                           {"effect": "NoExecute", "operator": "Exists"}],
                                           "nodeSelector": {"kubernetes.io/os": "linux"},
                                           "initContainers": [{"name": "install-cni",
                                                               "image": f"{registry}{image_path}/cni:{version}"}],
                                           "containers": [{"name": "calico-node",
                                                           "image": f"{registry}{image_path}/node:{version}"}]}}}})
        pools = (spec.get("calicoNetwork") or {}).get("ipPools") or []
        if pools and self.kube.get("/apis/crd.projectcalico.org/v1") is not None:
            pool = pools[0]
            self.apply("/apis/crd.projectcalico.org/v1/ippools/default-ipv4-ippool", {
                "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
                "metadata": {"name": pool.get("name") or "default-ipv4-ippool"},
                "spec": {"cidr": pool.get("cidr"), "blockSize": pool.get("blockSize", 26),
                         "ipipMode": "Never", "vxlanMode": "CrossSubnet" if "VXLAN" in str(pool.get("encapsulation"))
                         else "Never", "natOutgoing": pool.get("natOutgoing", "Enabled") == "Enabled",
                         "nodeSelector": pool.get("nodeSelector", "all()")}})
        ds = self.kube.get("/apis/apps/v1/namespaces/calico-system/daemonsets/calico-node") or {}
        st = ds.get("status") or {}
        want, ready = int(st.get("desiredNumberScheduled", 0)), int(st.get("numberReady", 0))
        available = want > 0 and ready >= want
        self.status("calico", available, f"{ready}/{want} calico-node pods ready" if not available else "")
        self.status("ippools", True, "")
        if self.kube.get(f"/apis/{GROUP}/v1/apiservers/default") is not None:
            self.status("apiserver", True, "")
        inst_status = {"variant": "Calico", "calicoVersion": version, "mtu": 1450, "computed": spec,
                       "conditions": [condition("Ready", available, "AllObjectsAvailable" if available
                                                else "ResourceNotReady", "")]}
        old = installation.get("status") or {}
        if {k: old.get(k) for k in ("variant", "calicoVersion", "computed")} != \
                {k: inst_status[k] for k in ("variant", "calicoVersion", "computed")} or \
                [c.get("status") for c in old.get("conditions") or []] != ["True" if available else "False"]:
            installation["status"] = inst_status
            try:
                self.kube.request("PUT", f"/apis/{GROUP}/v1/installations/default/status", installation)
            except ApiError as exc:
                if exc.code != 404:
                    raise

    def status(self, name: str, available: bool, message: str) -> None:
        """TigeraStatus <name>: Available / Progressing / Degraded."""
        path = f"/apis/{GROUP}/v1/tigerastatuses/{name}"
        obj = self.kube.get(path)
        if obj is None:
            obj = self.kube.request("POST", f"/apis/{GROUP}/v1/tigerastatuses", {
                "apiVersion": f"{GROUP}/v1", "kind": "TigeraStatus", "metadata": {"name": name}, "spec": {}})
        conds = [condition("Available", available, "AllObjectsAvailable" if available else "ResourceNotReady",
                           "All objects are available" if available else message),
                 condition("Progressing", not available, "AllObjectsAvailable" if available else "ResourceNotReady",
                           "All objects are available" if available else message),
                 condition("Degraded", False, "AllObjectsAvailable", "")]
        old = [(c.get("type"), c.get("status")) for c in (obj.get("status") or {}).get("conditions") or []]
        if old == [(c["type"], c["status"]) for c in conds]:
            return
        obj["status"] = {"conditions": conds}
        self.kube.request("PUT", f"{path}/status", obj)
