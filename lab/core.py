"""lab up / down / status."""

from __future__ import annotations

import collections
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import artifacts, base, cgroups, config, limits, mirror, network, nodes, procs, sshconf, state
from lab.run import log, quiet
from lab.standins.build import ensure_calico, ensure_k8s_repo
from lab.state import LabState, Node


def up(topology: str, workers: int | None = None, os_name: str | None = None,
       raise_limits: bool = True) -> dict[str, float]:
    """Build (or grow) the lab; return timings in seconds. os_name None = the running lab's, else the default.

    Before booting, the host's limits are checked for the new nodes (lab/limits.py): raised with
    `sysctl -w` (said on stderr) or, with raise_limits False or when that fails, refused naming the
    setting. A node that does not boot is reported with the reason from its console, and `up` fails.
    """
    cps, default_workers = state.parse_topology(topology)
    want_workers = default_workers if workers is None else workers
    lab = state.load()
    os_name = state.parse_os(os_name or (lab.os if lab.nodes else config.DEFAULT_OS))
    if lab.nodes and lab.control_planes != cps:
        raise SystemExit(f"the lab runs {lab.topology}; `python -m lab down` before changing control planes")
    if lab.nodes and lab.os != os_name:
        raise SystemExit(f"the lab runs {lab.os}; `python -m lab down` before changing the nodes' OS")
    if lab.nodes and not base.is_cached(os_name):
        raise SystemExit(f"the {os_name} base image must be rebuilt (its recipe changed), but the running lab's "
                         "nodes are overlays on it: `python -m lab down` first")
    timings = {"base": base.ensure_base(os_name)}
    artifacts.ensure(os_name)
    ensure_k8s_repo(os_name)
    ensure_calico()
    start = time.monotonic()
    drop_dead_nodes(lab)
    lab.control_planes, lab.workers, lab.os = cps, want_workers, os_name
    wanted = {n.name: n for n in state.plan(cps, want_workers)}
    for extra in [n for n in lab.nodes if n.name not in wanted]:
        log(f"removing {extra.name}")
        nodes.teardown(extra.name, extra.pid)
        lab.nodes.remove(extra)
    state.save(lab)
    pubkey = sshconf.ensure_key().with_suffix(".pub").read_text()
    network.ensure_lab_net()
    if not mirror.running(lab.mirror_pid):
        lab.mirror_pid = mirror.start()
        state.save(lab)
    new = [n for name, n in wanted.items() if name not in {m.name for m in lab.nodes}]
    limits.ensure(len(new), dict(collections.Counter(n.role for n in new)), raise_limits=raise_limits,
                  per_node=measured_per_node(lab))
    for node in new:
        nodes.prepare(node, pubkey, lab.os)
        node.pid = nodes.launch(node)
        lab.nodes.append(node)
        state.save(lab)
    lab.nodes.sort(key=lambda n: tuple(int(p) for p in n.ip.split(".")))
    state.save(lab)
    unwired = attach_all(new)
    sshconf.write_files(lab)
    failed = unwired + boot_all([n for n in new if n.name not in unwired])
    timings["up"] = time.monotonic() - start
    if failed:
        raise SystemExit(f"{len(failed)} node(s) did not boot: {', '.join(failed)} (reasons above; "
                         f"console logs kept in {config.BOOT_LOGS}); `python -m lab down` cleans up")
    return timings


def attach_all(new: list[Node]) -> list[str]:
    """Wire each new node into the bridge; a node whose nspawn exits first is reported with its console's reason."""
    failed = []
    for node in new:
        try:
            nodes.attach(node)
        except RuntimeError as exc:  # procs.container_init: nspawn exited, or no systemd came up
            kept = nodes.keep_boot_log(node)
            log(f"{node.name} {node.ip} {node.role}: FAILED to boot: {exc}; its console:\n"
                f"{nodes.boot_reason(nodes.console_path(node))}" + (f"\n(console log: {kept})" if kept else ""))
            failed.append(node.name)
    return failed


def boot_all(new: list[Node]) -> list[str]:
    """Wait for every new node in parallel; log each one's state, or its console's reason; return the failed."""
    def wait(node: Node) -> str | Exception:
        try:
            return nodes.wait_ready(node)
        except nodes.NodeBootError as exc:
            return exc

    failed = []
    with ThreadPoolExecutor(max_workers=max(1, min(len(new), 64))) as pool:
        for node, status in zip(new, pool.map(wait, new)):
            if isinstance(status, Exception):
                kept = nodes.keep_boot_log(node)
                log(f"{node.name} {node.ip} {node.role}: FAILED to boot: {status}" + (f"\n(console log: {kept})" if kept else ""))
                failed.append(node.name)
            else:
                log(f"{node.name} {node.ip} {node.role}: {status}")
    return failed


def measured_per_node(lab: LabState) -> dict[str, int]:
    """The most one running node uses now (inotify, tasks): replaces limits.PER_NODE where larger."""
    most: dict[str, int] = {}
    for node in lab.nodes:
        if procs.is_nspawn_of(node.pid, node.name):
            for name, value in limits.node_usage(cgroups.pids(node.name)).items():
                most[name] = max(most.get(name, 0), value)
    return most


def node_states(lab: LabState) -> dict[str, str]:
    """Each node's state: 'running' only when its sshd answers; else why not (console's last failure)."""
    alive = {n.name for n in lab.nodes if procs.is_nspawn_of(n.pid, n.name)}
    banners = nodes.sshd_banners([n.ip for n in lab.nodes if n.name in alive])
    states = {}
    for node in lab.nodes:
        if node.name not in alive:
            states[node.name] = "stopped"
        elif nodes.sshd_answers(banners.get(node.ip, "")):
            states[node.name] = "running"
        else:
            reason = nodes.boot_reason(nodes.console_path(node), tail=1)
            states[node.name] = f"not answering on ssh ({banners.get(node.ip, 'no probe')}); console: {reason}"
    return states


def stop_node(name: str) -> None:
    """Power one node off (clean shutdown), keeping its disk: what a failure drill needs."""
    lab = state.load()
    node = lab.node(name)
    if procs.is_nspawn_of(node.pid, node.name):
        procs.terminate([node.pid])  # type: ignore[list-item]
    network.delete_netns(config.NODE_NS_PREFIX + node.name)
    quiet(["ip", "-n", config.NET_NS, "link", "del", network.veth_name(node.name)])
    quiet(["rm", "-rf", str(config.PROPAGATE_DIR / node.name)])
    log(f"{node.name} powered off")


def start_node(name: str) -> None:
    """Boot a powered-off node again from its own disk."""
    lab = state.load()
    node = lab.node(name)
    if procs.is_nspawn_of(node.pid, node.name):
        return
    nodes.prepare(node, sshconf.ensure_key().with_suffix(".pub").read_text(), lab.os)
    node.pid = nodes.launch(node)
    state.save(lab)
    if attach_all([node]) or boot_all([node]):
        raise SystemExit(f"{node.name} did not boot (reason above)")


def drop_dead_nodes(lab: LabState) -> None:
    """Forget (and clean) nodes whose nspawn is gone, so `up` recreates them."""
    for node in list(lab.nodes):
        if not procs.is_nspawn_of(node.pid, node.name):
            log(f"{node.name} is not running: recreating it")
            nodes.teardown(node.name, node.pid)
            lab.nodes.remove(node)


def down() -> list[str]:
    """Remove everything the lab made, from the state file and from what is found; return leftovers."""
    lab = state.load()
    known = {n.name: n.pid for n in lab.nodes}
    found = procs.find_nspawns(config.NODE_PREFIX)
    on_disk = {p.name for p in config.NODES_DIR.glob("*")} if config.NODES_DIR.exists() else set()
    in_netns = {n.removeprefix(config.NODE_NS_PREFIX) for n in network.lab_namespaces() if n != config.NET_NS}
    names = set(known) | set(found) | on_disk | in_netns
    pids = [pid for name in names for pid in {known.get(name), found.get(name)} if procs.is_nspawn_of(pid, name)]
    if pids:
        log(f"stopping {len(pids)} node(s)")
        procs.terminate(pids)  # in parallel: each SIGTERM is a clean poweroff of about 2 s
    for name in sorted(names):
        nodes.teardown(name, None)
    mirrors = [p for p in {lab.mirror_pid, *procs.find_mirrors(str(config.REPO_DIR))} if mirror.running(p)]
    procs.terminate(mirrors)
    network.delete_netns(config.NET_NS)
    cgroups.remove()
    for leftover in config.PROPAGATE_DIR.glob(f"{config.NODE_PREFIX}*") if config.PROPAGATE_DIR.exists() else []:
        quiet(["rm", "-rf", str(leftover)])
    config.STATE_FILE.unlink(missing_ok=True)
    for path in (config.SSH_CONFIG, config.KNOWN_HOSTS):
        path.unlink(missing_ok=True)
    return leftovers()


def leftovers() -> list[str]:
    """What of the lab still exists on the machine (empty when clean)."""
    found = [f"netns {n}" for n in network.netns_list() if n.startswith(config.NODE_NS_PREFIX)]
    mounts = Path("/proc/mounts").read_text().splitlines()
    found += [f"mount {line.split()[1]}" for line in mounts if str(config.STATE_DIR) in line.split()[1]]
    found += [f"process {pid} {name}" for name, pid in procs.find_nspawns(config.NODE_PREFIX).items()]
    found += [f"mirror process {pid}" for pid in procs.find_mirrors(str(config.REPO_DIR))]
    found += [f"cgroup {path}" for path in cgroups.leftovers()]
    if config.PROPAGATE_DIR.exists():
        found += [f"dir {p}" for p in config.PROPAGATE_DIR.glob(f"{config.NODE_PREFIX}*")]
    return found


def status_lines() -> list[str]:
    """One line per node: name, IP, role, running or not."""
    lab = state.load()
    if not lab.nodes:
        return ["no lab (run: python -m lab up)"]
    lines = [f"topology {lab.topology} on {lab.os}; mirror {'running' if mirror.running(lab.mirror_pid) else 'stopped'} at "
             f"{config.MIRROR_URL}; ssh config {config.SSH_CONFIG}"]
    lines.append(f"{'NODE':<10} {'IP':<12} {'ROLE':<14} STATE")
    states = node_states(lab)
    for node in lab.nodes:
        lines.append(f"{node.name:<10} {node.ip:<12} {node.role:<14} {states[node.name]}")
    return lines
