"""Host limits the lab's nodes count against, checked before booting any: raised (said on stderr) or refused.

Every node is a systemd machine run as the host's root user (no user namespace), so what its
processes use counts against root's per-user limits on the host, alongside the host's own:

- fs.inotify.max_user_instances (default 128, per user): systemd, journald, logind, dbus... of
  every node each hold inotify instances; once used up, a node's systemd starts without its
  services (sshd among them). This is what stopped a 3+20 lab at its 22nd node.
- fs.inotify.max_user_watches (per user): the watches those instances hold.
- kernel.keys.root_maxkeys / root_maxbytes: every node's systemd makes keyrings (the lab allows
  @keyring system calls) as root.
- kernel.pid_max / kernel.threads-max: every node's processes and threads are host tasks.
Memory is not a setting: when the host lacks it, `up` refuses before booting.

PER_NODE is what one node uses, measured on a converged 3+3 lab (lab/limits.py usage(), printed by
`python -m lab bench`) with a margin; a booted lab's own measurement replaces it when larger.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

PROC_SYS = Path("/proc/sys")

# What one node uses, with a margin. Measured on a booted 3+3 lab (debian12 nodes, 2026-12-02): 9-10
# inotify instances and 9-27 watches, 22-31 tasks, ~12 keys (~200 bytes) and ~285 MB (cgroup memory,
# page cache included) per node; deployed (3+3, `python -m lab bench`): at most 9 instances, 34 watches,
# 44 tasks, 499 MB. Growing to 3+50 raised max_user_instances 128 -> 960; all 53 nodes answered on SSH.
PER_NODE = {
    "fs.inotify.max_user_instances": 12,
    "fs.inotify.max_user_watches": 600,
    "kernel.keys.root_maxkeys": 16,
    "kernel.keys.root_maxbytes": 400,
    "kernel.pid_max": 120,
    "kernel.threads-max": 120,
}
PER_NODE_MEMORY_MB = {"control_plane": 400, "workers": 300}
HEADROOM = 1.5  # what a raised limit leaves beyond the need: a lab that grows later, the host's own use


@dataclass(frozen=True)
class Need:
    """One limit: its current value, what is in use now, and what the lab will add."""

    name: str
    limit: int
    used: int
    adds: int

    @property
    def needed(self) -> int:
        return self.used + self.adds

    @property
    def enough(self) -> bool:
        return self.limit >= self.needed

    @property
    def raise_to(self) -> int:
        """The value set when raising: the need with headroom, rounded up to a multiple of 64."""
        target = int(self.needed * HEADROOM)
        return max(self.limit, -(-target // 64) * 64)


def sysctl_path(name: str) -> Path:
    return PROC_SYS / name.replace(".", "/")


def read_sysctl(name: str) -> int:
    """A numeric sysctl (its first field)."""
    return int(sysctl_path(name).read_text().split()[0])


def write_sysctl(name: str, value: int) -> None:
    """`sysctl -w NAME=VALUE` (raises OSError or CalledProcessError when refused, e.g. read-only /proc/sys)."""
    subprocess.run(["sysctl", "-q", "-w", f"{name}={value}"], check=True, capture_output=True, text=True)
    if read_sysctl(name) < value:
        raise OSError(f"{name} is still {read_sysctl(name)} after sysctl -w")


def inotify_in_use(uid: int = 0, proc: Path = Path("/proc")) -> tuple[int, int]:
    """(inotify instances, watches) held by processes of uid: what max_user_instances/watches count."""
    instances = watches = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) != "anon_inode:inotify":
                    continue
                info = (entry / "fdinfo" / fd.name).read_text()
            except OSError:
                continue
            instances += 1
            watches += sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))
    return instances, watches


def keys_in_use(uid: int = 0, key_users: Path = Path("/proc/key-users")) -> tuple[int, int]:
    """(keys, bytes) of uid from /proc/key-users (`0: 9 8/8 3/1000000 40/25000000`: keys/maxkeys bytes/maxbytes)."""
    try:
        lines = key_users.read_text().splitlines()
    except OSError:
        return 0, 0
    for line in lines:
        head, _, rest = line.partition(":")
        if head.strip() == str(uid):
            fields = rest.split()
            return int(fields[2].split("/")[0]), int(fields[3].split("/")[0])
    return 0, 0


def tasks_in_use(proc: Path = Path("/proc")) -> int:
    """Threads on the host (pid_max and threads-max count tasks)."""
    total = 0
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                total += len(os.listdir(entry / "task"))
            except OSError:
                pass
    return total


def mem_available_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    """MemAvailable in MB."""
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def current_use() -> dict[str, int]:
    """What is in use now, per limit."""
    instances, watches = inotify_in_use()
    keys, key_bytes = keys_in_use()
    tasks = tasks_in_use()
    return {"fs.inotify.max_user_instances": instances, "fs.inotify.max_user_watches": watches,
            "kernel.keys.root_maxkeys": keys, "kernel.keys.root_maxbytes": key_bytes,
            "kernel.pid_max": tasks, "kernel.threads-max": tasks}


def needs(new_nodes: int, per_node: dict[str, int] | None = None, use: dict[str, int] | None = None,
          read: Callable[[str], int] = read_sysctl) -> list[Need]:
    """Each limit against what is used now plus NEW_NODES more nodes."""
    per_node = {name: max(value, (per_node or {}).get(name, 0)) for name, value in PER_NODE.items()}
    use = current_use() if use is None else use
    return [Need(name, read(name), use.get(name, 0), new_nodes * per_node[name]) for name in PER_NODE]


class LimitError(SystemExit):
    """The host cannot take the nodes: the message names what to change."""


def log(msg: str) -> None:
    print(f"[lab] {msg}", file=sys.stderr, flush=True)


def ensure(new_nodes: int, roles: dict[str, int], *, raise_limits: bool = True, per_node: dict[str, int] | None = None,
           use: dict[str, int] | None = None, read: Callable[[str], int] = read_sysctl,
           write: Callable[[str, int], None] = write_sysctl, available_mb: Callable[[], int] = mem_available_mb) -> list[str]:
    """Before booting NEW_NODES nodes (ROLES: role -> count): raise the limits they need, or refuse naming them.

    Returns the `sysctl -w` settings made (each also said on stderr). Raises LimitError when a limit
    is too low and cannot (or must not: raise_limits False) be raised, or memory is short.
    """
    if new_nodes <= 0:
        return []
    memory = sum(PER_NODE_MEMORY_MB.get(role, 160) * count for role, count in roles.items())
    free = available_mb()
    if free < memory:
        raise LimitError(f"{new_nodes} more node(s) need about {memory} MB of memory; {free} MB is available "
                         "(MemAvailable in /proc/meminfo): free memory or boot fewer workers")
    done, refused = [], []
    for need in needs(new_nodes, per_node, use, read):
        if need.enough:
            continue
        setting = f"{need.name}={need.raise_to}"
        why = (f"{need.name} is {need.limit}; {need.used} in use and {new_nodes} more node(s) add about "
               f"{need.adds}")
        if not raise_limits:
            refused.append(f"{why}: run `sysctl -w {setting}` (or keep it in /etc/sysctl.d/)")
            continue
        try:
            write(need.name, need.raise_to)
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", None) or str(exc)
            refused.append(f"{why}, and raising it failed ({str(detail).strip()}): run `sysctl -w {setting}` "
                           "as root on the host")
            continue
        log(f"raised {need.name} from {need.limit} to {need.raise_to} (sysctl -w {setting}): {why}")
        done.append(setting)
    if refused:
        raise LimitError("the host's limits cannot take the lab's nodes:\n  " + "\n  ".join(refused))
    return done


def node_usage(pids: list[int], proc: Path = Path("/proc")) -> dict[str, int]:
    """What the processes of one node use: inotify instances and watches, tasks (for PER_NODE)."""
    instances = watches = tasks = 0
    for pid in pids:
        entry = proc / str(pid)
        try:
            tasks += len(os.listdir(entry / "task"))
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == "anon_inode:inotify":
                    instances += 1
                    watches += sum(1 for line in (entry / "fdinfo" / fd.name).read_text().splitlines()
                                   if line.startswith("inotify wd:"))
            except OSError:
                continue
    return {"fs.inotify.max_user_instances": instances, "fs.inotify.max_user_watches": watches,
            "kernel.pid_max": tasks, "kernel.threads-max": tasks}
