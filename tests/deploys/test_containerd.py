"""containerd: upstream release archives checked against pinned digests; config by major version."""

from __future__ import annotations

import tomllib

import pytest

from deploys import containerd, model
from tests import plan


@pytest.mark.parametrize(("version", "schema"), [("1.7.34", 2), ("2.3.4", 3), ("2.2.7", 3)])
def test_schema_by_major_version(version: str, schema: int) -> None:
    assert containerd.config_version(version) == schema


def test_v3_config(test_plan: plan.Plan) -> None:
    config = tomllib.loads(plan.uploads(test_plan, "k8s-test-worker0")["/etc/containerd/config.toml"].decode())
    assert config["version"] == 3
    runtime = config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
    assert runtime["options"] == {"SystemdCgroup": True, "BinaryName": "/usr/local/sbin/runc"}
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10.2"
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"


def test_v2_config_for_containerd_1(private: dict) -> None:
    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py", kube_version="1.35.9", containerd_version="1.7.34", **private
    )
    config = tomllib.loads(plan.uploads(plan.run(inv), "k8s-test-worker0")["/etc/containerd/config.toml"].decode())
    cri = config["plugins"]["io.containerd.grpc.v1.cri"]
    assert config["version"] == 2 and cri["sandbox_image"] == "registry.k8s.io/pause:3.10.1"
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is True


def test_release_archives_verified_before_install(test_plan: plan.Plan) -> None:
    commands = test_plan.commands("k8s-test-worker1")
    fetch = next(c for c in commands if "containerd-2.3.4-linux-amd64.tar.gz" in c and "curl" in c)
    assert "https://github.com/containerd/containerd/releases/download/v2.3.4/containerd-2.3.4-linux-amd64.tar.gz" in fetch
    assert model.CHECKSUMS[("containerd", "2.3.4", "amd64")] in fetch and "sha256sum --quiet -c -" in fetch
    assert fetch.index("sha256sum") < fetch.index("&& mv")  # unpacked only once verified
    assert any("runc.amd64" in c for c in commands) and not any("cni-plugins" in c for c in commands)
    (install,) = [c for c in commands if "tar -xzf" in c and "/usr/local/bin" in c]
    stamp = "&& touch /var/lib/kubeadm-pyinfra/containerd-2.3.4.done"
    assert install.endswith(stamp) and install.index("tar -xzf") < install.index(stamp)  # "done" only after success


def test_arm64_hosts_get_arm64_archives(private: dict) -> None:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "arch=arm64"]}
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private)
    commands = plan.run(inv).commands("k8s-test-worker0")
    assert any(model.CHECKSUMS[("runc", "1.4.3", "arm64")] in c and "runc.arm64" in c for c in commands)


def test_distribution_containerd_replaced(private: dict) -> None:
    """A host running Debian's containerd 1.6 gets the pinned release, and its kubelet follows."""
    responses = {
        **plan.fresh_host(),
        "/proc/swaps": ["iface=eth0", "package containerd 1.6.20~ds1-1+deb12u3 hold ok installed",
                        "unit Id=kubelet.service", "unit ActiveState=active", "unit UnitFileState=enabled", "unit "],
    }
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private)
    commands = plan.run(inv).commands("k8s-test-worker0")
    remove = next(i for i, c in enumerate(commands) if "apt-get" in c and "remove -y containerd" in c)
    install = next(i for i, c in enumerate(commands) if "containerd-2.3.4-linux" in c)
    restart = commands.index("systemctl restart containerd")
    assert remove < install < restart < commands.index("systemctl restart kubelet")


def test_restart_only_when_something_changed(test_plan: plan.Plan) -> None:
    commands = test_plan.commands("k8s-test-worker1")
    config = next(i for i, c in enumerate(commands) if c.endswith("install -m 644 /dev/null /etc/containerd/config.toml"))
    assert commands.index("systemctl restart containerd") > config
    assert "systemctl restart kubelet" not in commands  # no kubelet was running on the old runtime


def test_crictl_configured_for_containerd(test_plan: plan.Plan) -> None:
    crictl = plan.uploads(test_plan, "k8s-test-worker2")["/etc/crictl.yaml"].decode()
    assert "runtime-endpoint: unix:///run/containerd/containerd.sock" in crictl


@pytest.mark.parametrize(
    ("mirror", "host", "override"),
    [("https://mirror.example:5000", "https://mirror.example:5000", False),
     ("https://harbor.example/v2/{registry}", "https://harbor.example/v2/quay.io", True)],
)
def test_one_mirror_for_every_registry(private: dict, mirror: str, host: str, override: bool) -> None:
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", registry_mirror=mirror, **private)
    files = plan.uploads(plan.run(inv), "k8s-test-worker0")
    for registry, server in containerd.MIRRORED_REGISTRIES.items():
        hosts = tomllib.loads(files[f"/etc/containerd/certs.d/{registry}/hosts.toml"].decode())
        assert hosts["server"] == server
        (entry,) = hosts["host"].items()
        assert entry[0] == host.replace("quay.io", registry)
        assert entry[1]["capabilities"] == ["pull", "resolve"] and entry[1].get("override_path", False) is override


def test_unsupported_pair_accepted_only_when_asked(private: dict) -> None:
    from deploys import components

    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py", kube_version="1.37.1", containerd_version="2.1.9",
        containerd_sha256="a" * 64, allow_unsupported_containerd=True, **private,
    )
    assert model.build(inv, components.defaults(), write_secrets=False).setting("containerd_version") == "2.1.9"


def test_unsupported_pair_refused(private: dict) -> None:
    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py", kube_version="1.36.4", containerd_version="1.7.34", **private
    )
    with pytest.raises(model.ClusterConfigError, match=r"containerd_version'.*1.7.34 does not support Kubernetes 1.36.4"):
        model.build(inv, __import__("deploys.components", fromlist=["x"]).defaults(), write_secrets=False)
