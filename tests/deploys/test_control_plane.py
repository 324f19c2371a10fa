"""Control-plane init: kubeadm config schema by version, once on the first control plane only."""

from __future__ import annotations

import pytest
import yaml

from tests import plan


def documents(p: plan.Plan, host: str) -> dict[str, dict]:
    text = plan.uploads(p, host)["/etc/kubernetes/kubeadm-config.yaml"].decode()
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def test_v1beta4_config(prod_plan: plan.Plan) -> None:
    docs = documents(prod_plan, "k8s-master-node0")
    init, cluster, kubelet = docs["InitConfiguration"], docs["ClusterConfiguration"], docs["KubeletConfiguration"]
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.11.220", "bindPort": 6443}
    assert init["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.168.11.220"}]
    assert "taints" not in init["nodeRegistration"]  # kubeadm's default: control planes tainted NoSchedule
    assert cluster["controlPlaneEndpoint"] == "192.168.11.230:16443"
    assert cluster["kubernetesVersion"] == "v1.37.1"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"}
    assert cluster["apiServer"]["certSANs"] == ["192.168.11.230", "192.168.11.220", "192.168.11.221", "192.168.11.222"]
    assert kubelet["cgroupDriver"] == "systemd"


def test_schedulable_control_planes_and_extra_sans(private: dict) -> None:
    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py",
        control_plane_schedulable=True,
        apiserver_cert_sans=["api.example.com", "203.0.113.7"],
        **private,
    )
    docs = documents(plan.run(inv), "k8s-test-cp0")
    assert docs["InitConfiguration"]["nodeRegistration"]["taints"] == []
    assert docs["ClusterConfiguration"]["apiServer"]["certSANs"] == ["192.168.10.10", "api.example.com", "203.0.113.7"]


@pytest.mark.parametrize("minor", ["1.35.9", "1.36.4", "1.37.1"])
def test_every_supported_minor_gets_its_pause_image(private: dict, minor: str) -> None:
    from deploys import model

    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", kube_version=minor, **private)
    p = plan.run(inv)
    assert documents(p, "k8s-test-cp0")["ClusterConfiguration"]["kubernetesVersion"] == f"v{minor}"
    pause = model.RELEASES[minor.rsplit(".", 1)[0]].pause
    assert f'"registry.k8s.io/pause:{pause}"' in plan.uploads(p, "k8s-test-cp0")["/etc/containerd/config.toml"].decode()


def test_init_once_on_first_control_plane(prod_plan: plan.Plan) -> None:
    assert prod_plan.hosts_of("kubeadm init") == ["k8s-master-node0"]
    (init,) = [c for c in prod_plan.commands("k8s-master-node0") if "kubeadm init --config" in c]
    steps = init.split("; ")
    lock = steps.index("exec 9>/run/lock/kubeadm-pyinfra.lock")
    assert steps[lock + 1] == "flock 9"  # a kubeadm left running by a killed run is waited for
    run = next(i for i, s in enumerate(steps) if "kubeadm init --config /etc/kubernetes/kubeadm-config.yaml --upload-certs" in s)
    reset = next(i for i, s in enumerate(steps) if "kubeadm reset -f" in s)
    assert lock < reset < run
    assert steps[-1] == "touch /var/lib/kubeadm-pyinfra/kubeadm-init.done"  # done only after success
    assert ">>/var/log/kubeadm-init.log 2>&1" in steps[run]


def test_half_done_init_is_reset_and_run_again(tmp_path) -> None:
    """The init script, run by sh against a fake root: leftovers are reset, init retried, stamp written."""
    import subprocess

    from deploys import control_plane, ops

    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "kubeadm").write_text(f"#!/bin/sh\necho \"kubeadm $*\" >> {log}\n")
    (bin_dir / "kubectl").write_text("#!/bin/sh\nexit 1\n")  # no API answers: not a finished init
    for tool in ("kubeadm", "kubectl"):
        (bin_dir / tool).chmod(0o755)
    leftovers = tmp_path / "admin.conf"
    leftovers.write_text("half-done")
    script = ops.kubeadm_script(
        "kubeadm-init", "kubeadm init --config x", str(tmp_path / "init.log"), "false", f"[ -e {leftovers} ]"
    ).replace(ops.DONE, str(tmp_path / "done")).replace(ops.KUBEADM_LOCK, str(tmp_path / "lock"))
    script = script.replace(ops.ETCD_DATA, str(tmp_path / "etcd"))
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "half-done kubeadm run" in result.stderr
    assert log.read_text().splitlines() == ["kubeadm reset -f", "kubeadm init --config x"]
    assert (tmp_path / "done" / "kubeadm-init.done").exists()
    assert control_plane.HALF_DONE.startswith("{ [ -e /etc/kubernetes/admin.conf ]")


def test_failed_init_records_nothing(tmp_path) -> None:
    import subprocess

    from deploys import ops

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubeadm").write_text("#!/bin/sh\necho '[ERROR Port-6443]: Port 6443 is in use'\nexit 1\n")
    (bin_dir / "kubeadm").chmod(0o755)
    script = ops.kubeadm_script("kubeadm-init", "kubeadm init", str(tmp_path / "init.log"), "false", "false")
    script = script.replace(ops.DONE, str(tmp_path / "done")).replace(ops.KUBEADM_LOCK, str(tmp_path / "lock"))
    script = script.replace(ops.ETCD_DATA, str(tmp_path / "etcd"))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.returncode == 1 and "Port 6443 is in use" in result.stderr
    assert not (tmp_path / "done" / "kubeadm-init.done").exists()
