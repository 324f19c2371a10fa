"""One look at a node: everything the deploys gate on, gathered by a single command.

pyinfra reads facts afresh each time they are asked for; `node_state` reads this
fact once per host and run, and the operations in `deploys/ops.py` keep the copy
current as they change the node.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api import FactBase

SYSCTLS = {
    "net.bridge.bridge-nf-call-iptables": "1",
    "net.bridge.bridge-nf-call-ip6tables": "1",
    "net.ipv4.ip_forward": "1",
}
# Module -> what proves it is present (loaded or built in); modprobe only when absent.
MODULE_EVIDENCE = {
    "overlay": "grep -qw overlay /proc/filesystems",
    "br_netfilter": "test -e /proc/sys/net/bridge/bridge-nf-call-iptables",
}
ADDONS = "/etc/kubernetes/addons"  # NAME.applied marks a manifest applied (see ops.kubectl_apply)
# NAME.done marks a step finished (written only after success: kubeadm init/join, installed artifacts).
DONE = "/var/lib/kubeadm-pyinfra"
_SHA1SUM = re.compile(r"[0-9a-f]{40}  /")  # a sha1sum output line: DIGEST, two spaces, PATH
# Files refreshed when older than this many days (repository keys: pkgs.k8s.io rotated its key in 2024-11).
REFRESH_DAYS = 7


@dataclass(frozen=True)
class Owned:
    """What a component owns on a node: the one look reads them (mode and SHA-1, version and hold, state).

    Files are plain paths or globs, and reach the look's shell command unquoted (so that globs
    expand): only letters, digits and _ . / * - are allowed.
    """

    files: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for path in self.files:
            if not re.fullmatch(r"/[A-Za-z0-9_./*-]+", path) or ".." in path.split("/"):
                raise ValueError(f"owned path {path!r}: only letters, digits and _ . / * - are allowed")
        for name in (*self.packages, *self.services):
            if not re.fullmatch(r"[a-z0-9][a-z0-9.+-]*", name):
                raise ValueError(f"owned package or service {name!r}: not a Debian package or unit name")


def owned() -> Owned:
    """Everything the components own, in component order, each once (from each component's OWNS)."""
    from deploys import components  # components import this module: resolved at call time

    def merged(kind: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys(item for c in components.COMPONENTS for item in getattr(c.OWNS, kind)))

    return Owned(merged("files"), merged("packages"), merged("services"))


@dataclass
class NodeState:
    """What one host looks like right now (for the parts the deploys manage)."""

    swap_active: bool = False
    fstab_swap: bool = False
    missing_modules: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    packages: dict[str, tuple[str, bool]] = field(default_factory=dict)  # name -> (version, held)
    enabled: dict[str, bool] = field(default_factory=dict)
    active: dict[str, bool] = field(default_factory=dict)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (mode, sha1)
    node_ip_interface: str | None = None
    applied: set[str] = field(default_factory=set)
    arch: str = "amd64"  # dpkg architecture
    os: str = ""  # "ID VERSION_ID" from /etc/os-release, e.g. "debian 12"
    cgroup_fs: str = ""  # file system type of /sys/fs/cgroup: "cgroup2fs" for cgroup v2
    done: set[str] = field(default_factory=set)  # stamps in DONE, without ".done"
    stale: set[str] = field(default_factory=set)  # watched files older than REFRESH_DAYS
    dpkg_interrupted: bool = False  # a package run was killed half-way (dpkg --configure -a needed)
    apt_updated: bool = False  # set by ops.packages once this run updated the lists
    sources_refreshed: set[int] = field(default_factory=set)  # source-writing operations whose change was fetched

    def has(self, path: str) -> bool:
        return path in self.files

    def installed(self, name: str, version: str | None = None) -> bool:
        current = self.packages.get(name)
        return current is not None and (version is None or current[0] == version)


class NodeFacts(FactBase):
    """Swap, modules, sysctls, packages, services, watched files and the node IP's interface, in one command."""

    @staticmethod
    def default() -> NodeState:
        return NodeState()

    def command(self, node_ip: str) -> str:
        """The look's command; NODE_IP (the host's, from the run's model) names the interface that holds it.

        Shell built-ins where they read the same thing, so that a look spawns few processes (it runs on
        every host at every run: a no-op's cost on the nodes).
        """
        ip = shlex.quote(f"{node_ip}/")
        mine = owned()
        lines = [
            # /proc/swaps: a header line, then one line per active swap area
            'n=0; { read -r _ && while read -r _; do n=$((n + 1)); done; } < /proc/swaps 2>/dev/null; echo "swap=$n"',
            "echo \"fstab_swap=$(grep -cE '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null)\"",
            # any entry in dpkg's updates directory (what `ls -A` would list)
            "for u in /var/lib/dpkg/updates/* /var/lib/dpkg/updates/.[!.]* /var/lib/dpkg/updates/..?*;"
            ' do [ -e "$u" ] && { echo dpkg_interrupted; break; }; done',
            *(f"{test} || echo missing_module={module}" for module, test in MODULE_EVIDENCE.items()),
            # what `sysctl KEY` reads (a missing key prints nothing, as sysctl's error went to /dev/null); read byte by
            # byte (dash), a /proc/sys file ends after its value, without the newline: `read` fails but sets v
            *(f'v=; {{ read -r v || [ -n "$v" ]; }} 2>/dev/null < /proc/sys/{key.replace(".", "/")} && echo "sysctl {key}=$v"'
              for key in SYSCTLS),
            # every owned package dpkg knows; process() keeps the installed ones
            "dpkg-query -W -f='package ${Package} ${Version} ${Status}\\n' " + " ".join(mine.packages) + " 2>/dev/null",
            # one block per unit: Id=, ActiveState=, UnitFileState= (empty when not installed)
            f"systemctl show -p Id,ActiveState,UnitFileState {' '.join(mine.services)} 2>/dev/null | sed 's/^/unit /'",
            "set --; for f in " + " ".join(mine.files) + '; do [ -f "$f" ] && set -- "$@" "$f"; done',
            'if [ $# -gt 0 ]; then stat -c "mode %a %n" "$@"; sha1sum "$@";'
            f' find "$@" -mtime +{REFRESH_DAYS} -printf "stale=%p\\n"; fi',
            'echo "arch=$(dpkg --print-architecture 2>/dev/null)"',
            'echo "os=$(. /etc/os-release 2>/dev/null; echo "$ID $VERSION_ID")"',
            "stat -fc cgroup_fs=%T /sys/fs/cgroup 2>/dev/null",
            f'for d in {DONE}/*.done; do [ -e "$d" ] && {{ d=${{d##*/}}; echo "done=${{d%.done}}"; }}; done',
            "echo \"iface=$(ip -o -4 addr show 2>/dev/null | awk -v ip=" + ip + " 'index($4, ip) == 1 {print $2; exit}')\"",
            f'for a in {ADDONS}/*.applied; do [ -e "$a" ] && {{ a=${{a##*/}}; echo "applied=${{a%.applied}}"; }}; done',
        ]
        return "; ".join(lines) + "; true"

    def process(self, output: list[str]) -> NodeState:
        state = NodeState()
        modes: dict[str, str] = {}
        unit: dict[str, str] = {}
        for line in [*output, "unit "]:
            line = line.strip()
            if line.startswith("unit"):  # systemctl show blocks end with an empty line
                key, _, value = line[5:].partition("=")
                if key:
                    unit[key] = value
                elif unit.get("Id"):
                    name = unit["Id"].removesuffix(".service")
                    state.enabled[name] = unit.get("UnitFileState") == "enabled"
                    state.active[name] = unit.get("ActiveState") == "active"
                    unit = {}
            elif line.startswith("mode "):
                _, mode, path = line.split(" ", 2)
                modes[path] = mode
            elif line.startswith("sha1 ") or _SHA1SUM.match(line):  # as sha1sum prints it
                digest, path = line.removeprefix("sha1 ").split(None, 1)
                state.files[path] = (modes.get(path, "?"), digest)
            else:
                self._apply(state, line)
        return state

    @staticmethod
    def _apply(state: NodeState, line: str) -> None:
        if line.startswith("swap="):
            state.swap_active = line[5:] not in ("", "0")
        elif line.startswith("fstab_swap="):
            state.fstab_swap = line[11:] not in ("", "0")
        elif line == "dpkg_interrupted":
            state.dpkg_interrupted = True
        elif line.startswith("missing_module="):
            state.missing_modules.append(line.split("=", 1)[1])
        elif line.startswith("sysctl "):
            key, _, value = line[7:].partition("=")
            state.sysctls[key.strip()] = value.strip()
        elif line.startswith("package "):
            parts = line.split()
            # package NAME VERSION WANT OK STATUS (want "hold" means held); only installed ones count
            if len(parts) >= 6 and parts[-1] == "installed":
                state.packages[parts[1]] = (parts[2], parts[3] == "hold")
        elif line.startswith("iface="):
            state.node_ip_interface = line[6:] or None
        elif line.startswith("applied="):
            state.applied.add(line[8:])
        elif line.startswith("done="):
            state.done.add(line[5:])
        elif line.startswith("stale="):
            state.stale.add(line[6:])
        elif line.startswith("arch=") and re.fullmatch(r"[a-z0-9]+", line[5:]):  # a dpkg architecture name
            state.arch = line[5:]
        elif line.startswith("os="):
            state.os = line[3:].strip()
        elif line.startswith("cgroup_fs="):
            state.cgroup_fs = line[10:]


def node_state(host: Any) -> NodeState:
    """HOST's `NodeState`, read once per run (kept in the run context) and kept current by the operations.

    The look finds the interface holding the host's node IP, which it takes from the run's model.
    """
    from deploys import context

    run = context.of(host.state)
    cached = run.nodes.get(host.name)
    if cached is not None:
        return cached
    # Hosts are planned side by side (greenlets): another host's planning may ask for this host's look while
    # this host's own request is on the wire. The second waits for the first instead of asking again.
    with run.looking.setdefault(host.name, context.RLock()):
        cached = run.nodes.get(host.name)
        if cached is None:
            node_ip = context.cluster(host.state).node(host.name).node_ip
            cached = run.nodes[host.name] = host.get_fact(NodeFacts, node_ip=node_ip)
    return cached
