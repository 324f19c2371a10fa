"""Options shared by the suites that run against a cluster: tests/verify and tests/field."""

from __future__ import annotations

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
