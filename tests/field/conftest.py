"""`make drills INVENTORY=FILE [DESTRUCTIVE=1]`: the drills that make sense on real hosts, against any inventory.

Without --inventory every drill is skipped (so `make test` collects them for free); the ones that
disrupt the cluster (failover, a control plane down, upgrade, restore) run only with --destructive.
Each prints its figures, as the lab's drills do.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.verify import targets

FIGURES: list[str] = []


def figure(line: str) -> None:
    """Print a drill's figure now (-s) and in the run's summary."""
    print(f"\n[field drill] {line}")
    FIGURES.append(line)


@pytest.fixture(scope="session")
def inventory(request: pytest.FixtureRequest) -> str:
    path = request.config.getoption("--inventory")
    if not path:
        pytest.skip("no --inventory given (make drills INVENTORY=...)")
    return str(path)


@pytest.fixture(scope="session")
def cluster(inventory: str) -> targets.Cluster:
    """The deploy's own model of the inventory's cluster, with an SSH target per node."""
    return targets.load(inventory)


@pytest.fixture
def destructive(request: pytest.FixtureRequest) -> None:
    """Skip a drill that disrupts the cluster unless --destructive (DESTRUCTIVE=1) was given."""
    if not request.config.getoption("--destructive"):
        pytest.skip("disrupts the cluster: run with DESTRUCTIVE=1 (--destructive)")


@pytest.fixture
def ha(cluster: targets.Cluster) -> None:
    """Skip a drill that needs the HA shape (keepalived VIP, three or more control planes)."""
    if not cluster.model.keepalived or len(cluster.model.control_planes) < 3:
        pytest.skip("needs an HA cluster (3+ control planes with the keepalived VIP)")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("field drill figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
