"""Command line: python -m lab up|down|status|ssh|stop|start|versions|deps|bench."""

from __future__ import annotations

import argparse
import os
import sys

from lab import config


def cmd_up(opts: argparse.Namespace) -> int:
    """Build or grow the lab."""
    from lab import core
    timings = core.up(opts.topology, opts.workers, opts.os, raise_limits=not opts.no_raise_limits)
    print("\n".join(core.status_lines()))
    print(f"base {timings['base']:.1f}s, up {timings['up']:.1f}s. Deploy: pyinfra -y inventories/lab.py deploys/cluster.py")
    return 0


def cmd_down(opts: argparse.Namespace) -> int:
    """Tear the lab down and report leftovers."""
    from lab import core
    left = core.down()
    if left:
        print("left behind:\n  " + "\n  ".join(left), file=sys.stderr)
        return 1
    print("lab down: nothing left behind")
    return 0


def cmd_status(opts: argparse.Namespace) -> int:
    """Print the nodes."""
    from lab import core
    print("\n".join(core.status_lines()))
    return 0


def cmd_ssh(opts: argparse.Namespace) -> int:
    """Open a shell (or run a command) on a node."""
    from lab import sshconf, state
    node = state.load().node(opts.node)
    argv = sshconf.ssh_argv(node.name, opts.command, tty=not opts.command and sys.stdin.isatty())
    os.execvp(argv[0], argv)
    return 0


def cmd_stop(opts: argparse.Namespace) -> int:
    """Power a node off, keeping its disk."""
    from lab import core
    core.stop_node(opts.node)
    return 0


def cmd_start(opts: argparse.Namespace) -> int:
    """Boot a powered-off node again."""
    from lab import core
    core.start_node(opts.node)
    return 0


def cmd_versions(opts: argparse.Namespace) -> int:
    """Print every Kubernetes version the lab's repositories serve, ascending."""
    from lab.standins.build import served_versions
    print("\n".join(served_versions()))
    return 0


def cmd_deps(opts: argparse.Namespace) -> int:
    """Install host dependencies."""
    from lab import deps
    deps.install()
    return 0


def cmd_bench(opts: argparse.Namespace) -> int:
    """Run the benchmark."""
    from lab import bench
    return bench.main(opts.topologies, cold=not opts.no_cold, os_name=opts.os, scale=opts.scale)


def parser() -> argparse.ArgumentParser:
    """The lab's argument parser."""
    p = argparse.ArgumentParser(prog="python -m lab", description="Local systemd-nspawn lab for the kubeadm deploy.")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build the lab, or add/remove workers on a running one")
    up.add_argument("--topology", default="3+3", help="CONTROL_PLANES+WORKERS: 1+4 or 3+3 (default)")
    up.add_argument("--workers", type=int, help="number of workers (overrides the topology's)")
    up.add_argument("--os", choices=sorted(config.OS_SUITES),
                    help=f"the nodes' OS (default: the running lab's, else {config.DEFAULT_OS})")
    up.add_argument("--no-raise-limits", action="store_true",
                    help="refuse (naming the sysctl setting) instead of raising a host limit the nodes need")
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="remove every node, namespace, mount and process of the lab").set_defaults(func=cmd_down)
    sub.add_parser("status", help="list nodes, IPs, roles and whether they run").set_defaults(func=cmd_status)
    ssh = sub.add_parser("ssh", help="ssh to a node (name, short name or IP)")
    ssh.add_argument("node")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    ssh.set_defaults(func=cmd_ssh)
    for name, func, text in (("stop", cmd_stop, "power a node off (its disk is kept)"),
                             ("start", cmd_start, "boot a powered-off node again")):
        node_cmd = sub.add_parser(name, help=text)
        node_cmd.add_argument("node")
        node_cmd.set_defaults(func=func)
    sub.add_parser("versions", help="print the Kubernetes versions the lab serves, ascending").set_defaults(
        func=cmd_versions)
    sub.add_parser("deps", help="apt-get install the host's dependencies").set_defaults(func=cmd_deps)
    bench = sub.add_parser("bench", help="time base build, lab up, first converge and no-op re-run; "
                                         "grow 3+3 to 3+N: no-op ratio, one worker added with --limit")
    bench.add_argument("topologies", nargs="*", default=["1+4", "3+3"])
    bench.add_argument("--no-cold", action="store_true", help="skip the cold base rebuild")
    bench.add_argument("--os", choices=sorted(config.OS_SUITES), default=config.DEFAULT_OS, help="the nodes' OS")
    bench.add_argument("--scale", type=int, default=50,
                       help="workers of the scale run on the 3+3 lab (default 50; 0: none)")
    bench.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a lab command."""
    opts = parser().parse_args(argv)
    if opts.cmd not in ("status", "versions") and os.geteuid() != 0:
        print("the lab needs root (namespaces, mounts, systemd-nspawn)", file=sys.stderr)
        return 2
    return opts.func(opts)
