"""Join: fresh credentials from the first control plane at execution time; secrets masked."""

from __future__ import annotations

import re

import yaml

from deploys import context, join
from tests import plan


def join_config(p: plan.Plan, host: str) -> dict:
    return yaml.safe_load(plan.uploads(p, host)["/etc/kubernetes/kubeadm-join.yaml"])


def test_control_planes_join_with_certificate_key(prod_plan: plan.Plan) -> None:
    config = join_config(prod_plan, "k8s-master-node2")
    assert config["apiVersion"] == "kubeadm.k8s.io/v1beta4" and config["kind"] == "JoinConfiguration"
    assert config["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "192.168.11.230:16443",
        "token": "abcdef.0123456789abcdef",
        "caCertHashes": [plan.CA_HASH],
    }
    assert config["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "192.168.11.222", "bindPort": 6443},
        "certificateKey": plan.CERT_KEY,
    }
    assert config["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.168.11.222"}]
    (join,) = [c for c in prod_plan.commands("k8s-master-node2") if "kubeadm join" in c]
    assert "kubeadm join --config /etc/kubernetes/kubeadm-join.yaml >>/var/log/kubeadm-join.log" in join
    assert join.endswith("touch /var/lib/kubeadm-pyinfra/kubeadm-join.done; rm -f /etc/kubernetes/kubeadm-join.yaml")
    commands = prod_plan.commands("k8s-master-node2")
    created = commands.index("install -d -m 755 /etc/kubernetes && install -m 600 /dev/null /etc/kubernetes/kubeadm-join.yaml")
    assert created < commands.index(join)


def test_workers_join_without_control_plane_flags(prod_plan: plan.Plan) -> None:
    config = join_config(prod_plan, "k8s-worker-node0")
    assert "controlPlane" not in config and config["nodeRegistration"]["name"] == "k8s-worker-node0"
    assert "taints" not in config["nodeRegistration"]


TOKEN_CREATE = "kubeadm token create --config /etc/kubernetes/kubeadm-config.yaml --print-join-command"
UPLOAD_CERTS = "kubeadm init phase upload-certs --upload-certs --config /etc/kubernetes/kubeadm-config.yaml"


def credential_calls(p: plan.Plan) -> dict[str, list[str]]:
    """host -> the credential commands its connector ran (unmasked), hosts without any left out."""
    made = {host: [c for c in calls if c in (TOKEN_CREATE, UPLOAD_CERTS)] for host, calls in p.calls.items()}
    return {host: calls for host, calls in made.items() if calls}


def test_credentials_use_the_cluster_config(prod_plan: plan.Plan) -> None:
    """Without --config, kubeadm looks up stable-1 on the internet and guesses the advertise address."""
    assert credential_calls(prod_plan) == {"k8s-master-node0": [TOKEN_CREATE, UPLOAD_CERTS]}


def test_schedulable_control_planes_join_untainted(private: dict) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", control_plane_schedulable=True, **private)
    p = plan.run(inv)
    assert join_config(p, "k8s-master-node1")["nodeRegistration"]["taints"] == []
    assert "taints" not in join_config(p, "k8s-worker-node1")["nodeRegistration"]


def test_credentials_made_once_on_first_control_plane(prod_plan: plan.Plan) -> None:
    """One token and one certificate key per run, by an operation of the first control plane
    placed before the joins; every join got them unmasked and well-formed."""
    creds = context.of(prod_plan.state).credentials
    assert creds == join.JoinCredentials("abcdef.0123456789abcdef", plan.CA_HASH, plan.CERT_KEY)
    assert prod_plan.hosts_of("Join credentials made") == ["k8s-master-node0"]
    assert prod_plan.index("Join credentials made") < prod_plan.index("Control plane joins")
    assert credential_calls(prod_plan) == {"k8s-master-node0": [TOKEN_CREATE, UPLOAD_CERTS]}
    for name in ("k8s-master-node1", "k8s-master-node2", "k8s-worker-node0", "k8s-worker-node2"):
        config = join_config(prod_plan, name)
        bootstrap = config["discovery"]["bootstrapToken"]
        assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", bootstrap["token"]) and bootstrap["token"] == creds.token
        assert bootstrap["caCertHashes"] == [creds.ca_hash] and re.fullmatch(r"sha256:[0-9a-f]{64}", creds.ca_hash)
        key = config.get("controlPlane", {}).get("certificateKey")
        assert key == (creds.certificate_key if "master" in name else None)


def test_the_joins_fail_on_blank_credentials(private: dict) -> None:
    """kubeadm printed nothing usable: the first control plane fails the run's credentials, and no node joins."""
    responses = {**plan.fresh_host(), "token create": ["kubeadm join 10.0.0.1:6443 --token  --discovery-token-ca-cert-hash"]}
    p = plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private))
    assert context.of(p.state).credentials is None
    assert not any("kubeadm join" in c for c in p.commands("k8s-test-worker0"))


def test_no_credentials_when_every_node_has_joined(prod_plan: plan.Plan, private: dict) -> None:
    from tests.deploys.test_cluster import converged

    second = converged(prod_plan, private, "prod.py")
    assert credential_calls(second) == {} and context.of(second.state).credentials is None
    assert second.hosts_of("Join credentials made") == []


def test_a_new_worker_joins_with_limit(prod_plan: plan.Plan, private: dict) -> None:
    """--limit NEW: the first control plane joins the run for the credentials only (a token, no
    certificate key for a worker); the other nodes are not contacted."""
    from pathlib import Path

    kubeconfig = Path(private["kubeconfig_path"]).read_bytes()
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", **private)
    for host in inv:
        name = host.name.split("/", 1)[1]
        if name != "k8s-worker-node2":  # the new one: a fresh host
            host.data.fake_responses = {**plan.fresh_host(), **plan.converged_host(prod_plan, name, kubeconfig=kubeconfig)}
    p = plan.run(inv, limit=["k8s-worker-node2"])
    assert context.of(p.state).credentials_only == {"@fake/k8s-master-node0"}
    assert sorted(p.calls) == ["k8s-master-node0", "k8s-worker-node2"]
    assert credential_calls(p) == {"k8s-master-node0": [TOKEN_CREATE]}
    assert [c for c in p.calls["k8s-master-node0"] if "token create" not in c] == [p.calls["k8s-master-node0"][0]]
    assert p.hosts_of("Join credentials made") == ["k8s-master-node0"]
    assert p.hosts_of("Worker joins") == ["k8s-worker-node2"]
    assert join_config(p, "k8s-worker-node2")["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"


def test_limit_without_joining_entry_adds_no_host(private: dict) -> None:
    """Only an entry that joins nodes gets the first control plane added (a reset never does)."""
    from pyinfra.api import Config, State

    from deploys import components

    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", **private)
    worker = inv.get_host("@fake/k8s-worker-node2")
    state = State(inv, Config(), initial_limit=[worker])
    context.before_connect(state, components.defaults, joining=False)
    assert state.limit_hosts == [worker] and context.of(state).credentials_only == set()


def test_control_plane_joins_are_serial(prod_plan: plan.Plan) -> None:
    meta = next(m for m in prod_plan.state.op_meta.values() if "Control plane joins" in sorted(m.names)[0])
    assert meta.global_arguments["_serial"] is True


def test_single_control_plane_has_no_control_plane_join(test_plan: plan.Plan) -> None:
    assert test_plan.hosts_of("Control plane joins") == []
    assert test_plan.hosts_of("Worker joins") == [f"k8s-test-worker{i}" for i in range(4)]
    assert context.of(test_plan.state).credentials.certificate_key is None
    assert credential_calls(test_plan) == {"k8s-test-cp0": [TOKEN_CREATE]}


def test_no_join_when_the_first_control_plane_failed(private: dict) -> None:
    """kubeadm init failed: no node tries to join; each says why."""
    responses = {"kubeadm init": {"success": False, "stderr": "preflight failed"}, **plan.fresh_host()}
    p = plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private))
    assert p.hosts_of("Worker joins") == [f"k8s-test-worker{i}" for i in range(4)]
    (failed,) = [c for c in p.commands("k8s-test-worker0") if "error: not joining" in c]
    assert "not joining: the first control plane @fake/k8s-test-cp0 failed earlier in this run" in failed
    assert not any("kubeadm join" in c for c in p.commands("k8s-test-worker1"))
