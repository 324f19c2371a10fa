"""One lab node: an overlay over the base, a systemd-nspawn machine, a veth into the lab bridge."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from lab import cgroups, config, network, procs
from lab.run import in_labns, quiet, run
from lab.sshconf import ssh
from lab.state import Node


def is_mounted(path: Path) -> bool:
    """Whether path is a mount point (per /proc/mounts)."""
    target = str(path)
    return any(line.split()[1] == target for line in Path("/proc/mounts").read_text().splitlines())


def prepare(node: Node, pubkey: str, os_name: str) -> None:
    """Create and mount the node's overlay on the base of os_name and give it its identity (hostname, keys)."""
    for sub in ("upper", "work", "root", "containerd"):
        (node.dir / sub).mkdir(parents=True, exist_ok=True)
    if not is_mounted(node.root):
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={config.base_dir(os_name)},upperdir={node.dir / 'upper'},workdir={node.dir / 'work'}",
             str(node.root)])
    root = node.root
    (root / "etc/hostname").write_text(node.name + "\n")
    (root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n{node.ip}\t{node.name}\n")
    if not (root / "etc/machine-id").read_text().strip():
        (root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
    auth = root / "root/.ssh/authorized_keys"
    auth.parent.mkdir(mode=0o700, exist_ok=True)
    auth.write_text(pubkey)
    auth.chmod(0o600)
    if not (root / "etc/ssh/ssh_host_ed25519_key").exists():
        run(["ssh-keygen", "-A", "-f", str(root)], capture=True)
    describe_kernel(root)


# Modules a Kubernetes host loads whose presence /sys/module may not show when built in (no parameter,
# no version): module -> Kconfig symbol (the obj-$(CONFIG_...) += <module>.o line of its kernel Makefile).
KCONFIG_MODULES = {
    "br_netfilter": "CONFIG_BRIDGE_NETFILTER", "overlay": "CONFIG_OVERLAY_FS", "nf_conntrack": "CONFIG_NF_CONNTRACK",
    "vxlan": "CONFIG_VXLAN", "ipip": "CONFIG_NET_IPIP", "ip_set": "CONFIG_IP_SET", "ip_tables": "CONFIG_IP_NF_IPTABLES",
    "ip_vs": "CONFIG_IP_VS", "ip_vs_rr": "CONFIG_IP_VS_RR", "ip_vs_wrr": "CONFIG_IP_VS_WRR", "ip_vs_sh": "CONFIG_IP_VS_SH",
}


def builtin_modules() -> list[str]:
    """Modules built into the running kernel: /sys/module entries without an initstate
    (Documentation/ABI/testing/sysfs-module), plus KCONFIG_MODULES set to y in /proc/config.gz."""
    found = {m.name for m in Path("/sys/module").iterdir() if not (m / "initstate").exists()}
    config_gz = Path("/proc/config.gz")
    if config_gz.exists():
        built_in = {line.split("=")[0] for line in gzip.decompress(config_gz.read_bytes()).decode().splitlines()
                    if line.endswith("=y")}
        found |= {module for module, symbol in KCONFIG_MODULES.items() if symbol in built_in}
    return sorted(found)


def describe_kernel(root: Path) -> None:
    """Give the node /lib/modules/<release> naming the host kernel's built-in modules, as a real host has.

    A node shares the host's kernel but not its module tree; without one, kmod cannot start
    (`modprobe overlay`, and systemd-modules-load fails on Debian 13); depmod indexes the list.
    """
    release = os.uname().release
    modules = root / "lib/modules" / release
    if (modules / "modules.builtin.bin").exists():
        return
    modules.mkdir(parents=True, exist_ok=True)
    (modules / "modules.builtin").write_text("".join(f"kernel/{name}.ko\n" for name in builtin_modules()))
    run(["chroot", str(root), "depmod", release], capture=True)


BOOT_MARK = "=== lab: boot of "
# Console lines that say why a boot went wrong (systemd's status lines, nspawn's and the kernel's errors).
FAILURE = re.compile(r"FAILED|[Ff]ailed|[Ee]rror|Too many|No space|[Cc]annot|[Cc]ould not|[Dd]enied|Timed out")


class NodeBootError(RuntimeError):
    """A node did not come up: the message carries the reason from its console."""


def console_path(node: Node) -> Path:
    return node.dir / "console.log"


def boot_log(path: Path) -> list[str]:
    """The lines of the last boot in a node's console log (nspawn's output and the node's console)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    return text.rsplit(BOOT_MARK, 1)[-1].splitlines()[1:] if BOOT_MARK in text else text.splitlines()


def boot_reason(path: Path, tail: int = 12) -> str:
    """Why the last boot failed, from its console: the failure lines (at most TAIL), else its last lines."""
    lines = [line.rstrip() for line in boot_log(path) if line.strip()]
    if not lines:
        return f"nothing on its console ({path})"
    failures = [line for line in lines if FAILURE.search(line)]
    return "\n".join((failures or lines)[-tail:])


def keep_boot_log(node: Node) -> Path | None:
    """Copy a failed node's console log where `down` keeps it (config.BOOT_LOGS/NODE.log)."""
    try:
        config.BOOT_LOGS.mkdir(parents=True, exist_ok=True)
        kept = config.BOOT_LOGS / f"{node.name}.log"
        shutil.copyfile(console_path(node), kept)
        return kept
    except OSError:
        return None


def launch(node: Node) -> int:
    """Boot the node with systemd-nspawn; return the nspawn PID. Its console goes to NODE/console.log."""
    console = console_path(node).open("ab")
    console.write(f"\n{BOOT_MARK}{node.name} at {time.strftime('%Y-%m-%dT%H:%M:%S')} ===\n".encode())
    console.flush()
    argv = ["systemd-nspawn", "--boot", f"--directory={node.root}", f"--machine={node.name}",
            f"--hostname={node.name}", "--private-network", "--register=no", "--keep-unit", "--console=pipe",
            "--capability=all", "--system-call-filter=@keyring", "--resolv-conf=off", "--timezone=off",
            "--link-journal=no", f"--bind={node.dir / 'containerd'}:/var/lib/containerd"]
    groups = cgroups.create(node.name)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=lambda: cgroups.enter(groups))
    return proc.pid


def attach(node: Node) -> None:
    """Wire the booted node into the lab bridge (once its own systemd is running)."""
    assert node.pid
    init = procs.container_init(node.pid)
    network.attach_node(node.name, node.netns, node.ip, init)


def wait_ready(node: Node, timeout: float = 180) -> str:
    """Wait for `systemctl is-system-running --wait` over SSH (so sshd answers); return the state plus
    failed units. Raise NodeBootError with the console's reason when the node's nspawn exits or
    SSH does not answer in TIMEOUT."""
    deadline = time.monotonic() + timeout
    last = ""
    retried = False
    while time.monotonic() < deadline:
        if not procs.is_nspawn_of(node.pid, node.name):
            raise NodeBootError(f"{node.name}: systemd-nspawn exited during boot; its console:\n"
                                f"{boot_reason(console_path(node))}")
        try:
            res = ssh(node.name, "systemctl is-system-running --wait", timeout=max(5, min(60, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            last = "ssh timed out"
            continue
        status = res.stdout.strip()
        if status == "running":
            return status
        if status == "degraded" and not retried:
            # The lab wires a node's network once its systemd runs (attach): a unit that started before
            # (keepalived finds no interface) failed where a real host's NIC is there at boot. Start the
            # boot's units again, once, now that the network is there.
            ssh(node.name, "systemctl reset-failed; systemctl start --no-block multi-user.target", timeout=30)
            retried = True
            continue
        if status == "degraded":
            failed = ssh(node.name, "systemctl --failed --plain --no-legend | awk '{print $1}'").stdout.split()
            return f"degraded (failed: {', '.join(failed)})"
        last = (res.stderr or status).strip()
        time.sleep(0.3)
    raise NodeBootError(f"{node.name}: sshd did not answer in {timeout:.0f}s ({last or 'no answer'}); its console:\n"
                        f"{boot_reason(console_path(node))}")


PROBE = """
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def banner(ip):
    try:
        with socket.create_connection((ip, 22), timeout=float(sys.argv[1])) as s:
            s.settimeout(float(sys.argv[1]))
            return s.recv(64).decode(errors="replace").strip()
    except OSError as exc:
        return "error: " + (exc.strerror or type(exc).__name__)
ips = sys.argv[2:]
with ThreadPoolExecutor(max_workers=max(1, min(64, len(ips)))) as pool:
    print(json.dumps(dict(zip(ips, pool.map(banner, ips)))))
"""


def sshd_banners(ips: list[str], timeout: float = 3) -> dict[str, str]:
    """What port 22 of each IP says, from inside the lab's namespace: 'SSH-2.0-...' when sshd answers."""
    if not ips:
        return {}
    res = subprocess.run(in_labns([sys.executable, "-c", PROBE, str(timeout), *ips]), capture_output=True, text=True)
    if res.returncode != 0:
        return {ip: f"error: {res.stderr.strip() or 'probe failed'}" for ip in ips}
    return json.loads(res.stdout)


def sshd_answers(banner: str) -> bool:
    return banner.startswith("SSH-")


def teardown(name: str, pid: int | None) -> None:
    """Stop the node (only if pid is still its nspawn), drop its namespace, overlay and files."""
    if procs.is_nspawn_of(pid, name):
        procs.terminate([pid])  # type: ignore[list-item]
    network.delete_netns(config.NODE_NS_PREFIX + name)
    quiet(["ip", "-n", config.NET_NS, "link", "del", network.veth_name(name)])
    node_dir = config.NODES_DIR / name
    root = node_dir / "root"
    for _ in range(3):
        if not is_mounted(root):
            break
        if not quiet(["umount", str(root)]):
            time.sleep(0.5)
            quiet(["umount", "-l", str(root)])
    shutil.rmtree(config.PROPAGATE_DIR / name, ignore_errors=True)
    cgroups.remove(name)
    if not is_mounted(root):
        shutil.rmtree(node_dir, ignore_errors=True)
