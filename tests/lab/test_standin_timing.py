"""Host-free: the stand-ins' timing copies the real tools' (status reports, CSR handling, kubeadm's waits)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

NODE = Path(__file__).resolve().parents[2] / "lab" / "standins" / "node"


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Import a stand-in module from the source tree, its log under a scratch directory."""
    sys.path.insert(0, str(NODE))
    try:
        standin = importlib.import_module("standin")
        monkeypatch.setattr(standin, "LOG", tmp_path / "standin.log")
        yield importlib.import_module
    finally:
        sys.path.remove(str(NODE))


class FakeKube:
    """Answers GET of the Node with what was last patched; records every request."""

    def __init__(self) -> None:
        self.node: dict[str, Any] = {"metadata": {"name": "n1"}, "status": {}}
        self.calls: list[tuple[str, str]] = []

    def get(self, path: str) -> Any:
        self.calls.append(("GET", path))
        return self.node if path == "/api/v1/nodes/n1" else None

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        import json

        self.calls.append((method, path.split("?")[0]))
        if path == "/api/v1/nodes/n1/status":
            self.node["status"] = {**self.node["status"], **json.loads(body)["status"]}
        return {}


def node(mod: Any, kube: FakeKube, ready: list[bool]) -> Any:
    """A kubelet Node whose network readiness follows READY[0]."""
    kubelet = mod("kubelet")
    n = kubelet.Node({"hostname-override": "n1", "node-ip": "10.0.0.9"}, {}, None, "2.1.9")
    n.kube, n.uid = kube, "u1"
    kubelet.network_ready = lambda: ready[0]
    return n


def patches(kube: FakeKube) -> int:
    return sum(1 for method, path in kube.calls if method == "PATCH" and path.endswith("/status"))


def test_status_posted_on_change_or_after_the_report_frequency(mod: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    kube, ready = FakeKube(), [False]
    n = node(mod, kube, ready)
    kubelet = mod("kubelet")
    clock = [1000.0]
    monkeypatch.setattr(kubelet.time, "monotonic", lambda: clock[0])
    n.heartbeat()
    assert patches(kube) == 1  # first report
    clock[0] += kubelet.STATUS_UPDATE
    n.heartbeat()
    assert patches(kube) == 1  # unchanged: only the Lease is renewed
    leases = [p for m, p in kube.calls if m == "PATCH" and "/leases/" in p]
    assert len(leases) == 2
    ready[0] = True  # the CNI config appeared: Ready changes, posted at the next update
    clock[0] += kubelet.STATUS_UPDATE
    n.heartbeat()
    assert patches(kube) == 2
    assert next(c for c in kube.node["status"]["conditions"] if c["type"] == "Ready")["status"] == "True"
    clock[0] += kubelet.STATUS_REPORT - 1
    n.heartbeat()
    assert patches(kube) == 2
    clock[0] += 1
    n.heartbeat()
    assert patches(kube) == 3  # nodeStatusReportFrequency passed


def test_status_set_unknown_by_the_controller_is_posted_again(mod: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    kube, ready = FakeKube(), [True]
    n = node(mod, kube, ready)
    n.heartbeat()
    for cond in kube.node["status"]["conditions"]:
        cond["status"] = "Unknown"  # the node lifecycle controller's doing
    n.heartbeat()
    assert patches(kube) == 2


def test_status_changed_ignores_only_the_condition_times(mod: Any) -> None:
    changed = mod("kubelet").status_changed
    cond = {"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": "a",
            "lastTransitionTime": "a"}
    old = {"conditions": [cond], "nodeInfo": {"kubeletVersion": "v1.37.1"}}
    assert not changed(old, {**old, "conditions": [{**cond, "lastHeartbeatTime": "b", "lastTransitionTime": "b"}]})
    assert changed(old, {**old, "conditions": [{**cond, "status": "False"}]})
    assert changed(old, {**old, "nodeInfo": {"kubeletVersion": "v1.37.2"}})
    assert changed({}, old)


def test_upstream_intervals(mod: Any) -> None:
    kubelet, kubeadm, cm = mod("kubelet"), mod("kubeadm"), mod("controller_manager")
    # KubeletConfiguration defaults nodeStatusUpdateFrequency 10s, nodeStatusReportFrequency 5m
    assert (kubelet.STATUS_UPDATE, kubelet.STATUS_REPORT) == (10.0, 300.0)
    # kubeadm constants.TLSBootstrapRetryInterval
    assert kubeadm.TLS_BOOTSTRAP_RETRY == 1.0
    # kubeadm constants.DiscoveryRetryInterval
    assert kubeadm.DISCOVERY_RETRY == 5.0
    # stand-ins of watches: polled well under a second
    assert kubelet.CSR_POLL < 1 and cm.FAST_PERIOD < 1


def test_csr_and_bootstrap_signer_run_apart_from_the_slow_pass(mod: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    cm = mod("controller_manager")
    done: list[str] = []
    monkeypatch.setattr(cm, "approve_csrs", lambda kube: done.append("approve"))
    monkeypatch.setattr(cm, "sign_csrs", lambda kube, flags: done.append("sign"))
    monkeypatch.setattr(cm, "bootstrap_signer", lambda kube, known=None: done.append("jws"))
    monkeypatch.setattr(cm, "token_cleaner", lambda kube: None)
    monkeypatch.setattr(cm, "namespace_defaults", lambda kube, flags: None)
    monkeypatch.setattr(cm, "node_lifecycle", lambda kube, grace: None)
    # reconcile (the slow pass over nodes and pods) no longer handles CSRs
    monkeypatch.setattr(cm, "items", lambda kube, path: [])
    monkeypatch.setattr(cm, "daemonsets", lambda *a: None)
    monkeypatch.setattr(cm, "deployments", lambda *a: None)
    monkeypatch.setattr(cm, "pod_gc", lambda *a: None)

    class Operator:
        def reconcile(self) -> None:
            pass

    cm.reconcile(object(), {}, Operator(), 0)  # a pass that also runs the less urgent controllers
    assert done == []
    for turn in range(4):
        cm.fast_turn(object(), {}, turn)
    assert done == ["approve", "sign", "jws", "jws", "jws", "approve", "sign", "jws"]  # the signer every turn
    assert cm.FAST_PERIOD <= 0.1 and cm.FAST_PERIOD * cm.CSR_EVERY < 0.31


class SignerKube:
    """cluster-info and the bootstrap token Secrets as the API server holds them; counts reads and writes."""

    def __init__(self) -> None:
        import base64

        self.b64 = lambda v: base64.b64encode(v.encode()).decode()
        self.info: dict[str, Any] = {"data": {"kubeconfig": "apiVersion: v1\nkind: Config\n"}}
        self.secrets: list[dict[str, Any]] = []
        self.reads = {"cluster-info": 0, "secrets": 0}
        self.puts = 0

    def token(self, token_id: str, secret: str) -> None:
        data = {"token-id": token_id, "token-secret": secret, "usage-bootstrap-signing": "true"}
        self.secrets.append({"metadata": {"name": f"bootstrap-token-{token_id}"}, "type": "bootstrap.kubernetes.io/token",
                             "data": {k: self.b64(v) for k, v in data.items()}})

    def get(self, path: str) -> Any:
        self.reads["cluster-info"] += 1
        import copy

        return copy.deepcopy(self.info)

    def request(self, method: str, path: str, body: Any = None, **_: Any) -> Any:
        if method == "PUT":
            self.puts += 1
            self.info = body
            return body
        self.reads["secrets"] += 1
        return {"items": self.secrets}


def test_a_new_token_is_signed_at_the_next_turn_and_an_unchanged_set_costs_one_list(mod: Any) -> None:
    cm = mod("controller_manager")
    kube, known = SignerKube(), {}
    kube.token("abcdef", "0123456789abcdef")
    cm.bootstrap_signer(kube, known)
    assert "jws-kubeconfig-abcdef" in kube.info["data"] and kube.puts == 1
    for _ in range(cm.CLUSTER_INFO_EVERY - 1):  # the same tokens: the Secrets listed, cluster-info left alone
        cm.bootstrap_signer(kube, known)
    assert kube.reads == {"cluster-info": 1, "secrets": cm.CLUSTER_INFO_EVERY}
    cm.bootstrap_signer(kube, known)  # every CLUSTER_INFO_EVERY turns it is read again (a changed kubeconfig)
    assert kube.reads["cluster-info"] == 2 and kube.puts == 1
    kube.token("ghijkl", "fedcba9876543210")  # a token made by `kubeadm token create`: signed at the next turn
    cm.bootstrap_signer(kube, known)
    assert "jws-kubeconfig-ghijkl" in kube.info["data"] and kube.puts == 2


class FakeEtcd:
    """An etcd of (value, mod_revision) per key; counts what the API server asks."""

    def __init__(self) -> None:
        self.kv: dict[str, tuple[bytes, int]] = {}
        self.rev = 0
        self.calls: list[str] = []

    def put(self, key: str, obj: dict[str, Any]) -> None:
        import json

        self.rev += 1
        self.kv[key] = (json.dumps(obj).encode(), self.rev)

    def list(self, prefix: str, keys_only: bool = False) -> tuple[list[tuple[str, bytes, int]], int]:
        self.calls.append("keys" if keys_only else "range")
        return [(k, b"" if keys_only else v, r) for k, (v, r) in sorted(self.kv.items()) if k.startswith(prefix)], self.rev

    def get(self, key: str) -> tuple[bytes, int] | None:
        self.calls.append(f"get {key.rsplit('/', 1)[1]}")
        return self.kv.get(key)


def test_lists_served_from_the_cache_are_what_etcd_holds(mod: Any) -> None:
    apiserver = mod("apiserver")
    api = apiserver.Api.__new__(apiserver.Api)
    api.prefix, api.etcd, api.cache, api.use_cache = "/registry", FakeEtcd(), {}, True
    api.enc = mod("apisecurity").Encryption.load(None)
    pods = next(r for r in mod("apiobjects").BUILTIN if r.plural == "pods")
    for i in range(12):
        api.etcd.put(f"/registry/pods/default/p{i}", {"metadata": {"name": f"p{i}"}, "spec": {"n": i}})

    def names_and_versions() -> list[tuple[str, str]]:
        items, _ = api.list_view(pods, None)
        assert items == api.list(pods, None)[0]  # the same answer as a full read
        return [(o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in items]

    first = names_and_versions()
    assert len(first) == 12 and api.etcd.calls[:2] == ["keys", "range"]
    api.etcd.calls.clear()
    assert names_and_versions() == first
    assert api.etcd.calls == ["keys", "range"]  # (the second "range" is the comparison's full read)
    api.etcd.put("/registry/pods/default/p3", {"metadata": {"name": "p3"}, "spec": {"n": 33}})
    del api.etcd.kv["/registry/pods/default/p5"]
    api.etcd.calls.clear()
    now = names_and_versions()
    assert api.etcd.calls[:2] == ["keys", "get p3"]  # only the changed object is read again
    assert ("p3", str(api.etcd.rev)) in now and not any(n == "p5" for n, _ in now) and len(now) == 11
    items, _ = api.list_view(pods, None)
    assert next(o for o in items if o["metadata"]["name"] == "p3")["spec"] == {"n": 33}

    # changed between the keys-only range and the read: the whole list is read again
    api.etcd.put("/registry/pods/default/p4", {"metadata": {"name": "p4"}, "spec": {"n": 44}})
    real_get = api.etcd.get

    def racing_get(key: str) -> Any:
        api.etcd.put(key, {"metadata": {"name": "p4"}, "spec": {"n": 45}})
        return real_get(key)
    api.etcd.get = racing_get
    items, _ = api.list_view(pods, None)
    assert next(o for o in items if o["metadata"]["name"] == "p4")["spec"] == {"n": 45}
    api.etcd.get = real_get
    api.use_cache = False  # --watch-cache=false
    api.etcd.calls.clear()
    api.list_view(pods, None)
    assert api.etcd.calls == ["range"]


def test_a_failed_signing_pass_is_tried_again_at_the_next_turn(mod: Any) -> None:
    cm, standin = mod("controller_manager"), mod("standin")
    kube, known = SignerKube(), {}
    kube.token("abcdef", "0123456789abcdef")
    put = kube.request

    def failing(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        if method == "PUT":
            raise standin.Fail("connection refused")
        return put(method, path, body, **kw)

    kube.request = failing  # type: ignore[method-assign]
    with pytest.raises(standin.Fail):
        cm.bootstrap_signer(kube, known)
    kube.request = put  # type: ignore[method-assign]
    cm.bootstrap_signer(kube, known)  # the next turn: not skipped
    assert "jws-kubeconfig-abcdef" in kube.info["data"]


def test_a_token_past_its_expiration_loses_its_signature_within_the_cluster_info_period(mod: Any) -> None:
    cm = mod("controller_manager")
    kube, known = SignerKube(), {}
    kube.token("abcdef", "0123456789abcdef")
    cm.bootstrap_signer(kube, known)
    kube.secrets[0]["data"]["expiration"] = kube.b64("2020-01-01T00:00:00Z")  # now expired (same token otherwise)
    for _ in range(cm.CLUSTER_INFO_EVERY):
        cm.bootstrap_signer(kube, known)
    assert "jws-kubeconfig-abcdef" not in kube.info["data"]
