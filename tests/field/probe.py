"""What the field drills measure on any cluster: the API through its endpoint, polled from a node."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from tests.verify import targets

REPO = Path(__file__).resolve().parents[2]
PYINFRA = str(Path(sys.executable).with_name("pyinfra"))  # the console script (see lab/config.py)
LOG = "/tmp/kubeadm-pyinfra-drill-poll.log"


def longest_gap(samples: list[tuple[float, bool]], start: float, end: float) -> float:
    """The longest time without an answer between START and END, from (time, answered) samples."""
    answered = [t for t, ok in samples if ok]
    edges = [start, *answered, end]
    return max(b - a for a, b in zip(edges, edges[1:]))


def parse(log: str) -> list[tuple[float, bool]]:
    """(time, answered) from the poll log's '<epoch seconds> <ok|fail>' lines (a torn last line is ignored)."""
    samples = []
    for line in log.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] in ("ok", "fail"):
            try:
                samples.append((float(parts[0]), parts[1] == "ok"))
            except ValueError:
                continue
    return samples


class Poller:
    """`curl https://ENDPOINT/healthz` every INTERVAL seconds from WATCHER, in the background on the node."""

    def __init__(self, watcher: targets.Target, endpoint: str, interval: float = 0.2) -> None:
        self.watcher, self.endpoint, self.interval = watcher, endpoint, interval
        self.pid = ""
        self.start = self.end = 0.0

    def __enter__(self) -> "Poller":
        url = shlex.quote(f"https://{self.endpoint}/healthz")
        loop = (f"while :; do t=$(date +%s.%N); if [ \"$(curl -sk --max-time 1 {url})\" = ok ]; "
                f"then echo \"$t ok\"; else echo \"$t fail\"; fi; sleep {self.interval}; done")
        out = self.watcher.run(f"rm -f {LOG}; setsid sh -c {shlex.quote(loop)} >{LOG} 2>/dev/null </dev/null & echo $!")
        assert out.rc == 0, out.stderr
        self.pid = out.stdout.strip()
        self.start = self.now()
        return self

    def now(self) -> float:
        """The watcher's clock (the samples' clock)."""
        return float(self.watcher.run("date +%s.%N").stdout)

    def __exit__(self, *exc: Any) -> None:
        self.end = self.now()
        self.watcher.run(f"kill {self.pid} 2>/dev/null; true")

    def samples(self) -> list[tuple[float, bool]]:
        return parse(self.watcher.run(f"cat {LOG}").stdout)

    def gap(self) -> float:
        """The longest time the endpoint did not answer while polled."""
        return longest_gap(self.samples(), self.start, self.end)


def watcher(cluster: targets.Cluster, avoid: str = "") -> targets.Target:
    """A node to poll from: a worker that answers, else a control plane other than AVOID."""
    nodes = [*cluster.model.workers, *cluster.model.control_planes]
    for node in nodes:
        target = cluster.targets[node.name]
        if node.name != avoid and target.reachable:
            return target
    raise AssertionError("no node answers over SSH to poll the API from")


def healthz(target: targets.Target, endpoint: str) -> bool:
    return target.run(f"curl -sk --max-time 1 https://{endpoint}/healthz").stdout == "ok"


def vip_holders(cluster: targets.Cluster) -> list[str]:
    """The control planes holding the VIP now."""
    vip = f" {cluster.model.vip}/"
    return [n.name for n in cluster.model.control_planes
            if cluster.targets[n.name].reachable and vip in cluster.targets[n.name].run("ip -o -4 addr show").stdout]


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.1) -> float:
    """Seconds until CONDITION() is true; fails after TIMEOUT."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(step)
    raise AssertionError(f"not within {timeout}s")


def run_deploy(inventory: str, entry: str, *data: str, timeout: float = 3600) -> tuple[float, str]:
    """`pyinfra -y INVENTORY deploys/ENTRY --data K=V...`; (seconds, output); fails the drill if it fails."""
    args = [PYINFRA, "-y", inventory, f"deploys/{entry}"]
    for item in data:
        args += ["--data", item]
    start = time.monotonic()
    res = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"{' '.join(args[1:])} failed:\n{out[-6000:]}"
    return time.monotonic() - start, out
