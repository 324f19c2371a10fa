"""Shared by every test: the options of the suites that run against a cluster (tests/verify, tests/field),
and, under mutmut (`make mutation`) only, one pyinfra look-up adapted.

mutmut wraps each function of deploys/ in a trampoline `(*args, **kwargs)` (functools.wraps keeps
the real signature in __wrapped__). pyinfra binds a fact's arguments with inspect.getcallargs,
which does not follow __wrapped__, so NodeFacts.command would be called with `args=`/`kwargs=`;
under mutmut the binding follows the real signature, as inspect.signature does.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--inventory", default=None, help="pyinfra inventory of the cluster to verify or drill")
    parser.addoption("--destructive", action="store_true", default=False,
                     help="tests/field: also run the drills that disrupt the cluster (failover, upgrade, restore)")
    parser.addoption("--upgrade-to", default=None,
                     help="tests/field: the Kubernetes version the upgrade drill upgrades to (default: the data's)")


def pytest_configure(config: pytest.Config) -> None:
    # testinfra's paramiko backend loads no known_hosts file; the deploy (pyinfra) checks host keys.
    config.addinivalue_line("filterwarnings", "ignore:Unknown .* host key for:UserWarning")


def _getcallargs(func: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


if "mutmut" in sys.modules:
    from pyinfra.api import facts as _pyinfra_facts

    _pyinfra_facts.getcallargs = _getcallargs  # type: ignore[assignment]

    # FunctionCommand.execute (pyinfra/api/command.py) passes state and host when the function's
    # argspec names them: read the real function's, behind the trampoline.
    from pyinfra.api import command as _pyinfra_command

    _pyinfra_command.getfullargspec = lambda func: inspect.getfullargspec(inspect.unwrap(func))  # type: ignore[assignment]
