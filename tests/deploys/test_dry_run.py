"""`pyinfra --dry`: role and topology gates are decided while planning, so a dry run names exactly
the hosts each operation concerns (pyinfra_cli/prints.py print_meta lists a host under an
operation when the plan found a change there; "conditional" when `_if` is set)."""

from __future__ import annotations

from typing import Any

import pytest

from tests import plan
from tests.plan import REPO

CP1 = ["k8s-test-cp0"]
WORKERS = [f"k8s-test-worker{i}" for i in range(4)]
HA_CPS = [f"k8s-master-node{i}" for i in range(3)]
HA_WORKERS = [f"k8s-worker-node{i}" for i in range(3)]


def dry_run(inventory_file: str, private: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Operation name -> (hosts with a change, hosts with a conditional change), as `--dry` prints them."""
    p = plan.run(plan.from_inventory_file(REPO / "inventories" / inventory_file, **private), check_for_changes=True)
    state = p.state
    table: dict[str, tuple[list[str], list[str]]] = {}
    for op_hash in state.get_op_order():
        sure, maybe = [], []
        for host in state.inventory:
            data = state.ops[host].get(op_hash)
            if data and data.operation_meta._maybe_is_change:
                (maybe if data.global_arguments["_if"] else sure).append(host.name.split("/", 1)[-1])
        table[sorted(state.op_meta[op_hash].names)[0]] = (sorted(sure), sorted(maybe))
    return table


def hosts(table: dict[str, tuple[list[str], list[str]]], name_part: str) -> list[str]:
    """Every host the dry run names for the one operation whose name contains NAME_PART."""
    (entry,) = [v for k, v in table.items() if name_part in k]
    return sorted(entry[0] + entry[1])


@pytest.fixture(scope="module")
def single(private: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    return dry_run("test.py", private)


@pytest.fixture(scope="module")
def ha(private: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    return dry_run("prod.py", private)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("HAProxy installed", []),
        ("HAProxy configuration", []),
        ("keepalived configuration", []),
        ("VRRP authentication", []),
        ("API server Secrets encryption config", CP1),
        ("kubeadm configuration", CP1),
        ("kubeadm init", CP1),
        ("Control plane joins", []),
        ("Worker joins", WORKERS),
        ("tigera-operator applied", CP1),
        ("Calico Installation applied", CP1),
        ("Admin kubeconfig", CP1),
        ("kubelet, kubeadm, kubectl", CP1 + WORKERS),
    ],
)
def test_fresh_single_control_plane_names_only_the_hosts_concerned(
    single: dict[str, tuple[list[str], list[str]]], operation: str, expected: list[str]
) -> None:
    assert hosts(single, operation) == sorted(expected)


@pytest.mark.parametrize(
    ("operation", "expected"),
    [
        ("HAProxy configuration", HA_CPS),
        ("keepalived configuration", HA_CPS),
        ("kubeadm init", HA_CPS[:1]),
        ("Control plane joins", HA_CPS[1:]),
        ("Worker joins", HA_WORKERS),
        ("Calico Installation applied", HA_CPS[:1]),
    ],
)
def test_fresh_ha_names_only_the_hosts_concerned(
    ha: dict[str, tuple[list[str], list[str]]], operation: str, expected: list[str]
) -> None:
    assert hosts(ha, operation) == sorted(expected)


def test_restarts_stay_conditional_on_what_changed(ha: dict[str, tuple[list[str], list[str]]]) -> None:
    """Execution-time gates (a restart after a changed config) stay conditional, on the hosts concerned only."""
    (sure, maybe) = next(v for k, v in ha.items() if "HAProxy restarted" in k)
    assert sure == [] and maybe == HA_CPS
