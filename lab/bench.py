"""Benchmark: base build (cold, cached), lab up, first converge and no-op re-run per topology, SSH commands per host;
then the scale run: the 3+3 lab grown to 3+N, its no-op re-run, the ratio to 3+3's, and one worker added with --limit."""

from __future__ import annotations

import argparse
import collections
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from deploys import speed
from lab import base, cgroups, config, core, state
from lab.run import log

REPO = Path(__file__).resolve().parents[1]
DEPLOY = config.DEPLOY
BARE = [config.PYINFRA, "-y", "inventories/lab.py", "exec", "--", "true"]  # pyinfra alone: connect, one command per host
SPEED_ENV = speed.ENABLE  # the controller caches' switch
COMMAND_RE = re.compile(r"Running command on ([^:\s]+):")
OPERATION_RE = re.compile(r"--> Starting operation: (.*)")
RATIO_FLOOR = 2.0  # issue 14: no-op at 3+50 at most twice the no-op at 3+3
ADD_FLOOR = 15.0  # issue 14: one worker added to the 53-node cluster with --limit, in seconds
NOOP_RUNS = 2  # the no-op is timed this many times; the fastest counts (the machine is shared)
CPU: list[float] = []  # CPU seconds of each deploy run (pyinfra and its ProxyCommand processes), in order


def deploy(extra: list[str] | None = None, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run the deploy into the lab (ENV added to the environment); return (seconds, combined output). Raise on failure."""
    took, out, _ = timed_deploy(extra, env)
    return took, out


def timed_deploy(extra: list[str] | None = None, env: dict[str, str] | None = None,
                 argv: list[str] | None = None) -> tuple[float, str, list[tuple[str, float]]]:
    """Run the deploy (or ARGV), stamping each operation's start as pyinfra prints it: (seconds, output, [(operation, s)])."""
    argv = (argv or DEPLOY) + (extra or [])
    start, before = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})  # lines as they are printed
    assert proc.stdout is not None
    lines, starts = [], []
    for line in proc.stdout:
        lines.append(line)
        found = OPERATION_RE.search(line)
        if found:
            starts.append((found.group(1).strip(), time.monotonic()))
    proc.wait()
    end, after = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)  # the controller's (pyinfra's) CPU
    out = "".join(lines)
    kept = keep_log(out)
    if proc.returncode != 0:
        sys.stderr.write("".join(error_lines(out))[-8000:] + out[-3000:])
        raise RuntimeError(f"deploy failed ({' '.join(argv)}); its whole output: {kept}")
    stamps = [start] + [s for _, s in starts] + [end]
    steps = [("(start, inventory, facts)", stamps[1] - stamps[0])] if starts else []
    steps += [(name, stamps[i + 2] - stamps[i + 1]) for i, (name, _) in enumerate(starts)]
    return end - start, out, steps


LOG_DIR = config.STATE_DIR.parent / "kubeadm-pyinfra-bench"  # outside the lab's state: `down` keeps it


def keep_log(output: str) -> Path | None:
    """Save a deploy's whole output (LOG_DIR/deploy-<time>.log); its path, or None when it cannot be saved."""
    try:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        path = LOG_DIR / f"deploy-{time.strftime('%Y%m%dT%H%M%S')}-{time.monotonic_ns() % 10**6}.log"
        path.write_text(output)
        return path
    except OSError:
        return None


ERROR_RE = re.compile(r"[Ee]rror|[Ff]ailed|[Tt]imed out|stderr")


def error_lines(output: str) -> list[str]:
    """The lines of a pyinfra run that tell why a host failed (its error and stderr lines, not the results table)."""
    return [line for line in output.splitlines(keepends=True) if ERROR_RE.search(line) and "Grand total" not in line
            and not re.search(r"\s\d+\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s*$", line)]


def converge(attempts: int = 2) -> tuple[float, int]:
    """The first converge; a failed run is followed by one more (a run is finished by the next): (s, runs)."""
    total = 0.0
    for attempt in range(1, attempts + 1):
        start = time.monotonic()
        try:
            deploy()
            return total + time.monotonic() - start, attempt
        except RuntimeError as exc:
            total += time.monotonic() - start
            if attempt == attempts:
                raise
            log(f"bench: converge run {attempt} failed ({exc}); running it again")
    raise AssertionError("unreachable")


def commands_per_host(debug_output: str) -> dict[str, int]:
    """SSH commands each host ran, counted from pyinfra's --debug log."""
    return dict(sorted(collections.Counter(COMMAND_RE.findall(debug_output)).items()))


def changes(output: str) -> str:
    """The 'Grand total' line of a pyinfra run."""
    lines = [" ".join(line.split()) for line in output.splitlines() if "Grand total" in line]
    return lines[-1] if lines else "?"


def busy_seconds() -> float:
    """CPU seconds the whole machine has been busy since boot (/proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)) / os.sysconf("SC_CLK_TCK")


def background_load(seconds: float = 5.0) -> float:
    """Cores the machine keeps busy with no deploy running (the lab's own steady work), over SECONDS."""
    before = busy_seconds()
    time.sleep(seconds)
    return (busy_seconds() - before) / seconds


def fastest(run: Callable[[], tuple[float, str]]) -> tuple[float, str, float, float]:
    """The fastest of NOOP_RUNS runs: (seconds, output, controller CPU, machine CPU)."""
    runs = []
    for _ in range(NOOP_RUNS):
        busy = busy_seconds()
        took, out = run()
        runs.append((took, out, CPU[-1] if CPU else float("nan"), busy_seconds() - busy))
    return min(runs, key=lambda r: r[0])


def noop(extra: list[str] | None = None) -> dict[str, Any]:
    """The no-op re-run: fastest of NOOP_RUNS timed runs, its totals, then SSH commands per host (--debug); the same
    with the controller caches (KUBEADM_PYINFRA_SPEED=1); and pyinfra's own floor here: `exec -- true` on every host."""
    idle = background_load()
    took, out, cpu, machine = fastest(lambda: deploy(extra))
    _, debug = deploy((extra or []) + ["--debug"])
    log(f"bench: no-op {took:.1f} s: controller CPU {cpu:.1f} s (pyinfra and its proxy processes), machine CPU "
        f"{machine:.1f} s; before it, with no deploy running, {idle:.2f} cores busy")
    cached, _, cached_cpu, _ = fastest(lambda: deploy(extra, {SPEED_ENV: "1"}))
    bare, _, bare_cpu, bare_machine = fastest(lambda: timed_deploy(argv=BARE)[:2])
    log(f"bench: no-op with the controller caches {cached:.1f} s (controller CPU {cached_cpu:.1f} s); pyinfra's own floor "
        f"(`exec -- true`) {bare:.1f} s (controller CPU {bare_cpu:.1f} s, machine CPU {bare_machine:.1f} s)")
    return {"noop": took, "noop_totals": changes(out), "ssh": commands_per_host(debug), "noop_cached": cached,
            "bare": bare, "idle_cores": idle}


def node_usage() -> str:
    """What one node uses, the most of any running node (inotify instances, tasks, memory): for lab/limits.py."""
    from lab import limits, procs

    lab = state.load()
    most: dict[str, int] = collections.defaultdict(int)
    for node in lab.nodes:
        if procs.is_nspawn_of(node.pid, node.name):
            usage = limits.node_usage(cgroups.pids(node.name))
            usage["memory MB"] = cgroups.memory_mb(node.name) or 0
            for key, value in usage.items():
                most[key] = max(most[key], value)
    return ", ".join(f"{k.removeprefix('fs.inotify.max_user_')} {v}" for k, v in most.items()
                     if k != "kernel.threads-max")


def limits_line() -> str:
    """The host limits the nodes count against, and available memory, as they are now."""
    from lab import limits

    values = ", ".join(f"{name} {limits.read_sysctl(name)}" for name in limits.PER_NODE)
    return f"{values}; MemAvailable {limits.mem_available_mb()} MB"


def topology_run(topology: str, os_name: str, keep: bool = False) -> dict[str, object]:
    """down, up, first converge, no-op re-run (timed), no-op re-run with --debug (counted), down unless KEEP."""
    core.down()
    timings = core.up(topology, os_name=os_name)
    first, _ = deploy()
    log(f"bench [{topology}]: up {timings['up']:.1f} s, first converge {first:.1f} s")
    figures = noop()
    usage = node_usage()
    log(f"bench [{topology}]: no-op {figures['noop']:.1f} s ({figures['noop_totals']}); SSH commands per host "
        f"{sorted(set(figures['ssh'].values()))}; {usage}")
    if not keep:
        core.down()
    return {"up": timings["up"], "first": first, **figures, "usage": usage}


STANDIN_LOG = "var/log/k8s-standin.log"  # each stand-in's timestamped calls, phases and TLS bootstrap steps
TRACED = re.compile(r"kubeadm: phase |kubeadm join|bootstrap\.go|Approved CSR|Signed CSR|kubelet --")


def join_trace(names: list[str], since: str) -> list[str]:
    """The stand-in log lines of NAMES (the added node and the control planes) stamped SINCE or later, that tell
    where a join's time went: kubeadm's phases, the kubelet's starts and TLS bootstrap, the CSR's approval."""
    nodes = {n.name: n for n in state.load().nodes}
    lines = []
    for name in names:
        node = nodes.get(name)
        path = node.dir / "upper" / STANDIN_LOG if node else None
        try:
            text = path.read_text(errors="replace") if path else ""
        except OSError:
            continue
        lines += [f"{line[:23]} {name}: {line[24:][:110]}" for line in text.splitlines()
                  if line[:19] >= since and TRACED.search(line)]
    return sorted(lines)


def scale_run(workers: int, os_name: str) -> dict[str, object]:
    """On the running 3+3 lab: grow to 3+WORKERS, converge, time the no-op; add one worker with --limit; down."""
    grow = core.up("3+3", workers=workers, os_name=os_name)
    log(f"bench [3+{workers}]: grown in {grow['up']:.1f} s; {limits_line()}")
    took_converge, runs = converge()
    log(f"bench [3+{workers}]: converge {took_converge:.1f} s in {runs} run(s)")
    figures = noop()
    usage = node_usage()
    log(f"bench [3+{workers}]: no-op {figures['noop']:.1f} s ({figures['noop_totals']}); SSH commands per host "
        f"{sorted(set(figures['ssh'].values()))}; {usage}")
    core.up("3+3", workers=workers + 1, os_name=os_name)
    added = state.node_name("workers", workers + 1)
    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    add, out, steps = timed_deploy(["--limit", added])
    log(f"bench [3+{workers}]: {added} added with --limit in {add:.1f} s (controller CPU {CPU[-1]:.1f} s; "
        f"{changes(out)}); slowest: "
        + "; ".join(f"{n} {s:.1f} s" for n, s in sorted(steps, key=lambda x: -x[1])[:8]))
    trace = join_trace([added, *(state.node_name("control_plane", i) for i in (1, 2, 3))], since)
    log(f"bench [3+{workers}]: the join, from the stand-ins' logs:\n  " + "\n  ".join(trace))
    after, _ = deploy()  # the others untouched: a no-op again
    log(f"bench [3+{workers}]: the whole cluster's run after it {after:.1f} s")
    core.down()
    return {"up": grow["up"], "first": took_converge, "runs": runs, **figures, "usage": usage,
            "add": add, "add_totals": changes(out), "add_steps": sorted(steps, key=lambda s: -s[1])[:8],
            "added": added, "after_add": after}


def main(topologies: list[str], cold: bool = True, os_name: str = config.DEFAULT_OS, scale: int = 50) -> int:
    """Print the figures (and whether the scale floors hold: exit 1 when one does not)."""
    core.down()
    cold_s = base.ensure_base(os_name, force=True) if cold else float("nan")
    cached_s = base.ensure_base(os_name)
    results = {}
    for topo in topologies:
        results[topo] = topology_run(topo, os_name, keep=scale > 0 and topo == "3+3")
    if scale > 0:
        if "3+3" not in results:
            results["3+3"] = topology_run("3+3", os_name, keep=True)
        results[f"3+{scale}"] = scale_run(scale, os_name)
    print(f"nodes: {os_name}")
    print(f"base build cold:   {cold_s:7.1f} s")
    print(f"base build cached: {cached_s:7.1f} s")
    for topo, r in results.items():
        ssh = r["ssh"]
        assert isinstance(ssh, dict)
        counts = collections.Counter(ssh.values())
        runs = f" ({r['runs']} runs)" if int(r.get("runs", 1)) > 1 else ""  # type: ignore[call-overload]
        print(f"[{topo}] lab up {r['up']:.1f} s | first converge {r['first']:.1f} s{runs} | no-op re-run {r['noop']:.1f} s")
        print(f"[{topo}] no-op totals: {r['noop_totals']}")
        print(f"[{topo}] SSH commands per host on the no-op re-run: "
              + ", ".join(f"{n} on {hosts} host(s)" for n, hosts in sorted(counts.items())))
        print(f"[{topo}] one node uses at most: {r['usage']}")
    if scale > 0:
        small, big = results["3+3"], results[f"3+{scale}"]
        ratio = float(big["noop"]) / float(small["noop"])  # type: ignore[arg-type]
        add = float(big["add"])  # type: ignore[arg-type]
        print(f"no-op re-run 3+3 {small['noop']:.1f} s, 3+{scale} {big['noop']:.1f} s: ratio {ratio:.2f} "
              f"(floor <= {RATIO_FLOOR}: {'ok' if ratio <= RATIO_FLOOR else 'NOT MET'})")
        cached = float(big["noop_cached"]) / float(small["noop_cached"])  # type: ignore[arg-type]
        print(f"  with the controller caches ({SPEED_ENV}=1): 3+3 {small['noop_cached']:.1f} s, "
              f"3+{scale} {big['noop_cached']:.1f} s: ratio {cached:.2f}")
        fastest_small = min(float(small["noop"]), float(small["noop_cached"]))  # type: ignore[arg-type]
        bound = float(big["bare"]) / fastest_small  # type: ignore[arg-type]
        verdict = ("above the floor: no deploy that looks at every host can meet it here" if bound > RATIO_FLOOR else
                   f"what is left for the deploy's own work at 3+{scale}: {RATIO_FLOOR * fastest_small - float(big['bare']):.1f} s")  # type: ignore[arg-type]
        print(f"  pyinfra's own floor on this machine (`pyinfra exec -- true`: one connection and one command per "
              f"host, nothing planned): 3+3 {small['bare']:.1f} s, 3+{scale} {big['bare']:.1f} s, that is "
              f"{bound:.2f} x the fastest 3+3 no-op ({verdict})")
        print(f"  the lab itself, with no deploy running: 3+3 {small['idle_cores']:.2f} cores busy, "
              f"3+{scale} {big['idle_cores']:.2f} of {os.cpu_count()}")
        print(f"one worker ({big['added']}) added to the 3+{scale} cluster with --limit: {add:.1f} s "
              f"(floor < {ADD_FLOOR:.0f} s: {'ok' if add < ADD_FLOOR else 'NOT MET'}); {big['add_totals']}")
        print("  slowest steps of that run: " + "; ".join(f"{name} {s:.1f} s" for name, s in big["add_steps"]))  # type: ignore[union-attr]
        print(f"  the whole cluster's run after it: {big['after_add']:.1f} s")
        if ratio > RATIO_FLOOR or add >= ADD_FLOOR:
            return 1
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("topologies", nargs="*", default=["1+4", "3+3"])
    p.add_argument("--no-cold", action="store_true", help="skip the cold base rebuild")
    p.add_argument("--os", choices=sorted(config.OS_SUITES), default=config.DEFAULT_OS, help="the nodes' OS")
    p.add_argument("--scale", type=int, default=50, help="workers of the scale run (0: none)")
    o = p.parse_args()
    log("benchmark: this tears down any running lab")
    raise SystemExit(main(o.topologies, cold=not o.no_cold, os_name=o.os, scale=o.scale))
