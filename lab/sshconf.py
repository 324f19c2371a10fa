"""The lab's SSH key, ssh_config (through the lab namespace) and known_hosts."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from lab import config
from lab.run import run
from lab.state import LabState, Node

PROXY = f"ip netns exec {config.NET_NS} nc %h %p"


def ensure_key() -> Path:
    """Create the lab's ed25519 key pair once."""
    config.SSH_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not config.SSH_KEY.exists():
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubeadm-pyinfra-lab", "-f", str(config.SSH_KEY)])
    return config.SSH_KEY


def ssh_config_text(state: LabState) -> str:
    """An ssh_config mapping node names to IPs, proxied into the lab namespace."""
    blocks = [f"Host {n.name}\n    HostName {n.ip}\n" for n in state.nodes]
    common = (f"Host {config.NODE_PREFIX}* {config.SUBNET_PREFIX}*\n"
              "    User root\n"
              f"    IdentityFile {config.SSH_KEY}\n"
              "    IdentitiesOnly yes\n"
              f"    UserKnownHostsFile {config.KNOWN_HOSTS}\n"
              "    StrictHostKeyChecking yes\n"
              f"    ProxyCommand {PROXY}\n"
              "    ConnectTimeout 10\n"
              "    LogLevel ERROR\n")
    return "".join(blocks) + common


def host_key(node: Node) -> str:
    """The node's ed25519 public host key line (type and key)."""
    pub = node.dir / "upper/etc/ssh/ssh_host_ed25519_key.pub"
    return " ".join(pub.read_text().split()[:2])


def write_files(state: LabState) -> None:
    """Write ssh_config and known_hosts for every node."""
    config.SSH_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    config.SSH_CONFIG.write_text(ssh_config_text(state))
    lines = [f"{n.ip},{n.name} {host_key(n)}\n" for n in state.nodes if (n.dir / "upper/etc/ssh").exists()]
    config.KNOWN_HOSTS.write_text("".join(lines))


def ssh_argv(target: str, command: list[str] | None = None, tty: bool = False) -> list[str]:
    """An OpenSSH command line reaching target through the lab's ssh_config."""
    argv = ["ssh", "-F", str(config.SSH_CONFIG)] + (["-t"] if tty else []) + [target]
    if command:
        argv.append(shlex.join(command) if len(command) > 1 else command[0])
    return argv


def ssh(target: str, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a shell command on a node, capturing output."""
    return subprocess.run(["ssh", "-F", str(config.SSH_CONFIG), "-o", "BatchMode=yes", target, command],
                          capture_output=True, text=True, timeout=timeout)
