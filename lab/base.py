"""The cached base image (debootstrap) and the node-side Debian mirror built beside it."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

from lab import config
from lab.run import log, run

RECIPE_VERSION = "4"

CGROUP_RW_UNIT = """\
[Unit]
Description=Lab: remount cgroup v1 controllers read-write (runc needs them)
DefaultDependencies=no
Before=containerd.service sysinit.target
ConditionPathIsReadWrite=!/sys/fs/cgroup/memory

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for c in cpu cpuacct cpuset memory devices freezer blkio pids; do mount -o remount,bind,rw /sys/fs/cgroup/$c || true; done'

[Install]
WantedBy=sysinit.target
"""

DPKG_TUNING = "force-unsafe-io\n"
DPKG_NODOC = """\
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/info/*
"""
APT_TUNING = 'Acquire::Languages "none";\nAcquire::PDiffs "false";\nAPT::Update::Post-Invoke-Success "";\n'
# kernel.* and fs.* are read-only inside a container: mask the base's files that set them, so
# `sysctl --system` on a node does what it does on a real host (only net.* is per node).
MASKED_SYSCTL_FILES = ("50-pid-max.conf", "99-protect-links.conf")
MASKED_UNITS = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
    "e2scrub_all.timer", "fstrim.timer", "systemd-journald-audit.socket", "getty.target",
    "console-getty.service", "systemd-timesyncd.service",
)


def recipe_hash() -> str:
    """A digest of everything that shapes the base, so a change rebuilds it."""
    blob = json.dumps([RECIPE_VERSION, config.BASE_INCLUDE, config.MIRROR_PACKAGES, config.DEBIAN_SUITE,
                       CGROUP_RW_UNIT, DPKG_TUNING, DPKG_NODOC, APT_TUNING, MASKED_UNITS, MASKED_SYSCTL_FILES])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_cached() -> bool:
    """Whether a base built from the current recipe is on disk."""
    return config.BASE_STAMP.exists() and config.BASE_STAMP.read_text().strip() == recipe_hash()


def ensure_base(force: bool = False) -> float:
    """Build the base image and Debian mirror unless cached; return seconds spent."""
    start = time.monotonic()
    if force or not is_cached():
        build_base()
    return time.monotonic() - start


def build_base() -> None:
    """debootstrap the base, download the mirror's package closure, point apt at the mirror."""
    tmp = config.CACHE_DIR / "base.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    config.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap {config.DEBIAN_SUITE} into {tmp} (about a minute)")
    run(["debootstrap", "--variant=minbase", f"--include={','.join(config.BASE_INCLUDE)}",
         config.DEBIAN_SUITE, str(tmp), config.DEBIAN_MIRROR])
    configure_base(tmp)
    download_closure(tmp, config.REPO_DIR / "debian")
    point_apt_at_mirror(tmp)
    shutil.rmtree(config.BASE_DIR, ignore_errors=True)
    tmp.rename(config.BASE_DIR)
    config.BASE_STAMP.write_text(recipe_hash() + "\n")
    log("base image ready")


def configure_base(root: Path) -> None:
    """Make the debootstrapped tree a bootable, node-neutral nspawn image."""
    (root / "etc/machine-id").write_text("")
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/hostname").unlink(missing_ok=True)
    unit = root / "etc/systemd/system/cgroup-v1-rw.service"
    unit.write_text(CGROUP_RW_UNIT)
    wants = root / "etc/systemd/system/sysinit.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "cgroup-v1-rw.service").unlink(missing_ok=True)
    (wants / "cgroup-v1-rw.service").symlink_to("/etc/systemd/system/cgroup-v1-rw.service")
    for name in MASKED_UNITS:
        link = root / "etc/systemd/system" / name
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for name in MASKED_SYSCTL_FILES:
        link = root / "etc/sysctl.d" / name
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (root / "etc/dpkg/dpkg.cfg.d/lab-unsafe-io").write_text(DPKG_TUNING)
    (root / "etc/dpkg/dpkg.cfg.d/lab-nodoc").write_text(DPKG_NODOC)
    (root / "etc/apt/apt.conf.d/90lab").write_text(APT_TUNING)
    ssh_dir = root / "root/.ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)


def download_closure(root: Path, repo: Path) -> None:
    """Download what the deploy installs, with dependencies, into a flat Debian repository."""
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    shutil.copy("/etc/resolv.conf", resolv)
    log("downloading the node package closure")
    run(["chroot", str(root), "apt-get", "update", "-q"])
    run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--download-only", *config.MIRROR_PACKAGES])
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "pool").mkdir(parents=True)
    for deb in (root / "var/cache/apt/archives").glob("*.deb"):
        shutil.move(str(deb), repo / "pool" / deb.name)
    run(["chroot", str(root), "apt-get", "clean"])
    resolv.unlink()
    index_flat_repo(repo)


def index_flat_repo(repo: Path) -> None:
    """Write Packages(.gz) and Release for a flat repository at repo."""
    packages = run(["apt-ftparchive", "packages", "."], capture=True, cwd=repo).stdout
    (repo / "Packages").write_text(packages)
    run(["gzip", "-kf9", str(repo / "Packages")])
    release = run(["apt-ftparchive", "release", "."], capture=True, cwd=repo).stdout
    (repo / "Release").write_text(release)


def point_apt_at_mirror(root: Path) -> None:
    """Replace the Debian sources with the lab mirror, like an air-gapped golden image."""
    for lists in (root / "var/lib/apt/lists").glob("*"):
        if lists.is_file():
            lists.unlink()
    (root / "etc/apt/sources.list").write_text(f"deb [trusted=yes] {config.MIRROR_URL}/debian ./\n")
