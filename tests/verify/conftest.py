"""`pytest tests/verify --inventory FILE`: the checks of checks.py, per host, in parallel with -n."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.verify import targets


def _cluster(config: pytest.Config) -> targets.Cluster | None:
    path = config.getoption("--inventory")
    if not path:
        return None
    cached = getattr(config, "_verify_cluster", None)
    if cached is None:
        cached = config._verify_cluster = targets.load(path)
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `node` / `control_plane` with the inventory's hosts (ids = host names)."""
    cluster = _cluster(metafunc.config)
    for name, wanted in (("node", None), ("control_plane", "cp")):
        if name not in metafunc.fixturenames:
            continue
        if cluster is None:
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason="no --inventory given"))])
            continue
        nodes = [n for n in cluster.model.nodes if wanted is None or (n.is_control_plane and cluster.model.keepalived)]
        if not nodes:
            metafunc.parametrize(name, [pytest.param(None, marks=pytest.mark.skip(reason="no keepalived/HAProxy in this cluster"))])
            continue
        metafunc.parametrize(name, [pytest.param(n.name, id=n.name) for n in nodes])


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> targets.Cluster:
    found = _cluster(request.config)
    if found is None:
        pytest.skip("no --inventory given")
    return found


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Label each check with its host; keep a host's checks on one xdist worker (one SSH connection)."""
    here = Path(__file__).parent
    for item in items:
        if here not in item.path.parents:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        host = params.get("node") or params.get("control_plane") or "cluster"
        check = params.get("check")
        item.user_properties.append(("host", str(host)))
        item.user_properties.append(("check", check.__name__ if check else item.originalname))
        item.add_marker(pytest.mark.xdist_group(str(host)))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line per host: how many checks passed, and which failed."""
    per_host: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            props = dict(getattr(report, "user_properties", []))
            if "host" not in props or report.when not in ("call", "setup"):
                continue
            if outcome == "passed" and report.when != "call":
                continue
            per_host[props["host"]][outcome].append(props["check"])
    if not per_host:
        return
    terminalreporter.section("verification per host")
    for host in sorted(per_host):
        r = per_host[host]
        line = f"{host:<28} {len(r['passed'])} passed, {len(r['failed'])} failed, {len(r['skipped'])} skipped"
        if r["failed"]:
            line += "  FAILED: " + ", ".join(r["failed"])
        terminalreporter.write_line(line)
