"""Join: fresh credentials from the first control plane at execution time; secrets masked."""

from __future__ import annotations

import yaml

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
    assert commands.index("install -m 600 /dev/null /etc/kubernetes/kubeadm-join.yaml") < commands.index(join)


def test_workers_join_without_control_plane_flags(prod_plan: plan.Plan) -> None:
    config = join_config(prod_plan, "k8s-worker-node0")
    assert "controlPlane" not in config and config["nodeRegistration"]["name"] == "k8s-worker-node0"
    assert "taints" not in config["nodeRegistration"]


def test_credentials_use_the_cluster_config(prod_plan: plan.Plan) -> None:
    """Without --config, kubeadm looks up stable-1 on the internet and guesses the advertise address."""
    commands = prod_plan.commands("k8s-master-node0")
    first = prod_plan.state.inventory.get_host("@fake/k8s-master-node0")
    assert first.connected
    from pyinfra.connectors.fake import FakeConnector  # noqa: F401  (the credentials run through it)
    made = [c for c in plan.fake_calls(prod_plan, "k8s-master-node0") if "token create" in c or "upload-certs --upload-certs" in c]
    assert made == [
        "kubeadm token create --config /etc/kubernetes/kubeadm-config.yaml --print-join-command",
        "kubeadm init phase upload-certs --upload-certs --config /etc/kubernetes/kubeadm-config.yaml",
    ]
    assert not any("token create" in c for c in commands)


def test_schedulable_control_planes_join_untainted(private: dict) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", control_plane_schedulable=True, **private)
    p = plan.run(inv)
    assert join_config(p, "k8s-master-node1")["nodeRegistration"]["taints"] == []
    assert "taints" not in join_config(p, "k8s-worker-node1")["nodeRegistration"]


def test_credentials_made_once_on_first_control_plane(prod_plan: plan.Plan) -> None:
    first = prod_plan.state.inventory.get_host("@fake/k8s-master-node0")
    assert prod_plan.state._kubeadm_pyinfra_join["creds"].token == "abcdef.0123456789abcdef"
    assert prod_plan.state._kubeadm_pyinfra_join["creds"].certificate_key == plan.CERT_KEY
    assert first.connected


def test_control_plane_joins_are_serial(prod_plan: plan.Plan) -> None:
    meta = next(m for m in prod_plan.state.op_meta.values() if "Control plane joins" in sorted(m.names)[0])
    assert meta.global_arguments["_serial"] is True


def test_single_control_plane_has_no_control_plane_join(test_plan: plan.Plan) -> None:
    assert test_plan.hosts_of("Control plane joins") == []
    assert test_plan.hosts_of("Worker joins") == [f"k8s-test-worker{i}" for i in range(4)]
    assert test_plan.state._kubeadm_pyinfra_join["creds"].certificate_key is None


def test_no_join_when_the_first_control_plane_failed(private: dict) -> None:
    """kubeadm init failed: no node tries to join; each says why."""
    responses = {"kubeadm init": {"success": False, "stderr": "preflight failed"}, **plan.fresh_host()}
    p = plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private))
    assert p.hosts_of("Worker joins") == [f"k8s-test-worker{i}" for i in range(4)]
    (failed,) = [c for c in p.commands("k8s-test-worker0") if "error: not joining" in c]
    assert "not joining: the first control plane @fake/k8s-test-cp0 failed earlier in this run" in failed
    assert not any("kubeadm join" in c for c in p.commands("k8s-test-worker1"))
