"""deploys/reset.py: refused without the cluster's name; with it, every node torn down once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploys import model, reset, teardown
from tests import plan

JOINED = ["iface=eth0", "done=kubeadm-join", "mode 600 /etc/kubernetes/kubelet.conf", "sha1 " + "1" * 40 + "  /etc/kubernetes/kubelet.conf"]


def inventory(private: dict[str, Any], facts: list[str], **data: Any):  # type: ignore[no-untyped-def]
    responses = {**plan.fresh_host(), "/proc/swaps": facts}
    return plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", responses=responses, **private, **data)


def test_refused_without_confirmation(private: dict[str, Any]) -> None:
    with pytest.raises(model.ClusterConfigError, match=r"confirm with `--data confirm_reset=prod`; nothing was changed"):
        plan.run(inventory(private, JOINED, confirm_reset="lab"), entry_build=reset.run)


def test_every_node_torn_down(private: dict[str, Any]) -> None:
    kubeconfig = Path(private["kubeconfig_path"])
    kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    kubeconfig.write_text("admin")
    p = plan.run(inventory(private, JOINED, confirm_reset="prod"), entry_build=reset.run)
    assert p.hosts_of("kubeadm reset, cluster files") == [n.node_name for n in p.cluster.nodes]
    assert p.hosts_of("Admin kubeconfig") == ["k8s-master-node0"]
    for node in p.cluster.nodes:
        (script,) = [c for c in p.commands(node.node_name) if "kubeadm reset -f" in c]
        assert "--skip-phases=remove-etcd-member" in script and "/var/lib/kubeadm-pyinfra" in script
        assert "/etc/cni/net.d" in script and "grep -vE '(KUBE-|cali-|cali:)'" in script
    assert not kubeconfig.exists()


def test_clean_hosts_are_left_alone(private: dict[str, Any]) -> None:
    p = plan.run(inventory(private, ["iface=eth0"], confirm_reset="prod"), entry_build=reset.run)
    assert all(p.commands(n.node_name) == [] for n in p.cluster.nodes)


def test_the_script_is_valid_shell() -> None:
    import subprocess

    assert subprocess.run(["sh", "-n", "-c", teardown.node_script()]).returncode == 0
