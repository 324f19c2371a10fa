"""Shared fixtures: @fake inventories of both shapes, planned without contacting any host."""

from __future__ import annotations

from typing import Any

import pytest

from tests import plan

REPO = plan.REPO


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Cluster data that keeps secrets and the kubeconfig inside a temp dir."""
    tmp = tmp_path_factory.mktemp("private")
    return {"secrets_dir": str(tmp / "secrets"), "kubeconfig_path": str(tmp / "kube" / "admin.conf")}


@pytest.fixture(scope="module")
def prod_plan(private: dict[str, Any]) -> plan.Plan:
    """The 3 + 3 example inventory, first run on fresh hosts."""
    return plan.run(plan.from_inventory_file(REPO / "inventories" / "prod.py", **private))


@pytest.fixture(scope="module")
def test_plan(private: dict[str, Any]) -> plan.Plan:
    """The 1 + 4 example inventory, first run on fresh hosts."""
    return plan.run(plan.from_inventory_file(REPO / "inventories" / "test.py", **private))
