"""Every node: containerd, pinned kube packages, swap, sysctls, joined, API reachable via the endpoint."""

from __future__ import annotations

import pytest

from tests.verify import checks
from tests.verify.targets import Cluster


@pytest.mark.parametrize("check", checks.NODE_CHECKS, ids=lambda f: f.__name__)
def test_node(check: checks.Check, node: str, cluster: Cluster) -> None:
    check(cluster.targets[node], cluster)
