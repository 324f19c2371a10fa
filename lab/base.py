"""The cached base image of each node OS (debootstrap) and the node-side Debian mirror built beside it."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from lab import config, debian
from lab.run import log, run

RECIPE_VERSION = "5"

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


# etcd as kubeadm's static pod runs it: kubeadm constants.go SupportedEtcdVersion of the newest minor
# (deploys/model.py RELEASES: 3.6.x/3.7.x); Debian has neither (3.5.30 in testing, 2026-12), so
# lab/debian.py pick() takes the newest 3.x that runs on the node OS. Not part of recipe_hash: the
# choice follows Debian, and RELEASES edits should not rebuild every base.
ETCD_FALLBACK = "3.6.6"


def kubeadm_etcd() -> str:
    """The etcd version kubeadm uses for the newest supported minor (e.g. "3.7.0"), from the deploy's table."""
    try:
        from deploys.model import RELEASES
        newest = RELEASES[max(RELEASES, key=lambda m: tuple(int(x) for x in m.split(".")))]
        return str(getattr(newest, "etcd")).split("-")[0]
    except Exception:  # noqa: BLE001 - the deploy may be mid-edit; the lab still builds
        return ETCD_FALLBACK


def recipe_hash(os_name: str) -> str:
    """A digest of everything that shapes the base of os_name, so a change rebuilds it."""
    blob = json.dumps([RECIPE_VERSION, os_name, config.OS_SUITES[os_name], config.BASE_INCLUDE, config.STANDIN_RUNTIME,
                       config.MIRROR_PACKAGES, config.ARTIFACT_SUITES, CGROUP_RW_UNIT, DPKG_TUNING,
                       DPKG_NODOC, APT_TUNING, MASKED_UNITS, MASKED_SYSCTL_FILES])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def is_cached(os_name: str) -> bool:
    """Whether a base of os_name built from the current recipe is on disk."""
    stamp = config.base_stamp(os_name)
    return stamp.exists() and stamp.read_text().strip() == recipe_hash(os_name)


def ensure_base(os_name: str = config.DEFAULT_OS, force: bool = False) -> float:
    """Build the base image and Debian mirror of os_name unless cached; return seconds spent."""
    start = time.monotonic()
    if force or not is_cached(os_name):
        build_base(os_name)
    return time.monotonic() - start


def build_base(os_name: str) -> None:
    """debootstrap the base, add Debian's etcd, download the mirror's package closure, point apt at the mirror."""
    suite = config.OS_SUITES[os_name]
    tmp = config.CACHE_DIR / f"base-{os_name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    config.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    log(f"debootstrap {suite} into {tmp} (about a minute)")
    run(["debootstrap", "--variant=minbase", f"--include={','.join(config.BASE_INCLUDE)}",
         suite, str(tmp), config.DEBIAN_MIRROR])
    configure_base(tmp)
    install_etcd(tmp, os_name)
    download_closure(tmp, config.REPO_DIR / config.debian_repo_path(os_name))
    point_apt_at_mirror(tmp, os_name)
    shutil.rmtree(config.base_dir(os_name), ignore_errors=True)
    tmp.rename(config.base_dir(os_name))
    config.base_stamp(os_name).write_text(recipe_hash(os_name) + "\n")
    log(f"base image {os_name} ready")


def install_etcd(root: Path, os_name: str) -> None:
    """Put Debian's etcd, etcdctl and etcdutl into /usr/bin of the base: binaries only, like a pre-pulled image.

    Not installed as packages: nothing of them runs at boot (no etcd.service, no /var/lib/etcd, which
    kubeadm's preflight wants absent or empty), and testing's etcd-server cannot be configured on Debian 12
    (its sysusers.d entry uses the `u!` modifier of systemd >= 257).
    """
    server = debian.pick("etcd-server", kubeadm_etcd(), os_name)
    debs = [debian.download(server), debian.download(debian.Candidate("etcd-client", server.version, server.suite))]
    log(f"etcd {server.version} ({server.suite}) into the {os_name} base: /usr/bin/etcd, etcdctl, etcdutl")
    with tempfile.TemporaryDirectory() as tmp:
        for deb in debs:
            for binary in sorted((debian.extract(deb, Path(tmp) / deb.stem) / "usr/bin").iterdir()):
                shutil.copy2(binary, root / "usr/bin" / binary.name)


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
    log("the stand-ins' runtime into the base: " + " ".join(config.STANDIN_RUNTIME))
    run(["chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends", *config.STANDIN_RUNTIME])
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


def point_apt_at_mirror(root: Path, os_name: str) -> None:
    """Replace the Debian sources with the lab mirror, like an air-gapped golden image."""
    for lists in (root / "var/lib/apt/lists").glob("*"):
        if lists.is_file():
            lists.unlink()
    for extra in (root / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    (root / "etc/apt/sources.list").write_text(
        f"deb [trusted=yes] {config.MIRROR_URL}/{config.debian_repo_path(os_name)} ./\n")
