"""Control-plane init: kubeadm config schema by version, once on the first control plane only."""

from __future__ import annotations

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
    assert cluster["controlPlaneEndpoint"] == "192.168.11.230:16443"
    assert cluster["kubernetesVersion"] == "v1.34.2"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"}
    assert kubelet["cgroupDriver"] == "systemd"


def test_v1beta3_below_1_31(private: dict) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", kube_version="1.30.4", **private)
    docs = documents(plan.run(inv), "k8s-test-cp0")
    assert docs["InitConfiguration"]["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert docs["InitConfiguration"]["nodeRegistration"]["kubeletExtraArgs"] == {"node-ip": "192.168.10.10"}
    assert docs["ClusterConfiguration"]["controlPlaneEndpoint"] == "192.168.10.10:6443"


def test_init_once_on_first_control_plane(prod_plan: plan.Plan) -> None:
    assert prod_plan.hosts_of("kubeadm init") == ["k8s-master-node0"]
    init = [c for c in prod_plan.commands("k8s-master-node0") if "kubeadm init" in c]
    assert init == [
        "umask 077; kubeadm init --config /etc/kubernetes/kubeadm-config.yaml --upload-certs >/var/log/kubeadm-init.log 2>&1"
        " || { tail -n 30 /var/log/kubeadm-init.log >&2; exit 1; }"
    ]
