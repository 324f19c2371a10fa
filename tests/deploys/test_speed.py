"""deploys/speed.py: the caches give pyinfra's own answers, and stay out where they do not fit."""

from __future__ import annotations

import importlib
import re
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyinfra
import pytest
from pyinfra.api import Config, Inventory, State
from pyinfra.api.exceptions import ArgumentTypeError

from deploys import cluster, speed  # noqa: F401
from tests import speed as bench

ORIG = speed.ORIGINALS


@pytest.fixture(scope="module", autouse=True)
def opted_in() -> Any:
    """The caches are opt-in (KUBEADM_PYINFRA_SPEED=1): installed here for these tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(speed.ENABLE, "1")
        assert speed.install() is True
        yield


def test_not_installed_unless_asked() -> None:
    """By default pyinfra runs as it is: nothing of it is replaced without KUBEADM_PYINFRA_SPEED=1."""
    import os
    import subprocess

    code = ("import importlib; from deploys import cluster, speed; "
            "operation, util = (importlib.import_module(f\"pyinfra.api.{m}\") for m in (\"operation\", \"util\")); "
            "print(speed.install(), operation.get_operation_order_from_stack is util.get_operation_order_from_stack)")
    env = {k: v for k, v in os.environ.items() if k != speed.ENABLE}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out == ["False", "True"]


def test_installed_for_the_deploy() -> None:
    operation = importlib.import_module("pyinfra.api.operation")
    arguments = importlib.import_module("pyinfra.api.arguments")
    assert speed.install() is True  # idempotent
    assert operation.get_operation_order_from_stack is speed.operation_order_from_stack
    assert arguments.pop_global_arguments is speed.pop_global_arguments
    assert set(ORIG) == {"get_operation_order_from_stack", "all_global_arguments", "pop_global_arguments",
                         "get_all_connectors"}


def test_only_on_the_release_it_copies() -> None:
    assert speed.supported("3.10.0") and speed.supported("3.10.7")
    assert not speed.supported("3.11.0") and not speed.supported("4.0")


def _orders(state: Any) -> tuple[list[int], list[int]]:
    return ORIG["get_operation_order_from_stack"](state), speed.operation_order_from_stack(state)  # one line: same frames


ORDERS = _orders.__code__.co_firstlineno + 1


def _nested(state: Any, depth: int) -> tuple[list[int], list[int]]:
    if depth:
        return _nested(state, depth - 1)
    return (
        _orders(state)  # a call spanning lines: the line is where the call starts
    )


NESTED = _nested.__code__.co_firstlineno + 2


@pytest.mark.parametrize("is_cli", [True, False])
@pytest.mark.parametrize("deploy_file", [None, __file__, "/elsewhere/deploy.py"])
def test_operation_order_is_pyinfras(is_cli: bool, deploy_file: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pyinfra, "is_cli", is_cli)
    state = SimpleNamespace(current_deploy_filename=deploy_file, current_op_file_number=7)
    for depth in (0, 3):
        line = sys._getframe().f_lineno + 1
        original, fast = _nested(state, depth)
        assert fast == original
        cli = [7] if is_cli else []
        if deploy_file is None:  # every frame outside pyinfra, pytest's included
            assert len(original) > 10 + depth
        elif deploy_file == __file__:  # from the test function down: its line, _nested's, _orders'
            assert original[len(cli):] == [line, *[NESTED] * depth, NESTED + 2, ORDERS] and original[:len(cli)] == cli
        else:  # the deploy file is not on the stack: pyinfra keeps only its own (skipped) frame
            assert original == cli
    if deploy_file == __file__:
        assert speed.operation_order_from_stack(state)[-1:] != [ORDERS]  # another call site, another order


def test_global_argument_types_are_pyinfras() -> None:
    assert speed.all_global_arguments() == ORIG["all_global_arguments"]()
    speed.all_global_arguments().clear()  # a caller changing its list changes nothing for the next one
    assert speed.all_global_arguments() == ORIG["all_global_arguments"]()


def test_connectors_are_pyinfras() -> None:
    assert speed.get_all_connectors() == ORIG["get_all_connectors"]()
    assert "@fake" not in speed.get_all_connectors() and "fake" in speed.get_all_connectors()


def _host() -> Any:
    inventory = Inventory(
        (["one", "two"], {"_sudo_user": "from-all", "_env": {"A": "all"}}),
        grp=(["one"], {"_sudo_user": "from-group", "_retries": 2}),
    )
    state = State(inventory, Config(SUDO=True))
    host = inventory.get_host("one")
    host.data._timeout = 30  # an assignment during the run (override layer)
    return state, host


@pytest.mark.parametrize("kwargs", [{}, {"_sudo": False, "path": "/x"}, {"_env": {"B": "op"}, "_retries": 5}])
def test_global_arguments_are_pyinfras(kwargs: dict[str, Any]) -> None:
    state, host = _host()
    theirs_kwargs, ours_kwargs = dict(kwargs), dict(kwargs)
    theirs = ORIG["pop_global_arguments"](state, host, theirs_kwargs)
    ours = speed.pop_global_arguments(state, host, ours_kwargs)
    assert ours == theirs and ours_kwargs == theirs_kwargs
    assert ours[0]["_sudo_user"] == "from-group" and ours[0]["_timeout"] == 30
    ours[0]["_env"]["C"] = "changed"  # a copy, as host.data gives
    assert host.data._env == {"A": "all"}


def test_bad_global_argument_refused_alike() -> None:
    state, host = _host()
    for pop in (ORIG["pop_global_arguments"], speed.pop_global_arguments):
        with pytest.raises(ArgumentTypeError, match="_retries"):
            pop(state, host, {"_retries": "many"})


def _operations(output: str) -> list[str]:
    return re.findall(r"--> Starting operation: (.*)", output)


def test_cli_run_plans_the_same_operations_in_the_same_order() -> None:
    """The CLI orders operations by the call stack: a first run on fresh fake hosts, with and without."""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = bench.inventory_file(Path(tmp), 3, 2, converged=False)
        _, _, fast = bench.run_cli(inventory, env={speed.ENABLE: "1"})
        _, _, plain = bench.run_cli(inventory, env={speed.ENABLE: ""})
    assert _operations(fast) == _operations(plain) and len(_operations(fast)) > 40
    totals = [line.split() for line in (fast, plain) for line in line.splitlines() if "Grand total" in line]
    assert totals[0] == totals[1]
