"""The whole deploy, planned and run on @fake hosts: per-role work, cross-host order, idempotence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import plan

CONTROL_PLANES = ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
WORKERS = ["k8s-worker-node0", "k8s-worker-node1", "k8s-worker-node2"]
EXTRA_FILES = [
    "/etc/apt/keyrings/kubernetes-apt-keyring.asc",
    "/etc/kubernetes/addons/tigera-operator-v3.31.7.yaml",
    "/etc/kubernetes/addons/calico-crds-v3.31.7.yaml",
]


def test_every_host_prepared_and_given_packages(prod_plan: plan.Plan) -> None:
    everyone = CONTROL_PLANES + WORKERS
    for step in ("Swap off", "sysctls applied", "containerd 2.3.4 installed", "kubelet, kubeadm, kubectl", "kubelet enabled"):
        assert prod_plan.hosts_of(step) == everyone, step
    commands = prod_plan.commands("k8s-worker-node2")
    assert "swapoff -a" in commands
    assert any(" install -y " in c and "kubelet=1.37.1-1.1 kubeadm=1.37.1-1.1 kubectl=1.37.1-1.1 cri-tools=1.37.0-1.1" in c for c in commands)
    assert "apt-mark hold kubelet kubeadm kubectl cri-tools" in commands


def test_roles_in_ha_shape(prod_plan: plan.Plan) -> None:
    assert prod_plan.hosts_of("keepalived configuration") == CONTROL_PLANES
    assert prod_plan.hosts_of("kubeadm init") == CONTROL_PLANES[:1]
    assert prod_plan.hosts_of("Control plane joins") == CONTROL_PLANES[1:]
    assert prod_plan.hosts_of("Worker joins") == WORKERS
    assert prod_plan.hosts_of("Calico Installation applied") == CONTROL_PLANES[:1]


def test_roles_in_single_control_plane_shape(test_plan: plan.Plan) -> None:
    assert test_plan.hosts_of("keepalived configuration") == []
    assert test_plan.hosts_of("kubeadm init") == ["k8s-test-cp0"]
    assert len(test_plan.hosts_of("Worker joins")) == 4


@pytest.mark.parametrize("shape", ["prod_plan", "test_plan"])
def test_init_before_joins_before_calico(shape: str, request: pytest.FixtureRequest) -> None:
    p: plan.Plan = request.getfixturevalue(shape)
    init = p.index("kubeadm init")
    assert init < p.index("Control plane joins") < p.index("Worker joins") < p.index("tigera-operator applied")
    assert p.index("HAProxy enabled") < init and p.index("keepalived enabled") < init


def test_repository_for_the_minor_release(test_plan: plan.Plan) -> None:
    source = plan.uploads(test_plan, "k8s-test-worker3")["/etc/apt/sources.list.d/kubernetes.list"].decode()
    assert source == (
        "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.asc] https://pkgs.k8s.io/core:/stable:/v1.37/deb/ /\n"
    )
    assert any("https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key" in c for c in test_plan.commands("k8s-test-cp0"))


def test_repository_mirror(private: dict[str, Any]) -> None:
    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py",
        kube_apt_repo_url="http://mirror.local/k8s/core:/stable:/v{minor}/deb/",
        kube_apt_key_url="http://mirror.local/keys/k8s.asc",
        **private,
    )
    p = plan.run(inv)
    assert "http://mirror.local/k8s/core:/stable:/v1.37/deb/ /" in plan.uploads(p, "k8s-test-cp0")["/etc/apt/sources.list.d/kubernetes.list"].decode()
    assert any("http://mirror.local/keys/k8s.asc" in c for c in p.commands("k8s-test-cp0"))


def test_node_ip_for_kubelet(prod_plan: plan.Plan) -> None:
    for i, name in enumerate(CONTROL_PLANES + WORKERS):
        assert plan.uploads(prod_plan, name)["/etc/default/kubelet"] == f"KUBELET_EXTRA_ARGS=--node-ip=192.168.11.{220 + i}\n".encode()


def test_secrets_never_in_commands(prod_plan: plan.Plan) -> None:
    secrets = list(prod_plan.cluster.secrets.values()) + ["abcdef.0123456789abcdef", plan.CERT_KEY]
    for name in CONTROL_PLANES + WORKERS:
        for command in prod_plan.commands(name):
            assert not any(secret in command for secret in secrets), command


def test_kubeconfig_fetched_private(prod_plan: plan.Plan, private: dict[str, Any]) -> None:
    path = Path(private["kubeconfig_path"])
    assert prod_plan.hosts_of("Admin kubeconfig") == ["k8s-master-node0"]
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def converged(p: plan.Plan, private: dict[str, Any], inventory_file: str) -> plan.Plan:
    """A second run whose hosts answer as the first run left them."""
    kubeconfig = Path(private["kubeconfig_path"]).read_bytes()
    inv = plan.from_inventory_file(plan.REPO / "inventories" / inventory_file, **private)
    for host in inv:
        name = host.name.split("/", 1)[1]
        host.data.fake_responses = plan.converged_host(p, name, EXTRA_FILES, kubeconfig)
    return plan.run(inv)


@pytest.mark.parametrize(("shape", "inventory_file"), [("prod_plan", "prod.py"), ("test_plan", "test.py")])
def test_second_run_on_converged_hosts_changes_nothing(
    shape: str, inventory_file: str, private: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    first: plan.Plan = request.getfixturevalue(shape)
    second = converged(first, private, inventory_file)
    assert second.changed == []
    assert all(second.commands(h.name.split("/", 1)[1]) == [] for h in second.state.inventory)


def test_no_op_run_is_one_look_per_host(prod_plan: plan.Plan, private: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """A converged cluster costs one command per host: the NodeFacts look, nothing else."""
    from pyinfra.connectors.fake import FakeConnector

    calls: dict[str, list[str]] = {}
    original = FakeConnector.run_shell_command

    def counting(self: FakeConnector, command: Any, *args: Any, **kwargs: Any) -> Any:
        calls.setdefault(self.host.name, []).append(str(command))
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeConnector, "run_shell_command", counting)
    converged(prod_plan, private, "prod.py")
    assert len(calls) == 6
    assert all(len(commands) == 1 and "/proc/swaps" in commands[0] for commands in calls.values()), calls


def test_interrupted_package_run_is_repaired_first(private: dict[str, Any]) -> None:
    """A run killed during an install left dpkg half-done: the next run configures it first."""
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "dpkg_interrupted"]}
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private)
    commands = plan.run(inv).commands("k8s-test-worker0")
    install = next(i for i, c in enumerate(commands) if " install -y " in c)
    repair = next(i for i, c in enumerate(commands) if "dpkg --configure -a" in c)
    assert repair < install and "sleep 2" in commands[repair]  # waits for a still-running dpkg
    assert "DPkg::Lock::Timeout" in commands[install]


def test_changed_kube_version_on_a_running_cluster_is_refused(private: dict[str, Any]) -> None:
    """Re-pinning packages on joined nodes would skew kubelets past the API server: refused while planning."""
    from deploys import model

    joined = [
        "iface=eth0",
        "package kubeadm 1.36.4-1.1 hold ok installed",
        "mode 600 /etc/kubernetes/kubelet.conf",
        "sha1 " + "1" * 40 + "  /etc/kubernetes/kubelet.conf",
    ]
    responses = {**plan.fresh_host(), "/proc/swaps": joined}
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private)
    with pytest.raises(model.VersionSkewError, match=r"kubeadm 1.36.4-1.1 is installed .* kube_version is 1.37.1: .*deploys/upgrade.py"):
        plan.run(inv)


def test_a_node_not_yet_joined_takes_any_version(private: dict[str, Any]) -> None:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "package kubeadm 1.36.4-1.1 hold ok installed"]}
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private)
    commands = plan.run(inv).commands("k8s-test-worker0")
    assert any("kubeadm=1.37.1-1.1" in c for c in commands)


@pytest.mark.parametrize("os_release", ["debian 12", "debian 13", "ubuntu 22.04", "ubuntu 24.04"])
def test_supported_systems_are_planned(private: dict[str, Any], os_release: str) -> None:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", f"os={os_release}", "cgroup_fs=cgroup2fs"]}
    p = plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private))
    assert not any("error:" in c for c in p.commands("k8s-test-worker0") if "is not supported" in c or "cgroup" in c)
    assert p.hosts_of("kubeadm init") == ["k8s-test-cp0"]


@pytest.mark.parametrize(
    ("facts", "reason"),
    [(["os=centos 9", "cgroup_fs=cgroup2fs"], "centos 9 is not supported"),
     (["os=debian 12", "cgroup_fs=tmpfs"], "/sys/fs/cgroup is tmpfs: Kubernetes 1.35+ needs cgroup v2")],
)
def test_unsupported_host_fails_first_with_the_reason(private: dict[str, Any], facts: list[str], reason: str) -> None:
    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", *facts]}
    p = plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, **private))
    commands = p.commands("k8s-test-worker0")
    assert reason in commands[0] and commands[0].endswith("exit 1")  # the host's first command: it stops there


def test_cgroup_v1_host_kept_only_when_asked(private: dict[str, Any]) -> None:
    import yaml

    responses = {**plan.fresh_host(), "/proc/swaps": ["iface=eth0", "os=debian 12", "cgroup_fs=tmpfs"]}
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", responses=responses, allow_cgroup_v1=True, **private)
    p = plan.run(inv)
    assert not any("cgroup" in c for c in p.commands("k8s-test-worker0") if "error:" in c)
    docs = {d["kind"]: d for d in yaml.safe_load_all(plan.uploads(p, "k8s-test-cp0")["/etc/kubernetes/kubeadm-config.yaml"])}
    assert docs["KubeletConfiguration"]["failCgroupV1"] is False
    assert docs["InitConfiguration"]["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
    join = yaml.safe_load(plan.uploads(p, "k8s-test-worker0")["/etc/kubernetes/kubeadm-join.yaml"])
    assert join["nodeRegistration"]["ignorePreflightErrors"] == ["SystemVerification"]
