"""The stand-in kubeadm's config validation, run on the host (no lab needed)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

NODE = Path(__file__).resolve().parents[2] / "lab" / "standins" / "node"

GOOD = """\
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: 10.77.0.11, bindPort: 6443}
nodeRegistration:
  name: lab-cp1
  criSocket: unix:///var/run/containerd/containerd.sock
  kubeletExtraArgs: [{name: node-ip, value: 10.77.0.11}]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.34.2
controlPlaneEndpoint: 10.77.0.100:16443
networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, dnsDomain: cluster.local}
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
"""


@pytest.fixture(scope="module")
def kubeadm():  # type: ignore[no-untyped-def]
    """The stand-in kubeadm module, imported from its source."""
    sys.path.insert(0, str(NODE))
    try:
        module = importlib.import_module("kubeadm")
        module.standin.KUBE_VERSION = "1.34.2"  # what the package build fills in
        yield module
    finally:
        sys.path.remove(str(NODE))


def load(kubeadm, tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "kubeadm.yaml"
    path.write_text(text)
    return kubeadm.load_config(str(path))


def test_good_config_is_accepted(kubeadm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = load(kubeadm, tmp_path, GOOD)
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}


@pytest.mark.parametrize("old,new,message", [
    ("podSubnet", "podSubnett", 'unknown field "networking.podSubnett"'),
    ("kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration", "kubeadm.k8s.io/v1beta9\nkind: ClusterConfiguration",
     'no kind "ClusterConfiguration" is registered for version "kubeadm.k8s.io/v1beta9"'),
    ("kind: KubeletConfiguration", "kind: KubeletConfig", 'no kind "KubeletConfig"'),
    ("[{name: node-ip, value: 10.77.0.11}]", "{node-ip: 10.77.0.11}", "[]v1beta4.Arg"),
    ("bindPort: 6443", "bindPort: '6443'", "bindPort of type int32"),
    ("cgroupDriver: systemd", "cgroupDriver: systemdd", "cgroupDriver"),
])
def test_bad_config_is_rejected(kubeadm, tmp_path: Path, old: str, new: str, message: str) -> None:  # type: ignore[no-untyped-def]
    assert old in GOOD
    with pytest.raises(kubeadm.Fail, match=message.replace("[", r"\[").replace("]", r"\]")):
        load(kubeadm, tmp_path, GOOD.replace(old, new, 1))


def test_missing_kind_is_rejected(kubeadm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kubeadm.Fail, match="Kind"):
        load(kubeadm, tmp_path, "apiVersion: kubeadm.k8s.io/v1beta4\nnetworking: {}\n")


def test_version_skew(kubeadm) -> None:  # type: ignore[no-untyped-def]
    assert kubeadm.check_version("1.34.2") == "v1.34.2"
    with pytest.raises(kubeadm.Fail):
        kubeadm.check_version("v1.35.0")
    with pytest.raises(kubeadm.Fail):
        kubeadm.check_version("v1.31.0")


def test_join_command_shape(kubeadm) -> None:  # type: ignore[no-untyped-def]
    token = kubeadm.new_token()
    cmd = kubeadm.join_command("10.77.0.100:16443", token, "sha256:" + "a" * 64)
    assert cmd.split()[:5] == ["kubeadm", "join", "10.77.0.100:16443", "--token", token]
    assert kubeadm.parse_duration("24h0m0s") == 86400 and kubeadm.parse_duration("2h") == 7200
