"""One look at a node: everything the deploys gate on, gathered by a single command.

pyinfra reads facts afresh each time they are asked for; `node_state` reads this
fact once per host and run, and the operations in `deploys/ops.py` keep the copy
current as they change the node.
"""

from __future__ import annotations

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
PACKAGES = ("curl", "ca-certificates", "containerd", "kubelet", "kubeadm", "kubectl", "haproxy", "keepalived")
SERVICES = ("containerd", "kubelet", "haproxy", "keepalived")
ADDONS = "/etc/kubernetes/addons"  # NAME.applied marks a manifest applied (see ops.kubectl_apply)
# Files whose mode and SHA-1 the one look reads; components add theirs with `watch`.
WATCHED: list[str] = ["/etc/kubernetes/admin.conf", "/etc/kubernetes/kubelet.conf", f"{ADDONS}/*.yaml"]


def watch(path: str) -> str:
    """Have NodeFacts report PATH's mode and SHA-1 (globs allowed); returns PATH."""
    if path not in WATCHED:
        WATCHED.append(path)
    return path


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
    containerd_version: str | None = None
    applied: set[str] = field(default_factory=set)
    dpkg_interrupted: bool = False  # a package run was killed half-way (dpkg --configure -a needed)
    apt_updated: bool = False  # set by ops.packages once this run updated the lists

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
        lines = [
            'echo "swap=$(tail -n +2 /proc/swaps 2>/dev/null | wc -l)"',
            "test -z \"$(ls -A /var/lib/dpkg/updates 2>/dev/null)\" || echo dpkg_interrupted",
            "echo \"fstab_swap=$(grep -cE '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab 2>/dev/null)\"",
        ]
        for module, test in MODULE_EVIDENCE.items():
            lines.append(f"{test} || echo missing_module={module}")
        for key in SYSCTLS:
            lines.append(f'echo "sysctl {key}=$(sysctl -n {key} 2>/dev/null)"')
        lines.append(
            "dpkg-query -W -f='package ${Package} ${Version} ${Status}\\n' "
            + " ".join(PACKAGES)
            + " 2>/dev/null | grep ' installed$' || true"
        )
        for service in SERVICES:
            lines.append(f'echo "enabled {service}=$(systemctl is-enabled {service} 2>/dev/null)"')
            lines.append(f'echo "active {service}=$(systemctl is-active {service} 2>/dev/null)"')
        lines.append(
            "for f in " + " ".join(WATCHED) + "; do [ -f \"$f\" ] && "
            "echo \"file $(stat -c %a \"$f\") $(sha1sum \"$f\")\"; done"
        )
        ip = shlex.quote(f"{node_ip}/")
        lines.append(
            "echo \"iface=$(ip -o -4 addr show 2>/dev/null | awk -v ip=" + ip
            + " 'index($4, ip) == 1 {print $2; exit}')\""
        )
        lines.append(f"ls -1 {ADDONS} 2>/dev/null | sed -n 's/[.]applied$//p' | sed 's/^/applied=/'")
        lines.append('echo "containerd=$(containerd --version 2>/dev/null | awk \'{print $3}\')"')
        return "; ".join(lines) + "; true"

    def process(self, output: list[str]) -> NodeState:
        state = NodeState()
        for line in output:
            self._apply(state, line.strip())
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
            state.sysctls[key] = value
        elif line.startswith("package "):
            parts = line.split()
            # package NAME VERSION WANT OK STATUS (want "hold" means held)
            if len(parts) >= 6:
                state.packages[parts[1]] = (parts[2], parts[3] == "hold")
        elif line.startswith("enabled "):
            name, _, value = line[8:].partition("=")
            state.enabled[name] = value == "enabled"
        elif line.startswith("active "):
            name, _, value = line[7:].partition("=")
            state.active[name] = value == "active"
        elif line.startswith("file "):
            parts = line.split(None, 3)
            if len(parts) == 4:
                state.files[parts[3]] = (parts[1], parts[2])
        elif line.startswith("iface="):
            state.node_ip_interface = line[6:] or None
        elif line.startswith("applied="):
            state.applied.add(line[8:])
        elif line.startswith("containerd="):
            state.containerd_version = line[11:].lstrip("v") or None


def node_state(host: Any, node_ip: str) -> NodeState:
    """The host's `NodeState`, read once per run and kept current by the operations."""
    cached = getattr(host, "_kubeadm_pyinfra_node_state", None)
    if cached is None or cached[0] is not host.state:
        cached = (host.state, host.get_fact(NodeFacts, node_ip=node_ip))
        host._kubeadm_pyinfra_node_state = cached
    return cached[1]
