"""Control planes of a keepalived cluster: HAProxy balancing healthy API servers, keepalived running."""

from __future__ import annotations

import pytest

from tests.verify import checks
from tests.verify.targets import Cluster


@pytest.mark.parametrize("check", checks.CONTROL_PLANE_CHECKS, ids=lambda f: f.__name__)
def test_control_plane(check: checks.Check, control_plane: str, cluster: Cluster) -> None:
    if not cluster.targets[control_plane].reachable:
        pytest.skip(f"{control_plane} is down (reported by test_node_up)")
    check(cluster.targets[control_plane], cluster)
