"""Our inventory -> kubespray inventory directory: read back by the real `ansible-inventory`, passed by
kubespray v2.31.0's own inventory checks (re-implemented in interop.kubespray_release); round trips."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from interop.exporter import export_inventory, load_cluster
from interop.importer import import_inventory
from interop.kubespray import main, write_pyinfra
from interop.report import KubesprayError
from tests.interop.helpers import FIXTURES, REPO, group_hosts, kubespray_accepts, summary, write_tree

TEST_WORKERS = ["k8s-test-worker0", "k8s-test-worker1", "k8s-test-worker2", "k8s-test-worker3"]
PROD_CPS = ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
PROD_WORKERS = ["k8s-worker-node0", "k8s-worker-node1", "k8s-worker-node2"]
INVENTORY_FILE = {"ini": "inventory.ini", "yaml": "hosts.yaml"}
WORKER = {"ssh_hostname": "w.example.com", "node_ip": "10.2.0.21", "ssh_port": 2200, "ssh_key": "~/.ssh/k"}
# A version both this deploy (1.35-1.37) and kubespray v2.31.0 (1.33.0-1.35.4) install.
KUBE = "1.35.4"
PINNED = "keys '*_version'"  # containerd/runc/CNI are kubespray's own: always stated
CALICO = "key 'calico_version'"  # ours is newer than kubespray v2.31.0's 3.31.5: stated


@pytest.fixture
def kube(tmp_path: Path) -> list[Path]:
    """Extra group data (as `--group-data`) that sets kube_version to one kubespray v2.31.0 installs."""
    write_tree(tmp_path / "gd", {"all.py": f"kube_version = {KUBE!r}\n"})
    return [tmp_path / "gd"]


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _subjects(warnings: list[Any]) -> list[str]:
    return [w.subject for w in warnings]


def _check_groups(listing: dict[str, Any], cps: list[str], nodes: list[str]) -> None:
    """kube_control_plane, kube_node, etcd (= the control planes), k8s_cluster's children: exactly these."""
    assert group_hosts(listing, "kube_control_plane") == cps
    assert group_hosts(listing, "etcd") == cps
    assert group_hosts(listing, "kube_node") == nodes
    assert sorted(listing["k8s_cluster"]["children"]) == ["calico_rr", "kube_control_plane", "kube_node"]
    assert sorted(listing["_meta"]["hostvars"]) == sorted(dict.fromkeys(cps + nodes))


# ------------------------------------------------------------------ Task 1


@pytest.mark.parametrize("fmt", ["ini", "yaml"])
def test_task1_exports_exactly_what_kubespray_expects(tmp_path: Path, fmt: str, kube: list[Path]) -> None:
    """The seed's Task 1: 1 control plane + 4 workers, containerd, etcd on the control plane."""
    out = tmp_path / "mycluster"
    exported = export_inventory(REPO / "inventories" / "test.py", out, fmt, kube)
    assert _subjects(exported.warnings) == [CALICO, PINNED]
    assert sorted(str(p.relative_to(out)) for p in exported.files) == sorted(
        [
            INVENTORY_FILE[fmt],
            "group_vars/all/all.yml",
            "group_vars/k8s_cluster/k8s-cluster.yml",
            "group_vars/k8s_cluster/k8s-net-calico.yml",
        ]
    )
    assert _yaml(out / "group_vars/k8s_cluster/k8s-cluster.yml") == {
        "kube_version": KUBE,  # point 1: X.Y.Z, the form kubespray 2.28+ accepts
        "kube_network_plugin": "calico",
        "container_manager": "containerd",
        "kube_pods_subnet": "10.244.0.0/16",
        "kube_service_addresses": "10.96.0.0/12",
        "kube_apiserver_port": 6443,
        "cluster_name": "test",
        "dns_domain": "cluster.local",
        "kube_image_repo": "registry.k8s.io",
        "kube_proxy_mode": "iptables",
    }
    assert _yaml(out / "group_vars/k8s_cluster/k8s-net-calico.yml") == {
        "calico_ipip_mode": "Never",
        "calico_vxlan_mode": "CrossSubnet",
    }
    assert _yaml(out / "group_vars/all/all.yml") == {"etcd_deployment_type": "host"}  # one control plane: no LB

    listing = kubespray_accepts(out, tmp_path)
    _check_groups(listing, ["k8s-test-cp0"], TEST_WORKERS)
    assert group_hosts(listing, "calico_rr") == []
    cp0 = listing["_meta"]["hostvars"]["k8s-test-cp0"]
    assert cp0 == {
        "ansible_host": "192.168.10.10",
        "ip": "192.168.10.10",
        "access_ip": "192.168.10.10",
        "ansible_user": "root",
        **_yaml(out / "group_vars/k8s_cluster/k8s-cluster.yml"),
        **_yaml(out / "group_vars/k8s_cluster/k8s-net-calico.yml"),
        "etcd_deployment_type": "host",
    }
    worker3 = listing["_meta"]["hostvars"]["k8s-test-worker3"]
    assert (worker3["ansible_host"], worker3["ip"], worker3["ansible_user"]) == (
        "192.168.10.23",
        "192.168.10.23",
        "root",
    )


# ---------------------------------------------------------------------- HA


@pytest.mark.parametrize("fmt", ["ini", "yaml"])
def test_ha_exports_the_vip_as_loadbalancer_apiserver(tmp_path: Path, fmt: str, kube: list[Path]) -> None:
    out = tmp_path / "prod"
    exported = export_inventory(REPO / "inventories" / "prod.py", out, fmt, kube)
    assert _yaml(out / "group_vars/all/all.yml") == {
        "etcd_deployment_type": "host",
        "loadbalancer_apiserver": {"address": "192.168.11.230", "port": 16443},
        "loadbalancer_apiserver_localhost": False,
    }
    assert [str(w) for w in exported.warnings if w.subject == "key 'vip'"] == [
        "key 'vip': kubespray does not run keepalived or HAProxy: 192.168.11.230:16443 must answer before "
        "kubespray's kubeadm init (our keepalived + HAProxy, or a load balancer of yours, forwarding to port 6443 "
        "of every control plane)"
    ]
    listing = kubespray_accepts(out, tmp_path)
    _check_groups(listing, PROD_CPS, PROD_WORKERS)
    node = listing["_meta"]["hostvars"]["k8s-master-node1"]
    assert node["loadbalancer_apiserver"] == {"address": "192.168.11.230", "port": 16443}
    assert (node["ip"], node["kube_version"], node["cluster_name"]) == ("192.168.11.221", KUBE, "prod")


def _our_inventory(tmp_path: Path, name: str, cluster_data: str, host_extra: str = "") -> Path:
    """A 3 + 1 inventory of ours (file + group data beside it), at a Kubernetes version kubespray installs."""
    hosts = "\n".join(
        f'    ("{n}", {{"ssh_hostname": "10.2.0.{i}", "node_ip": "10.2.0.{i}"{host_extra}}}),'
        for i, n in ((11, "cp-a"), (12, "cp-b"), (13, "cp-c"))
    )
    write_tree(
        tmp_path,
        {
            f"{name}.py": f'control_plane = [\n{hosts}\n]\nworkers = [("wk-a", {WORKER})]\n',
            f"group_data/{name}.py": f"kube_version = {KUBE!r}\n" + cluster_data,
        },
    )
    return tmp_path / f"{name}.py"


def test_external_endpoint_with_a_dns_name_writes_its_address(tmp_path: Path) -> None:
    """Point 7: kubespray reads loadbalancer_apiserver.address (kubeconfig, certificate): it is written."""
    path = _our_inventory(
        tmp_path,
        "ext",
        'cluster_name = "ext"\napi_load_balancer = "external"\ncontrol_plane_endpoint = "api.example.com:443"\n',
    )
    out = tmp_path / "out"
    exported = export_inventory(path, out, "yaml")
    assert _yaml(out / "group_vars/all/all.yml") == {
        "etcd_deployment_type": "host",
        "apiserver_loadbalancer_domain_name": "api.example.com",
        "loadbalancer_apiserver": {"address": "api.example.com", "port": 443},
        "loadbalancer_apiserver_localhost": False,
    }
    assert _subjects(exported.warnings) == [CALICO, PINNED]
    listing = kubespray_accepts(out, tmp_path)
    worker = listing["_meta"]["hostvars"]["wk-a"]
    assert (worker["ansible_host"], worker["ansible_port"], worker["ansible_ssh_private_key_file"]) == (
        "w.example.com",
        2200,
        "~/.ssh/k",
    )
    assert "ansible_user" not in worker


def test_connection_settings_are_exported_or_named(tmp_path: Path) -> None:
    """Point 7: passwords, sudo and its password become Ansible's variables; the rest is named, never shown."""
    data = (
        'vip = "10.2.0.100"\nssh_user = "ops"\nssh_password = "s3cret pass"\n_sudo = True\n_sudo_password = "s3cret sudo"\n'
        '_sudo_user = "root"\nssh_known_hosts_file = "~/.ssh/known_cluster"\n'
    )
    path = _our_inventory(tmp_path, "conn", data)
    out = tmp_path / "out"
    exported = export_inventory(path, out, "ini")
    listing = kubespray_accepts(out, tmp_path)
    worker = listing["_meta"]["hostvars"]["wk-a"]
    assert {k: v for k, v in worker.items() if k.startswith("ansible_")} == {
        "ansible_host": "w.example.com",
        "ansible_user": "ops",
        "ansible_port": 2200,
        "ansible_ssh_private_key_file": "~/.ssh/k",
        "ansible_password": "s3cret pass",
        "ansible_become": True,
        "ansible_become_user": "root",
        "ansible_become_password": "s3cret sudo",
    }
    text = "\n".join(str(w) for w in exported.warnings)
    assert "host 'wk-a': connection setting(s) with no kubespray inventory variable, not exported: " in text
    assert "ssh_known_hosts_file" in text and "key 'ssh_password': written in plain text" in text
    assert "s3cret" not in text
    again = import_inventory(out)  # and back: the same connection data
    assert {k: v for k, v in dict(again.workers)["wk-a"].items() if k != "node_ip"} == {
        "ssh_hostname": "w.example.com",
        "ssh_user": "ops",
        "_sudo": True,
        "ssh_port": 2200,
        "ssh_key": "~/.ssh/k",
        "ssh_password": "s3cret pass",
        "_sudo_password": "s3cret sudo",
    }


def test_schedulable_control_planes_and_extra_sans_are_exported(tmp_path: Path) -> None:
    """Points 3 and 8: control planes in kube_node too; apiserver_cert_sans -> supplementary_addresses_in_ssl_keys."""
    data = (
        'vip = "10.2.0.100"\ncontrol_plane_schedulable = True\n'
        'apiserver_cert_sans = ["203.0.113.50", "k8s.example.com"]\n'
    )
    path = _our_inventory(tmp_path, "sched", data)
    out = tmp_path / "out"
    export_inventory(path, out, "yaml")
    listing = kubespray_accepts(out, tmp_path)
    _check_groups(listing, ["cp-a", "cp-b", "cp-c"], ["cp-a", "cp-b", "cp-c", "wk-a"])
    assert listing["_meta"]["hostvars"]["cp-b"]["supplementary_addresses_in_ssl_keys"] == [
        "203.0.113.50",
        "k8s.example.com",
    ]
    again = import_inventory(out)
    assert (again.cluster.control_plane_schedulable, again.cluster.extra_cert_sans) == (
        True,
        ("203.0.113.50", "k8s.example.com"),
    )


def test_what_kubespray_cannot_express_is_reported(tmp_path: Path) -> None:
    data = (
        'cluster_name = "odd"\nvip = "10.2.0.100"\nkeepalived_router_id = 77\nhaproxy_stats_port = 1090\n'
        'node_network = "10.2.0.0/16"\ncalico_encapsulation = "IPIP"\ncalico_version = "v3.30.3"\n'
    )
    path = _our_inventory(tmp_path, "odd", data, ', "keepalived_interface": "eth1"')
    out = tmp_path / "out"
    exported = export_inventory(path, out)
    text = "\n".join(str(w) for w in exported.warnings)
    for part in (
        "key 'keepalived_router_id': 77",
        "key 'haproxy_stats_port': 1090",
        "key 'node_network'",
        "host 'cp-a': keepalived_interface",
        "containerd ",
    ):
        assert part in text
    assert _yaml(out / "group_vars/k8s_cluster/k8s-net-calico.yml") == {
        "calico_ipip_mode": "Always",
        "calico_vxlan_mode": "Never",
        "calico_network_backend": "bird",  # kubespray's IPIP needs bird (docs/CNI/calico.md)
        "calico_version": "3.30.3",  # one kubespray v2.31.0 installs: carried over
    }
    kubespray_accepts(out, tmp_path)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.37.1", "kube_version 1.37.1: kubespray v2.31.0, its newest release, installs only 1.33.0-1.33.11, "),
        ("1.35.9", "kube_version 1.35.9: kubespray v2.31.0"),
    ],
)
def test_a_kubernetes_version_kubespray_does_not_install_is_not_exported(
    tmp_path: Path, version: str, expected: str
) -> None:
    """Point 1: exported only when the target release accepts it; the message says which versions it does."""
    path = _our_inventory(tmp_path, "new", f"kube_version = {version!r}\nvip = '10.2.0.100'\n")
    with pytest.raises(KubesprayError, match=None) as caught:
        export_inventory(path, tmp_path / "out")
    assert expected in str(caught.value)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(("name", "fmt"), [("test", "ini"), ("prod", "yaml")])
def test_ours_export_import_is_the_same_cluster(tmp_path: Path, name: str, fmt: str, kube: list[Path]) -> None:
    path = REPO / "inventories" / f"{name}.py"
    export_inventory(path, tmp_path / "ks", fmt, kube)
    kubespray_accepts(tmp_path / "ks", tmp_path)
    imported = import_inventory(tmp_path / "ks")
    assert summary(imported.cluster) == summary(load_cluster(path, kube)[1])
    assert all(data["ssh_user"] == "root" for _, data in imported.control_planes + imported.workers)
    expected = ["key 'etcd_deployment_type'"] + ([] if name == "test" else ["key 'loadbalancer_apiserver'"])
    assert _subjects(imported.warnings) == expected  # etcd as a service vs. kubeadm's, the VIP reading: stated


@pytest.mark.parametrize("fixture", ["task1", "ha-yaml", "legacy/hosts.ini", "homework", "terraform-aws"])
def test_import_export_import_round_trips(tmp_path: Path, fixture: str) -> None:
    """kubespray -> ours (files) -> kubespray -> ours: same nodes, roles, IPs, SSH data and cluster data; every
    export accepted by kubespray's checks and by ansible-inventory."""
    first = import_inventory(FIXTURES / fixture)
    files = write_pyinfra(first, tmp_path / "ours", "rt")
    out = tmp_path / "ks"
    export_inventory(files[0], out, "yaml" if "yaml" in fixture else "ini")
    kubespray_accepts(out, tmp_path)
    second = import_inventory(out)
    assert summary(second.cluster) == summary(first.cluster)
    assert [(h.name, h.role, h.data) for h in second.hosts] == [(h.name, h.role, h.data) for h in first.hosts]


def test_overwrites_need_force_and_a_format_switch_removes_the_other_file(tmp_path: Path, kube: list[Path]) -> None:
    out = tmp_path / "ks"
    export_inventory(REPO / "inventories" / "test.py", out, "ini", kube)
    with pytest.raises(KubesprayError, match="pass --force"):
        export_inventory(REPO / "inventories" / "test.py", out, "yaml", kube)
    export_inventory(REPO / "inventories" / "test.py", out, "yaml", kube, force=True)
    assert (out / "hosts.yaml").is_file() and not (out / "inventory.ini").exists()


def test_invalid_inventories_are_not_exported(tmp_path: Path) -> None:
    path = _our_inventory(tmp_path, "bad", 'pod_cidr = "10.2.0.0/16"\nvip = "10.2.0.100"\n')
    with pytest.raises(KubesprayError, match="not exported, the cluster is invalid"):
        export_inventory(path, tmp_path / "out")
    with pytest.raises(KubesprayError, match="no such inventory file"):
        export_inventory(tmp_path / "missing.py", tmp_path / "out")


def test_cli_export(tmp_path: Path, kube: list[Path]) -> None:
    command = ["export", "inventories/prod.py", "--out", str(tmp_path / "ks"), "--format", "yaml"]
    result = subprocess.run(
        [sys.executable, "-m", "interop.kubespray", *command, "--group-data", str(kube[0])],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"wrote {tmp_path / 'ks' / 'hosts.yaml'}" in result.stdout
    assert "warning: key 'vip'" in result.stderr
    assert main(["export", str(tmp_path / "nope.py"), "--out", str(tmp_path / "x")]) == 2
    assert main(["export", "inventories/prod.py", "--out", str(tmp_path / "y")]) == 2  # 1.37: no kubespray has it
    assert not (tmp_path / "y").exists()
