"""kubespray inventory -> our hosts, roles and cluster data: mappings, warnings and clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyinfra.api import State
from pyinfra.context import ctx_state
from pyinfra_cli.inventory import make_inventory

from deploys import components, model
from interop.importer import Imported, import_inventory
from interop.kubespray import main
from interop.report import KubesprayError
from tests.interop.helpers import FIXTURES, REPO, summary, write_tree

HOSTS_3_3 = """\
[kube_control_plane]
cp1 ansible_host=10.1.0.11 ip=10.1.0.11
cp2 ansible_host=10.1.0.12 ip=10.1.0.12
cp3 ansible_host=10.1.0.13 ip=10.1.0.13
[etcd:children]
kube_control_plane
[kube_node]
w1 ansible_host=10.1.0.21 ip=10.1.0.21
[k8s_cluster:children]
kube_control_plane
kube_node
"""
ONE_PLUS_ONE = """\
[kube_control_plane]
cp1 ansible_host=10.1.0.11 ip=10.1.0.11
[etcd]
cp1
[kube_node]
w1 ansible_host=10.1.0.21 ip=10.1.0.21
"""


def _messages(findings: list) -> list[str]:
    return [str(f) for f in findings]


def _import_tree(tmp_path: Path, files: dict[str, str], **kwargs: str) -> Imported:
    root = write_tree(tmp_path / "inventory" / "mycluster", files)
    return import_inventory(root, **kwargs)


# ------------------------------------------------------------------ mappings


def test_task1_ini_maps_hosts_roles_and_cluster_data() -> None:
    imported = import_inventory(FIXTURES / "task1")
    cluster = imported.cluster
    assert [(n.name, n.role, n.node_ip) for n in cluster.nodes] == [
        ("k8s-test-cp0", "control_plane", "192.168.10.10"),
        ("k8s-test-worker0", "workers", "192.168.10.20"),
        ("k8s-test-worker1", "workers", "192.168.10.21"),
        ("k8s-test-worker2", "workers", "192.168.10.22"),
        ("k8s-test-worker3", "workers", "192.168.10.23"),
    ]
    assert imported.control_planes == [
        ("k8s-test-cp0", {"node_ip": "192.168.10.10", "ssh_hostname": "192.168.10.10", "ssh_user": "root"})
    ]
    assert imported.cluster_data == {
        "kube_version": "1.35.4",
        "pod_cidr": "10.244.0.0/16",
        "service_cidr": "10.96.0.0/12",
        "cluster_name": "test",
        "dns_domain": "test.local",  # "{{ cluster_name }}.local", evaluated
        "apiserver_port": 6443,
        "calico_encapsulation": "VXLAN",  # kubespray's default: calico_vxlan_mode Always
    }
    assert (cluster.endpoint, cluster.load_balancer, cluster.vip) == ("192.168.10.10:6443", None, None)
    assert _messages(imported.warnings) == [
        "key 'etcd_deployment_type': 'host': etcd runs as kubeadm's static pods on the control planes here, not as "
        "a service",
        "7 variable(s): no equivalent here, ignored: bin_dir, etcd_member_name, kube_apiserver_ip, kube_config_dir, "
        "kube_network_node_prefix, loadbalancer_apiserver_healthcheck_port, loadbalancer_apiserver_port",
    ]


def test_ha_yaml_maps_the_vip_sudo_and_ports() -> None:
    imported = import_inventory(FIXTURES / "ha-yaml" / "hosts.yaml")
    cluster = imported.cluster
    assert [n.name for n in cluster.control_planes] == ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
    assert len(cluster.workers) == 3
    assert (cluster.load_balancer, cluster.vip, cluster.endpoint) == (
        "keepalived",
        "192.168.11.230",
        "192.168.11.230:16443",
    )
    assert (cluster.kube_version, cluster.pod_cidr, cluster.service_cidr) == (
        "1.35.2",
        "10.233.64.0/18",
        "10.233.0.0/18",
    )
    assert (cluster.name, cluster.dns_domain) == ("prod", "prod")  # kubespray: dns_domain defaults to cluster_name
    assert cluster.setting("calico_encapsulation") == "VXLAN"
    worker = dict(imported.workers)["k8s-worker-node0"]
    assert worker == {
        "node_ip": "192.168.11.223",
        "ssh_hostname": "192.168.11.223",
        "ssh_user": "admin",
        "_sudo": True,
        "ssh_port": 2222,
    }
    assert [w.subject for w in imported.warnings] == [
        "key 'kube_proxy_mode'",  # unset: kubespray's ipvs, stated
        "key 'etcd_deployment_type'",
        "key 'loadbalancer_apiserver'",
    ]
    assert "--api-lb external" in str(imported.warnings[-1])


def test_ha_with_api_lb_external_keeps_the_load_balancer_external() -> None:
    cluster = import_inventory(FIXTURES / "ha-yaml", api_lb="external").cluster
    assert (cluster.load_balancer, cluster.vip, cluster.endpoint) == ("external", None, "192.168.11.230:16443")


def test_legacy_vocabulary_and_inventory_variables() -> None:
    imported = import_inventory(FIXTURES / "legacy" / "hosts.ini")
    roles = {n.name: n.role for n in imported.cluster.nodes}
    assert roles == {"node1": "control_plane", "node2": "control_plane", "node3": "control_plane", "node4": "workers"}
    assert imported.cluster.kube_version == "1.35.1"
    assert imported.cluster.endpoint == "10.0.0.100:8443"
    assert imported.cluster.control_plane_schedulable  # node2 is also in kube-node
    assert dict(imported.workers)["node4"]["ssh_user"] == "ubuntu"  # ansible_ssh_user wins, as in Ansible
    assert dict(imported.workers)["node4"]["_sudo"] is True
    assert dict(imported.control_planes)["node1"]["ssh_user"] == "root"
    text = "\n".join(_messages(imported.warnings))
    assert "hosts 'node1', 'node3': control plane not in kube_node, while node2 is" in text
    assert "key 'kube_version': 'v1.35.1' is the form of kubespray 2.27 and older" in text
    assert "key 'kube_proxy_mode': 'ipvs': kube-proxy runs in iptables mode here" in text
    assert "key 'helm_enabled': true in kubespray" in text
    assert "ignored: ansible_python_interpreter" in text


def test_external_load_balancer_with_a_domain_name(tmp_path: Path) -> None:
    vars_all = "loadbalancer_apiserver: {address: 10.1.0.200, port: 6443}\n"
    vars_all += "apiserver_loadbalancer_domain_name: api.example.com\n"
    imported = _import_tree(tmp_path, {"inventory.ini": HOSTS_3_3, "group_vars/all/all.yml": vars_all})
    assert (imported.cluster.load_balancer, imported.cluster.endpoint) == ("external", "api.example.com:6443")
    text = "\n".join(_messages(imported.warnings))
    assert "api.example.com must resolve to 10.1.0.200 on every node and on this machine through your DNS" in text
    assert "kubespray writes /etc/hosts" not in text  # point 9: it stopped in v2.29.0
    assert imported.cluster.extra_cert_sans == ("10.1.0.200",)  # kubespray puts the address in too


def test_load_balancer_on_the_api_port_is_external_in_auto_mode(tmp_path: Path) -> None:
    """Point 8: in the control planes' subnet but on the API port: external, and the import says so and why."""
    vars_all = "kube_version: 1.35.4\nloadbalancer_apiserver: {address: 10.1.0.200, port: 6443}\n"
    imported = _import_tree(tmp_path, {"inventory.ini": HOSTS_3_3, "group_vars/all.yml": vars_all})
    assert (imported.cluster.load_balancer, imported.cluster.endpoint) == ("external", "10.1.0.200:6443")
    assert _messages(imported.warnings)[-1] == (
        "key 'loadbalancer_apiserver': 10.1.0.200:6443 (in the control planes' subnet, but on the API servers' own "
        "port 6443, where HAProxy cannot listen beside them (with --api-lb vip keepalived holds it and HAProxy "
        "listens on 16443)) is read as your own load balancer in front of the API servers (control_plane_endpoint; "
        "kubespray deploys nothing at that address either)."
    )
    vip = _import_tree(tmp_path / "vip", {"inventory.ini": HOSTS_3_3, "group_vars/all.yml": vars_all}, api_lb="vip")
    assert (vip.cluster.load_balancer, vip.cluster.endpoint) == ("keepalived", "10.1.0.200:16443")


def test_kube_vip_becomes_our_vip_on_another_port(tmp_path: Path) -> None:
    vars_all = (  # kubespray v2.31.0 docs/ingress/kube-vip.md
        "kube_vip_enabled: true\nkube_vip_controlplane_enabled: true\nkube_vip_address: 10.1.0.200\n"
        "kube_vip_interface: ens160\nloadbalancer_apiserver:\n  address: '{{ kube_vip_address }}'\n  port: 6443\n"
    )
    imported = _import_tree(tmp_path, {"inventory.ini": HOSTS_3_3, "group_vars/all.yml": vars_all})
    assert (imported.cluster.load_balancer, imported.cluster.endpoint) == ("keepalived", "10.1.0.200:16443")
    assert "10.1.0.200 (kube-vip's control-plane VIP) becomes the VIP" in "\n".join(_messages(imported.warnings))
    assert {n.keepalived_interface for n in imported.cluster.control_planes} == {"ens160"}  # point 8


def test_one_control_plane_with_a_load_balancer_uses_it_as_endpoint(tmp_path: Path) -> None:
    vars_all = "loadbalancer_apiserver: {address: 10.1.0.200, port: 8443}\n"
    imported = _import_tree(tmp_path, {"inventory.ini": ONE_PLUS_ONE, "group_vars/all.yml": vars_all})
    assert (imported.cluster.load_balancer, imported.cluster.endpoint) == (None, "10.1.0.200:8443")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("[calico_rr]\nw1\n", "host 'w1': calico_rr role ignored"),
        ("[bastion]\nbastion ansible_host=1.2.3.4\n", "host 'bastion': the SSH bastion, not a node"),
        ("", "key 'kube_version': not set"),
        ("[all:vars]\nenable_dual_stack_networks=true\n", "key 'enable_dual_stack_networks': ignored"),
        ("[all:vars]\naccess_ip=10.1.0.99\n", "hosts 'cp1', 'w1': access_ip differs from ip"),
        ("[all:vars]\nloadbalancer_apiserver_localhost=true\n", "key 'loadbalancer_apiserver_localhost': ignored"),
    ],
)
def test_warnings_name_what_is_ignored(tmp_path: Path, change: str, expected: str) -> None:
    imported = _import_tree(tmp_path, {"inventory.ini": ONE_PLUS_ONE + change})
    assert expected in "\n".join(_messages(imported.warnings))


def test_no_etcd_group_or_a_control_plane_outside_it_is_a_warning(tmp_path: Path) -> None:
    no_etcd = ONE_PLUS_ONE.replace("[etcd]\ncp1\n", "")
    assert "group 'etcd': missing or empty" in "\n".join(
        _messages(_import_tree(tmp_path / "a", {"hosts": no_etcd}).warnings)
    )
    partial = HOSTS_3_3.replace("[etcd:children]\nkube_control_plane\n", "[etcd]\ncp1\ncp2\ncp3\n[kube_node:vars]\n")
    partial = partial.replace("[etcd]\ncp1\ncp2\ncp3", "[etcd]\ncp1")
    vars_all = "loadbalancer_apiserver: {address: 10.1.0.200, port: 16443}\n"
    imported = _import_tree(tmp_path / "b", {"hosts": partial, "group_vars/all.yml": vars_all})
    assert "host 'cp2': control plane not in etcd" in "\n".join(_messages(imported.warnings))


# -------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"hosts": ONE_PLUS_ONE + "[k8s_cluster]\nextra ip=10.1.0.31\n"},
            "host 'extra': in k8s_cluster but neither in kube_control_plane nor in kube_node",
        ),
        (
            {"hosts": ONE_PLUS_ONE.replace("w1 ansible_host=10.1.0.21 ip=10.1.0.21", "w1")},
            "host 'w1': no address: set ip",
        ),
        (
            {"hosts": ONE_PLUS_ONE.replace("ip=10.1.0.21", "ip=w1.example.com")},
            "host 'w1': ip 'w1.example.com' is not an IPv4",
        ),
        (
            {"hosts": ONE_PLUS_ONE.replace("[etcd]\ncp1", "[etcd]\ncp1\nw1")},
            "host 'w1': in etcd but not a control plane: etcd outside the control planes is not supported here",
        ),
        ({"hosts": ONE_PLUS_ONE + "[calico_rr]\nrr1 ip=10.1.0.40\n"}, "host 'rr1': only in calico_rr"),
        (
            {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "container_manager: crio\n"},
            "key 'container_manager': 'crio' is not supported",
        ),
        (
            {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "kube_network_plugin: cilium\n"},
            "key 'kube_network_plugin': 'cilium'",
        ),
        ({"hosts": HOSTS_3_3}, "key 'loadbalancer_apiserver': not set, but 3 control planes need one shared API endpoint"),
        (
            {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": 'kube_version: "{{ release | ipaddr }}"\nrelease: x\n'},
            "host 'cp1': kube_version = '{{ release | ipaddr }}': cannot evaluate this template here",
        ),
        (
            {
                "hosts": ONE_PLUS_ONE,
                "group_vars/all.yml": "kube_version: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  61\n",
            },
            "kube_version = <vault-encrypted>: encrypted with ansible-vault",
        ),
        (
            {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "calico_ipip_mode: Always\ncalico_vxlan_mode: Always\n"},
            "Calico allows only one",
        ),
        (
            {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "calico_ipip_mode: Always\n"},
            "'Always' with calico_vxlan_mode 'Always' (kubespray's default when unset): Calico allows only one, and "
            "kubespray v2.31.0 stops on it too",
        ),
        (
            {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "supplementary_addresses_in_ssl_keys: [ok.example.com, 'no way']\n"},
            "key 'supplementary_addresses_in_ssl_keys': 'no way' is neither an IP address nor a DNS name",
        ),
    ],
)
def test_malformed_inventories_give_clear_errors(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    with pytest.raises(KubesprayError) as caught:
        _import_tree(tmp_path, files)
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"kubespray inventory {tmp_path / 'inventory' / 'mycluster'}")


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    files = {
        "hosts": ONE_PLUS_ONE + "[kube_node]\nw2\n[etcd]\netcd9 ip=10.1.0.29\n[kube-nodes]\nw3 ip=10.1.0.23\n",
        "group_vars/all.yml": "container_manager: docker\nkube_network_plugin: cilium\n",
    }
    with pytest.raises(KubesprayError) as caught:
        _import_tree(tmp_path, files)
    message = str(caught.value)
    for part in ("host 'w2': no address", "host 'etcd9': in etcd but not a control plane", "'docker'", "'cilium'"):
        assert part in message
    assert "4 error(s)" in message


def test_the_model_validates_the_result(tmp_path: Path) -> None:
    files = {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "kube_version: v1.20.1\nkube_pods_subnet: 10.1.0.0/16\n"}
    with pytest.raises(KubesprayError) as caught:
        _import_tree(tmp_path, files)
    message = str(caught.value)
    assert "the result is no valid cluster" in message
    assert "key 'kube_version': 'v1.20.1' is not supported" in message or "'1.20.1' is not supported" in message
    assert "contains node_ip 10.1.0.11 of host 'cp1'" in message


def test_cluster_keys_that_differ_between_hosts_are_errors(tmp_path: Path) -> None:
    files = {
        "hosts": ONE_PLUS_ONE,
        "group_vars/all.yml": "kube_version: 1.35.4\n",
        "host_vars/w1.yml": "kube_version: 1.35.1\n",
    }
    with pytest.raises(KubesprayError, match="key 'kube_version': '1.35.4' on host 'cp1' but '1.35.1' on host 'w1'"):
        _import_tree(tmp_path, files)


# ------------------------------------------------------- files and the CLI


def _load(path: Path) -> model.Cluster:
    """Our inventory file as pyinfra's CLI loads it (group_data/ beside it too), and its model."""
    with ctx_state.use(State()):
        inventory = make_inventory(str(path), cwd=str(REPO))
    return model.build(inventory, components.defaults(), write_secrets=False)


def test_cli_import_writes_an_inventory_pyinfra_loads_to_the_same_cluster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["import", str(FIXTURES / "ha-yaml"), "--out", str(out)]) == 0
    assert (out / "ha-yaml.py").is_file() and (out / "group_data" / "ha-yaml.py").is_file()
    assert summary(_load(out / "ha-yaml.py")) == summary(import_inventory(FIXTURES / "ha-yaml").cluster)
    group_data = (out / "group_data" / "ha-yaml.py").read_text()
    assert "vip = '192.168.11.230'" in group_data and "ssh_user = 'admin'" in group_data
    assert "# Import warnings" in group_data  # kept beside the data
    captured = capsys.readouterr()
    assert "warning: key 'loadbalancer_apiserver'" in captured.err
    assert main(["import", str(FIXTURES / "ha-yaml"), "--out", str(out)]) == 2  # no silent overwrite
    assert "pass --force" in capsys.readouterr().err
    assert main(["import", str(FIXTURES / "ha-yaml"), "--out", str(out), "--name", "other"]) == 0


def test_cli_import_error_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_tree(tmp_path / "bad", {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "container_manager: crio\n"})
    assert main(["import", str(root), "--out", str(tmp_path / "out")]) == 2
    assert "key 'container_manager': 'crio' is not supported" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def _pyinfra_debug_inventory(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`pyinfra inventories/kubespray.py debug-inventory --json`: loads, validates, prints; connects to nothing."""
    pyinfra = Path(sys.executable).parent / "pyinfra"
    command = [str(pyinfra)] if pyinfra.exists() else [sys.executable, "-m", "pyinfra"]
    return subprocess.run(
        [*command, "inventories/kubespray.py", "debug-inventory", "--json"],
        cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_inventories_kubespray_deploys_straight_from_a_kubespray_inventory() -> None:
    result = _pyinfra_debug_inventory({"KUBESPRAY_INVENTORY": str(FIXTURES / "ha-yaml")})
    assert result.returncode == 0, result.stderr
    hosts = {h["name"]: h for h in json.loads(result.stdout)}
    assert "control_plane" in hosts["k8s-master-node0"]["groups"] and "workers" in hosts["k8s-worker-node2"]["groups"]
    data = hosts["k8s-worker-node0"]["data"]
    assert (data["node_ip"], data["ssh_hostname"], data["ssh_user"], data["ssh_port"]) == (
        "192.168.11.223",
        "192.168.11.223",
        "admin",
        2222,
    )
    assert (data["vip"], data["kube_version"], data["cluster_name"]) == ("192.168.11.230", "1.35.2", "prod")
    assert "kubespray inventory: warning: key 'loadbalancer_apiserver'" in result.stderr


def test_inventories_kubespray_stops_on_errors_and_without_a_path(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "bad", {"hosts": ONE_PLUS_ONE, "group_vars/all.yml": "container_manager: docker\n"})
    result = _pyinfra_debug_inventory({"KUBESPRAY_INVENTORY": str(root)})
    assert result.returncode != 0 and "key 'container_manager': 'docker' is not supported" in result.stderr
    result = _pyinfra_debug_inventory({"KUBESPRAY_INVENTORY": ""})
    assert result.returncode != 0 and "needs KUBESPRAY_INVENTORY" in result.stderr


def test_inventories_kubespray_in_process_groups_and_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBESPRAY_INVENTORY", str(FIXTURES / "task1" / "inventory.ini"))
    with ctx_state.use(State()):
        inventory = make_inventory(str(REPO / "inventories" / "kubespray.py"), cwd=str(REPO))
    assert [h.name for h in inventory.get_group("control_plane")] == ["k8s-test-cp0"]
    assert len(inventory.get_group("workers")) == 4
    host = inventory.get_host("k8s-test-worker3")
    assert (host.data.node_ip, host.data.ssh_hostname, host.data.ssh_user, host.data.pod_cidr) == (
        "192.168.10.23", "192.168.10.23", "root", "10.244.0.0/16",
    )  # fmt: skip
    assert model.build(inventory, components.defaults(), write_secrets=False).name == "test"


def test_deploy_from_a_kubespray_inventory_is_planned_like_ours(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The whole deploy, run against @fake copies of the kubespray hosts (tests/plan.py): no host contacted."""
    from tests import plan

    monkeypatch.setenv("KUBESPRAY_INVENTORY", str(FIXTURES / "ha-yaml"))
    private: dict[str, Any] = {"secrets_dir": str(tmp_path / "s"), "kubeconfig_path": str(tmp_path / "admin.conf")}
    result = plan.run(plan.from_inventory_file(REPO / "inventories" / "kubespray.py", **private))
    assert result.hosts_of("kubeadm init") == ["k8s-master-node0"]
    assert result.hosts_of("Control plane joins") == ["k8s-master-node1", "k8s-master-node2"]
    assert result.hosts_of("Worker joins") == ["k8s-worker-node0", "k8s-worker-node1", "k8s-worker-node2"]
    assert result.hosts_of("keepalived configuration") == ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
    assert result.cluster.endpoint == "192.168.11.230:16443"
    assert result.hosts_of("kubelet, kubeadm, kubectl 1.35.2")  # kube_version from the kubespray group_vars


def test_a_homework_inventory_deploys_schedulable_control_planes_with_its_sans(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Points 3 and 8 end to end: the deploy planned from the kubespray inventory (@fake hosts) drops the taint
    and puts the supplementary addresses in the API server certificate."""
    from tests import plan

    hosts = (FIXTURES / "homework" / "inventory.ini").read_text().replace(
        "node-3\n\n[calico_rr]", "node-3\nnode-4 ansible_host=158.160.12.37 ip=192.168.100.14\n\n[calico_rr]"
    )  # a worker too: tests/plan.py needs a non-empty workers group
    vars_file = "group_vars/k8s_cluster/k8s-cluster.yml"
    root = write_tree(tmp_path / "hw", {"inventory.ini": hosts, vars_file: (FIXTURES / "homework" / vars_file).read_text()})
    monkeypatch.setenv("KUBESPRAY_INVENTORY", str(root))
    private: dict[str, Any] = {"secrets_dir": str(tmp_path / "s"), "kubeconfig_path": str(tmp_path / "admin.conf")}
    result = plan.run(plan.from_inventory_file(REPO / "inventories" / "kubespray.py", **private))
    assert result.hosts_of("kubeadm init") == ["node-1"]
    config = plan.uploads(result, "node-1")["/etc/kubernetes/kubeadm-config.yaml"].decode()
    assert "taints: []" in config
    assert "158.160.12.34" in config and "k8s.student42.example.org" in config
