"""Benchmark: base build (cold, cached), lab up, first converge and no-op re-run per topology, SSH commands per host."""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import time
from pathlib import Path

from lab import base, config, core
from lab.run import log

REPO = Path(__file__).resolve().parents[1]
DEPLOY = config.DEPLOY
COMMAND_RE = re.compile(r"Running command on ([^:\s]+):")


def deploy(extra: list[str] | None = None) -> tuple[float, str]:
    """Run the deploy into the lab; return (seconds, combined output). Raise on failure."""
    start = time.monotonic()
    res = subprocess.run(DEPLOY + (extra or []), cwd=REPO, capture_output=True, text=True)
    took = time.monotonic() - start
    if res.returncode != 0:
        sys.stderr.write(res.stdout[-4000:] + res.stderr[-4000:])
        raise RuntimeError(f"deploy failed ({' '.join(DEPLOY + (extra or []))})")
    return took, res.stdout + res.stderr


def commands_per_host(debug_output: str) -> dict[str, int]:
    """SSH commands each host ran, counted from pyinfra's --debug log."""
    return dict(sorted(collections.Counter(COMMAND_RE.findall(debug_output)).items()))


def changes(output: str) -> str:
    """The 'Grand total' line of a pyinfra run."""
    lines = [line.strip() for line in output.splitlines() if "Grand total" in line]
    return lines[-1] if lines else "?"


def topology_run(topology: str, os_name: str) -> dict[str, object]:
    """down, up, first converge, no-op re-run (timed), no-op re-run with --debug (counted), down."""
    core.down()
    timings = core.up(topology, os_name=os_name)
    first, _ = deploy()
    noop, out = deploy()
    _, debug = deploy(["--debug"])
    core.down()
    return {"up": timings["up"], "first": first, "noop": noop, "noop_totals": changes(out),
            "ssh": commands_per_host(debug)}


def main(topologies: list[str], cold: bool = True, os_name: str = config.DEFAULT_OS) -> int:
    """Print the figures."""
    core.down()
    cold_s = base.ensure_base(os_name, force=True) if cold else float("nan")
    cached_s = base.ensure_base(os_name)
    results = {t: topology_run(t, os_name) for t in topologies}
    print(f"nodes: {os_name}")
    print(f"base build cold:   {cold_s:7.1f} s")
    print(f"base build cached: {cached_s:7.1f} s")
    for topo, r in results.items():
        ssh = r["ssh"]
        assert isinstance(ssh, dict)
        print(f"[{topo}] lab up {r['up']:.1f} s | first converge {r['first']:.1f} s | no-op re-run {r['noop']:.1f} s")
        print(f"[{topo}] no-op totals: {r['noop_totals']}")
        print(f"[{topo}] SSH commands per host on the no-op re-run: "
              + ", ".join(f"{h}={n}" for h, n in ssh.items()))
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("topologies", nargs="*", default=["1+4", "3+3"])
    p.add_argument("--no-cold", action="store_true", help="skip the cold base rebuild")
    p.add_argument("--os", choices=sorted(config.OS_SUITES), default=config.DEFAULT_OS, help="the nodes' OS")
    o = p.parse_args()
    log("benchmark: this tears down any running lab")
    raise SystemExit(main(o.topologies, cold=not o.no_cold, os_name=o.os))
