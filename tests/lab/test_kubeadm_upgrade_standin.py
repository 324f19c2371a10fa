"""`kubeadm upgrade plan|apply|node` of the kubeadm stand-in against upstream's rules, host-free.

The version skew policy (cmd/kubeadm/app/phases/upgrade/policy.go), the flags (cmd/kubeadm/app/cmd/upgrade),
the static pod manifests rewritten one component at a time, kubeadm-config's kubernetesVersion and the
kubelet configuration: run in-process under a scratch root, with an in-memory API.
"""

from __future__ import annotations

import copy
import importlib
import io
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

NODE = Path(__file__).resolve().parents[2] / "lab" / "standins" / "node"


class Api:
    """The few API calls upgrade makes (kubeadm-config, kubelet-config, nodes, addons), in memory."""

    def __init__(self, cluster_version: str, kubelets: list[str], server: str = "") -> None:
        cluster = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
                   "kubernetesVersion": cluster_version, "imageRepository": "registry.k8s.io"}
        self.objects: dict[str, Any] = {
            "/api/v1/namespaces/kube-system/configmaps/kubeadm-config": {
                "metadata": {"name": "kubeadm-config"}, "data": {"ClusterConfiguration": yaml.safe_dump(cluster)}},
            "/api/v1/namespaces/kube-system/configmaps/kubelet-config": {
                "metadata": {"name": "kubelet-config"},
                "data": {"kubelet": yaml.safe_dump({"kind": "KubeletConfiguration", "cgroupDriver": "systemd"})}},
            "/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy": {"spec": {"template": {"spec": {
                "containers": [{"name": "kube-proxy", "image": f"registry.k8s.io/kube-proxy:{cluster_version}"}]}}}},
        }
        self.nodes = [{"metadata": {"name": f"n{i}"}, "status": {"nodeInfo": {"kubeletVersion": v}}}
                      for i, v in enumerate(kubelets)]
        self.server = server or cluster_version  # what /version answers (the API server's build)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        if path == "/api/v1/nodes":
            return {"items": self.nodes}
        if path == "/version":
            return {"gitVersion": self.server}
        if method == "PUT":
            self.objects[path] = copy.deepcopy(body)
            return body
        return copy.deepcopy(self.objects[path])

    def get(self, path: str) -> Any:
        return copy.deepcopy(self.objects.get(path))

    def version(self) -> str:
        return yaml.safe_load(self.objects["/api/v1/namespaces/kube-system/configmaps/kubeadm-config"]["data"][
            "ClusterConfiguration"])["kubernetesVersion"]


@pytest.fixture()
def kubeadm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The stand-in as the 1.37.1 package builds it, under a scratch root; static pods 'restart' at once."""
    sys.path.insert(0, str(NODE))
    try:
        module = importlib.import_module("kubeadm")
        monkeypatch.setattr(module.standin, "KUBE_VERSION", "1.37.1")
        monkeypatch.setattr(module.standin, "LOG", tmp_path / "standin.log")
        monkeypatch.setattr(module, "ROOT", tmp_path / "root")
        waited: list[str] = []
        monkeypatch.setattr(module, "wait_static_pod", lambda name, text, timeout: waited.append(name))
        module.waited = waited
        manifests = tmp_path / "root" / "etc/kubernetes/manifests"
        manifests.mkdir(parents=True)
        for name, image in (("etcd", "etcd:3.6.8-0"), ("kube-apiserver", "kube-apiserver:v1.36.4"),
                            ("kube-controller-manager", "kube-controller-manager:v1.36.4"),
                            ("kube-scheduler", "kube-scheduler:v1.36.4")):
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "kube-system"},
                   "spec": {"containers": [{"name": name, "image": f"registry.k8s.io/{image}",
                                            "command": [name, "--v=0"]}]}}
            (manifests / f"{name}.yaml").write_text(yaml.safe_dump(pod, sort_keys=False))
        kubelet = tmp_path / "root" / "var/lib/kubelet"
        kubelet.mkdir(parents=True)
        (kubelet / "config.yaml").write_text(yaml.safe_dump({"containerRuntimeEndpoint": "unix:///run/c.sock"}))
        (tmp_path / "root" / "etc/kubernetes/admin.conf").write_text("stand-in")
        yield module
    finally:
        sys.path.remove(str(NODE))


def use(kubeadm: Any, monkeypatch: pytest.MonkeyPatch, api: Api) -> None:
    monkeypatch.setattr(kubeadm, "kube", lambda path: api)


def image(kubeadm: Any, name: str) -> str:
    pod = yaml.safe_load((kubeadm.ROOT / f"etc/kubernetes/manifests/{name}.yaml").read_text())
    return pod["spec"]["containers"][0]["image"]


@pytest.mark.parametrize("cluster,kubeadm_v,new,kubelets,mandatory,skippable", [
    ("v1.36.4", "v1.37.1", "v1.37.1", ["v1.36.4"], [], []),
    ("v1.35.9", "v1.37.1", "v1.37.1", ["v1.35.9"],
     ['Specified version to upgrade to "v1.37.1" is too high; kubeadm can upgrade only 1 minor version at a time'],
     ["There are kubelets in this cluster that are too old that have these versions [v1.35.9]"]),
    ("v1.36.4", "v1.36.4", "v1.37.1", ["v1.36.4"],
     ['Specified version to upgrade to "v1.37.1" is at least one minor release higher than the kubeadm minor '
      "release (37 > 36). Such an upgrade is not supported"], []),
    ("v1.37.0", "v1.37.0", "v1.37.1", ["v1.37.0"], [],
     ['Specified version to upgrade to "v1.37.1" is higher than the kubeadm version "v1.37.0". Upgrade kubeadm '
      "first using the tool you used to install kubeadm"]),
    ("v1.36.4", "v1.37.1", "v1.36.4", ["v1.36.4"], [],
     ["Kubeadm version v1.37.1 can only be used to upgrade to Kubernetes version 1.37"]),
    ("v1.37.1", "v1.37.1", "v1.35.9", ["v1.37.1"],
     ['Specified version to upgrade to "v1.35.9" is equal to or lower than the minimum supported version '
      '"v1.37.1". Please specify a higher version to upgrade to',
      'Specified version to downgrade to "v1.35.9" is too low; kubeadm can downgrade only 1 minor version at a time'],
     ["Kubeadm version v1.37.1 can only be used to upgrade to Kubernetes version 1.37"]),
])
def test_version_policy_is_upstreams(kubeadm: Any, cluster: str, kubeadm_v: str, new: str, kubelets: list[str],
                                     mandatory: list[str], skippable: list[str]) -> None:
    assert kubeadm.version_policy(cluster, kubeadm_v, new, kubelets) == (mandatory, skippable)


def test_apply_upgrades_the_control_plane_in_order(kubeadm: Any, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    api = Api("v1.36.4", ["v1.36.4", "v1.36.4"])
    use(kubeadm, monkeypatch, api)
    assert kubeadm.main(["upgrade", "apply", "v1.37.1", "-y"]) == 0
    assert kubeadm.waited == ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert image(kubeadm, "kube-apiserver") == "registry.k8s.io/kube-apiserver:v1.37.1"
    assert image(kubeadm, "etcd") == "registry.k8s.io/etcd:3.7.0-0"  # constants.go etcd of 1.37
    assert api.version() == "v1.37.1"
    assert api.objects["/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy"]["spec"]["template"]["spec"][
        "containers"][0]["image"] == "registry.k8s.io/kube-proxy:v1.37.1"
    config = yaml.safe_load((kubeadm.ROOT / "var/lib/kubelet/config.yaml").read_text())
    assert config == {"kind": "KubeletConfiguration", "cgroupDriver": "systemd",
                      "containerRuntimeEndpoint": "unix:///run/c.sock"}
    assert list((kubeadm.ROOT / "etc/kubernetes/tmp").glob("kubeadm-backup-manifests-*/kube-apiserver.yaml"))
    out = capsys.readouterr().out
    assert '[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v1.37.1".' in out
    # Again at the same version: allowed, nothing to rewrite.
    kubeadm.waited.clear()
    assert kubeadm.main(["upgrade", "apply", "v1.37.1", "--yes"]) == 0
    assert kubeadm.waited == []


def test_apply_refuses_two_minors_and_asks_without_yes(kubeadm: Any, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    api = Api("v1.35.9", ["v1.35.9"])
    use(kubeadm, monkeypatch, api)
    assert kubeadm.main(["upgrade", "apply", "v1.37.1", "-y", "--force"]) == 1
    err = capsys.readouterr().err
    assert "is too high; kubeadm can upgrade only 1 minor version at a time" in err and "fatal errors" in err
    assert image(kubeadm, "kube-apiserver").endswith(":v1.36.4") and api.version() == "v1.35.9"
    api = Api("v1.36.4", ["v1.36.4"])
    use(kubeadm, monkeypatch, api)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert kubeadm.main(["upgrade", "apply", "v1.37.1"]) == 1
    assert "won't proceed; the user didn't answer (Y|y) in order to continue" in capsys.readouterr().err
    assert kubeadm.main(["upgrade", "apply", "-y"]) == 1
    assert "missing one or more required arguments. Required arguments: [version]" in capsys.readouterr().err


def test_the_cluster_version_of_the_policy_is_the_api_servers_not_kubeadm_configs(
        kubeadm: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # versiongetter.go ClusterVersion: client.Discovery().ServerVersion(), the /version of the server answering.
    use(kubeadm, monkeypatch, Api("v1.36.4", ["v1.36.4"], server="v1.35.9"))
    assert kubeadm.main(["upgrade", "apply", "v1.37.1", "-y"]) == 1
    err = capsys.readouterr().err
    assert "fatal errors" in err and 'upgrade to "v1.37.1" is too high' in err
    assert image(kubeadm, "kube-apiserver").endswith(":v1.36.4")
    use(kubeadm, monkeypatch, Api("v1.35.9", ["v1.36.4"], server="v1.36.4"))
    assert kubeadm.main(["upgrade", "plan", "v1.37.1"]) == 0
    assert "[upgrade/versions] Cluster version: v1.36.4" in capsys.readouterr().out


def test_apply_to_a_newer_patch_than_kubeadm_needs_force(kubeadm: Any, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    use(kubeadm, monkeypatch, Api("v1.37.1", ["v1.37.1"]))
    assert kubeadm.main(["upgrade", "apply", "v1.37.2", "-y"]) == 1
    assert "Can be bypassed if you pass the --force flag" in capsys.readouterr().err


def test_node_follows_the_clusters_version(kubeadm: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api = Api("v1.37.1", ["v1.37.1", "v1.36.4"])
    use(kubeadm, monkeypatch, api)
    assert kubeadm.main(["upgrade", "node"]) == 0
    assert image(kubeadm, "kube-scheduler") == "registry.k8s.io/kube-scheduler:v1.37.1"
    # A worker (no manifests): only the kubelet configuration.
    for manifest in (kubeadm.ROOT / "etc/kubernetes/manifests").iterdir():
        manifest.unlink()
    kubeadm.waited.clear()
    assert kubeadm.main(["upgrade", "node"]) == 0 and kubeadm.waited == []


def test_node_with_an_older_kubeadm_is_refused(kubeadm: Any, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(kubeadm.standin, "KUBE_VERSION", "1.36.4")
    use(kubeadm, monkeypatch, Api("v1.37.1", ["v1.37.1"]))
    assert kubeadm.main(["upgrade", "node"]) == 1
    assert "at least one minor release higher than the kubeadm minor release (37 > 36)" in capsys.readouterr().err
    assert image(kubeadm, "kube-apiserver").endswith(":v1.36.4")


def test_unknown_upgrade_flags_fail_like_cobra(kubeadm: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert kubeadm.main(["upgrade", "node", "--yes"]) == 1
    assert "unknown flag: --yes" in capsys.readouterr().err


def test_kubelet_runs_control_plane_pods_at_their_images_version() -> None:
    sys.path.insert(0, str(NODE))
    try:
        kubelet = importlib.import_module("kubelet")
        pod = {"spec": {"containers": [{"image": "registry.k8s.io/kube-apiserver:v1.36.4",
                                        "command": ["kube-apiserver", "--secure-port=6443"]}]}}
        cmd = kubelet.command_for(pod)
        assert cmd[:2] == ["/usr/bin/env", "K8S_STANDIN_VERSION=1.36.4"] and cmd[-1] == "--secure-port=6443"
    finally:
        sys.path.remove(str(NODE))
