"""lab up / down / status."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lab import artifacts, base, cgroups, config, mirror, network, nodes, procs, sshconf, state
from lab.run import log, quiet
from lab.standins.build import ensure_calico, ensure_k8s_repo
from lab.state import LabState


def up(topology: str, workers: int | None = None, os_name: str | None = None) -> dict[str, float]:
    """Build (or grow) the lab; return timings in seconds. os_name None = the running lab's, else the default."""
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
    for node in new:
        nodes.prepare(node, pubkey, lab.os)
        node.pid = nodes.launch(node)
        lab.nodes.append(node)
        state.save(lab)
    lab.nodes.sort(key=lambda n: tuple(int(p) for p in n.ip.split(".")))
    state.save(lab)
    for node in new:
        nodes.attach(node)
    sshconf.write_files(lab)
    with ThreadPoolExecutor(max_workers=max(1, len(new))) as pool:
        for node, status in zip(new, pool.map(nodes.wait_ready, new)):
            log(f"{node.name} {node.ip} {node.role}: {status}")
    timings["up"] = time.monotonic() - start
    return timings


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
    nodes.attach(node)
    log(f"{node.name} {node.ip}: {nodes.wait_ready(node)}")


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
    for node in lab.nodes:
        up_ = procs.is_nspawn_of(node.pid, node.name)
        lines.append(f"{node.name:<10} {node.ip:<12} {node.role:<14} {'running' if up_ else 'stopped'}")
    return lines
