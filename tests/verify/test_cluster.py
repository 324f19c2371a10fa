"""The cluster as a whole: VIP on exactly one control plane, nodes registered, Calico applied."""

from __future__ import annotations

from typing import Callable

import pytest

from tests.verify import checks
from tests.verify.targets import Cluster


@pytest.mark.parametrize("check", checks.CLUSTER_CHECKS, ids=lambda f: f.__name__)
def test_cluster(check: Callable[[Cluster], None], cluster: Cluster) -> None:
    check(cluster)


@pytest.mark.parametrize("check", checks.HA_CLUSTER_CHECKS, ids=lambda f: f.__name__)
def test_ha_cluster(check: Callable[[Cluster], None], cluster: Cluster) -> None:
    if not cluster.model.keepalived:
        pytest.skip("no VIP in this cluster (single control plane or external load balancer)")
    check(cluster)
