"""Join: fresh credentials from the first control plane at execution time; secrets masked."""

from __future__ import annotations

from tests import plan


def test_control_planes_join_with_certificate_key(prod_plan: plan.Plan) -> None:
    (join,) = [c for c in prod_plan.commands("k8s-master-node2") if "kubeadm join" in c]
    assert "kubeadm join 192.168.11.230:16443 --token ***" in join
    assert f"--discovery-token-ca-cert-hash {plan.CA_HASH}" in join
    assert "--control-plane --certificate-key *** --apiserver-advertise-address 192.168.11.222" in join


def test_workers_join_without_control_plane_flags(prod_plan: plan.Plan) -> None:
    (join,) = [c for c in prod_plan.commands("k8s-worker-node0") if "kubeadm join" in c]
    assert "--control-plane" not in join and "--node-name k8s-worker-node0" in join


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
    (failed,) = [c for c in p.commands("k8s-test-worker0") if "error:" in c]
    assert "not joining: the first control plane @fake/k8s-test-cp0 failed earlier in this run" in failed
    assert not any("kubeadm join" in c for c in p.commands("k8s-test-worker1"))
