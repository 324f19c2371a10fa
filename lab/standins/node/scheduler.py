#!/usr/bin/python3
"""TEST DOUBLE of kube-scheduler for the lab (not Kubernetes).

Run by the stand-in kubelet from kubeadm's static pod manifest, with its flags. Serves TLS
/healthz, /livez, /readyz on --secure-port (10259), elects a leader through the
kube-system/kube-scheduler Lease, and the leader binds each pending pod without a node to the
node with the fewest pods among those whose taints it tolerates and whose labels match its
nodeSelector (pods/binding, as the default scheduler's bind plugin does; scoring simplified).
"""

from __future__ import annotations

import socket
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402
from controller_manager import selects, tolerates  # noqa: E402
from standin import ApiError, Fail  # noqa: E402

S, B, L = "str", "bool", "list"
# kube-scheduler flags (cmd/kube-scheduler/app/options, v1.35-v1.37) kubeadm and users pass.
FLAGS = {
    "authentication-kubeconfig": S, "authorization-kubeconfig": S, "bind-address": S, "config": S,
    "feature-gates": L, "kubeconfig": S, "leader-elect": B, "leader-elect-lease-duration": S,
    "leader-elect-renew-deadline": S, "leader-elect-retry-period": S, "profiling": B, "secure-port": S,
    "tls-cert-file": S, "tls-private-key-file": S, "v": S, "vmodule": S, "version": B, "help": B,
}


def schedule(kube: standin.Kube) -> None:
    """Bind every pending, unbound pod to a feasible node."""
    nodes = kube.request("GET", "/api/v1/nodes")["items"]
    pods = kube.request("GET", "/api/v1/pods")["items"]
    load: dict[str, int] = {}
    for pod in pods:
        load[pod["spec"].get("nodeName") or ""] = load.get(pod["spec"].get("nodeName") or "", 0) + 1
    for pod in pods:
        spec = pod.get("spec") or {}
        if spec.get("nodeName") or (pod.get("status") or {}).get("phase") not in (None, "Pending"):
            continue
        feasible = [n for n in nodes if not (n.get("spec") or {}).get("unschedulable") and selects(spec, n)
                    and tolerates(spec, (n.get("spec") or {}).get("taints") or [])]
        meta = pod["metadata"]
        if not feasible:
            continue
        target = min(feasible, key=lambda n: (load.get(n["metadata"]["name"], 0), n["metadata"]["name"]))
        name = target["metadata"]["name"]
        try:
            kube.request("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding",
                         {"apiVersion": "v1", "kind": "Binding",
                          "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
                          "target": {"apiVersion": "v1", "kind": "Node", "name": name}})
            load[name] = load.get(name, 0) + 1
            standin.log_line(f'kube-scheduler: "Successfully bound pod to node" pod="{meta["namespace"]}/'
                             f'{meta["name"]}" node="{name}"')
        except ApiError as exc:
            standin.log_line(f"kube-scheduler: binding {meta['namespace']}/{meta['name']} failed: {exc}")


def main(argv: list[str]) -> int:
    """Serve /healthz, take the leader lease, schedule every second."""
    try:
        flags, args = standin.parse_flags(argv, FLAGS)
        if args:
            raise Fail(f'unknown command "{args[0]}" for "kube-scheduler"')
    except Fail as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    if flags.get("version"):
        print(f"Kubernetes v{standin.KUBE_VERSION}")
        return 0
    bind, port = flags.get("bind-address", "0.0.0.0"), int(flags.get("secure-port", 10259))
    cert_dir = Path("/var/lib/k8s-standin/kube-scheduler")
    try:
        standin.serve_healthz(bind, port, Path(flags.get("tls-cert-file") or cert_dir / "serving.crt"),
                              Path(flags.get("tls-private-key-file") or cert_dir / "serving.key"))
    except OSError as exc:
        print(f"Error: failed to create listener: failed to listen on {bind}:{port}: {exc}", file=sys.stderr)
        return 1
    if not flags.get("kubeconfig"):
        while True:
            time.sleep(3600)
    identity = f"{socket.gethostname()}_{uuid.uuid4()}"
    kube: standin.Kube | None = None
    election: standin.LeaderElection | None = None
    while True:
        try:
            if kube is None:
                kube = standin.Kube(Path(flags["kubeconfig"]), user_agent="kube-scheduler")
                election = standin.LeaderElection(kube, "kube-scheduler", identity)
            assert election is not None
            if not flags.get("leader-elect", True) or election.try_acquire():
                schedule(kube)
        except Fail as exc:
            standin.log_line(f"kube-scheduler: {exc}")
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
