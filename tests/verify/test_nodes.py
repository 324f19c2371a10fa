"""Every node: up, containerd, pinned kube packages, swap, sysctls, joined, API reachable via the endpoint."""

from __future__ import annotations

import pytest

from tests.verify import checks
from tests.verify.targets import Cluster


def test_node_up(node: str, cluster: Cluster) -> None:
    assert cluster.targets[node].reachable, f"{node} is down: it does not answer over SSH"


@pytest.mark.parametrize("check", checks.NODE_CHECKS, ids=lambda f: f.__name__)
def test_node(check: checks.Check, node: str, cluster: Cluster) -> None:
    if not cluster.targets[node].reachable:
        pytest.skip(f"{node} is down (reported by test_node_up)")
    check(cluster.targets[node], cluster)
