"""Kubernetes packages: the repository key kept fresh, the tools preflight and operators need installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from deploys.kube_packages import KEYRING
from tests import plan
from tests.deploys.test_cluster import EXTRA_FILES

KEY_URL = "https://pkgs.k8s.io/core:/stable:/v1.37/deb/Release.key"


def rerun(test_plan: plan.Plan, private: dict[str, Any], edit: Any) -> plan.Plan:
    """A second run over the converged 1 + 4 hosts, k8s-test-worker0's answers changed by EDIT(lines)."""
    kubeconfig = Path(private["kubeconfig_path"]).read_bytes()
    inv = plan.from_inventory_file(plan.REPO / "inventories" / "test.py", **private)
    for host in inv:
        name = host.name.split("/", 1)[1]
        responses = plan.converged_host(test_plan, name, EXTRA_FILES, kubeconfig)
        if name == "k8s-test-worker0":
            responses["/proc/swaps"] = edit(responses["/proc/swaps"])
        host.data.fake_responses = responses
    return plan.run(inv)


def key_fetches(p: plan.Plan, host_name: str) -> list[str]:
    return [c for c in p.commands(host_name) if KEY_URL in c]


def test_a_fresh_key_is_left_alone(test_plan: plan.Plan, private: dict[str, Any]) -> None:
    second = rerun(test_plan, private, lambda lines: lines)
    assert key_fetches(second, "k8s-test-worker0") == []


def test_a_week_old_key_is_fetched_again(test_plan: plan.Plan, private: dict[str, Any]) -> None:
    """pkgs.k8s.io rotated its key in 2024-11: a key older than a week is fetched again (only there)."""
    second = rerun(test_plan, private, lambda lines: [*lines, f"stale={KEYRING}"])
    (fetch,) = key_fetches(second, "k8s-test-worker0")
    assert "&& curl -fsSL" in fetch and fetch.endswith(f"&& chmod 644 {KEYRING}")
    assert key_fetches(second, "k8s-test-worker1") == []


def test_a_changed_repository_fetches_its_key(test_plan: plan.Plan, private: dict[str, Any]) -> None:
    """The repository line changed on the host (another minor's, say): its key is fetched again."""
    def edit(lines: list[str]) -> list[str]:
        return [line.replace(line.split()[1], "0" * 40) if line.startswith("sha1 ") and line.endswith("kubernetes.list")
                else line for line in lines]

    second = rerun(test_plan, private, edit)
    assert key_fetches(second, "k8s-test-worker0") and not key_fetches(second, "k8s-test-worker1")


@pytest.mark.parametrize("package", ["conntrack", "cri-tools"])
def test_preflight_needs_installed(test_plan: plan.Plan, package: str) -> None:
    """kubeadm's preflight wants conntrack (below 1.32) and crictl; kubelet/kubeadm no longer pull them in."""
    for host in ("k8s-test-cp0", "k8s-test-worker0"):
        assert any(" install -y " in c and f" {package}" in c for c in test_plan.commands(host)), host


def test_a_fresh_node_updates_its_lists_once(test_plan: plan.Plan) -> None:
    """A fresh node's run updates every list once; the Kubernetes repository, added after, alone; two installs."""
    for host in ("k8s-test-cp0", "k8s-test-worker0"):
        apt = [c for c in test_plan.commands(host) if "apt-get" in c and (" update" in c or " install " in c)]
        updates = [c for c in apt if " update" in c]
        assert updates[0].endswith(" update"), updates  # every source
        assert updates[1].endswith(
            " update -o Dir::Etc::SourceList=/etc/apt/sources.list.d/kubernetes.list"
            " -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0"
        ), updates
        assert len(updates) == 2
        installs = [c for c in apt if " install " in c]
        assert installs[0].endswith(" curl ca-certificates conntrack") and " kubelet=" in installs[1], installs
        assert apt.index(updates[1]) == apt.index(installs[1]) - 1
