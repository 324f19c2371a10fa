"""Build the lab's pkgs.k8s.io-like repositories (TEST DOUBLE kubelet/kubeadm/kubectl/cri-tools, real CNI
plugins as kubernetes-cni) for every version the lab serves, and serve Calico's real manifests.

Package names, files and dependencies copy kubernetes/release cmd/krel/templates/latest/ (master
2026-07-24: <pkg>/<pkg>.spec, kubelet/kubelet.service, kubelet/kubelet.env, kubeadm/10-kubeadm.conf and
metadata.yaml, which gives kubelet >= 1.28 `kubernetes-cni >= 1.2.0` and kubeadm >= 1.32 no dependency).
Repositories are one per minor, at k8s/core:/stable:/v<minor>/deb/ like https://pkgs.k8s.io.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from lab import artifacts, config, debian
from lab.run import log, run

NODE_SRC = Path(__file__).resolve().parent / "node"
STANDIN_LIB = "/usr/lib/k8s-standin"
# Until deploys/model.py declares RELEASES: the newest patch of each supported minor (kubernetes.io/releases,
# verified 2026-12-01, /tmp/notes/upstream.md section 1).
FALLBACK_PATCHES = {"1.35": "1.35.9", "1.36": "1.36.4", "1.37": "1.37.1"}
FALLBACK = {"kube_deb_revision": "1.1", "calico_version": "v3.31.7"}
CALICO_UPSTREAM = "https://raw.githubusercontent.com/projectcalico/calico/{version}/manifests/{file}"
CALICO_FILES = ("operator-crds.yaml", "tigera-operator.yaml")  # since v3.30 the CRDs have their own file

KUBELET_UNIT = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""
KUBELET_ENV = "KUBELET_EXTRA_ARGS=\n"
# kubeadm.spec seds /etc/sysconfig/kubelet to /etc/default/kubelet for Debian packages.
KUBEADM_DROPIN = """\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
# kubelet.spec %post/%preun: %systemd_post / %systemd_preun kubelet.service (enabled and started on install:
# "the kubelet is now restarting every few seconds", kubernetes.io install-kubeadm).
KUBELET_POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable kubelet.service >/dev/null 2>&1 || true
    systemctl restart kubelet.service || true
fi
"""
# Every stand-in package's postinst starts with this (the cleanup dh_python3's py3clean does for a Python
# package): no byte-code cache of an earlier version survives an upgrade. The packages of every version ship
# standin.py at the same size (only @KUBE_VERSION@ differs, "1.35.9" / "1.36.4" / "1.37.1") and with the
# build's time, to the second, as mtime; Python takes a __pycache__ entry as fresh when size and mtime
# (seconds) match, so a kubeadm 1.36.4 whose package was built in the same second as 1.35.9's went on
# running 1.35.9's cached module and reporting v1.35.9 (`kubeadm upgrade apply v1.36.4` then refused:
# "at least one minor release higher than the kubeadm minor release (36 > 35)"). The tools also run with
# `python3 -B` (see WRAPPER), so no cache is written in the first place.
PYCLEAN = "rm -rf {lib}/__pycache__\n"
FILES_MTIME = 1767225600  # 2026-01-01T00:00:00Z: the mtime of every stand-in package's files (pin_mtimes)
WRAPPER = "#!/bin/sh\n# TEST DOUBLE: lab stand-in for {tool}\nexec /usr/bin/python3 -B {lib}/{tool}.py \"$@\"\n"
KUBELET_PRERM = """\
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl disable --now kubelet.service >/dev/null 2>&1 || true
fi
"""
@dataclass(frozen=True)
class Package:
    """One stand-in package: its tool, upstream dependencies and files beside the stand-in code."""

    name: str
    tool: str  # /usr/bin/<tool> runs <tool>.py of the stand-in code
    section: str
    summary: str  # upstream's Summary
    depends: tuple[str, ...]  # upstream's Requires for the served minors, then what the stand-ins need
    files: dict[str, str] = field(default_factory=dict)  # extra path -> content
    dirs: tuple[str, ...] = ()  # empty directories the package ships
    conffiles: tuple[str, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)  # DEBIAN/<name> -> content


# python3-cryptography, python3-nacl: AES-GCM for the kubeadm-certs Secret, aescbc/aesgcm/secretbox at rest.
STANDIN_NEEDS = config.STANDIN_RUNTIME  # the stand-ins' interpreter and modules (in the lab's node image)
PACKAGES = (
    Package("kubelet", "kubelet", "net", "Node agent for Kubernetes clusters",
            ("iptables (>= 1.4.21)", "kubernetes-cni (>= 1.2.0)", "mount", "util-linux", *STANDIN_NEEDS, "iproute2"),
            files={"usr/lib/systemd/system/kubelet.service": KUBELET_UNIT, "etc/default/kubelet": KUBELET_ENV,
                   },
            # kubernetes/release's kubelet package ships both directories empty (kubeadm's join preflight
            # DirAvailable--etc-kubernetes-manifests fails on any file in the manifests directory).
            dirs=("var/lib/kubelet", "etc/kubernetes/manifests"),
            conffiles=("/etc/default/kubelet",), scripts={"postinst": KUBELET_POSTINST, "prerm": KUBELET_PRERM}),
    Package("kubeadm", "kubeadm", "admin", "Command-line utility for administering a Kubernetes cluster",
            (*STANDIN_NEEDS, "iproute2"),
            files={"usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": KUBEADM_DROPIN}),
    Package("kubectl", "kubectl", "admin", "Command-line utility for interacting with a Kubernetes cluster",
            STANDIN_NEEDS),
    Package("cri-tools", "crictl", "admin", "Command-line utility for interacting with a container runtime",
            STANDIN_NEEDS),
)


def version_tuple(version: str) -> tuple[int, ...]:
    """'1.37.1' -> (1, 37, 1)."""
    return tuple(int(part) for part in version.split("."))


def newest_patches() -> dict[str, str]:
    """minor -> newest patch, from deploys.model.RELEASES (falling back to FALLBACK_PATCHES)."""
    try:
        from deploys.model import RELEASES
        table = {name: str(getattr(r, "patch", None) or r["patch"]) for name, r in RELEASES.items()}
    except Exception:  # noqa: BLE001 - the deploy may be mid-edit; the lab still builds
        table = {}
    return table or dict(FALLBACK_PATCHES)


def served_versions() -> list[str]:
    """Every Kubernetes version the lab serves, ascending: each minor's newest patch, and the one before
    the newest minor's newest patch (so an upgrade within the newest minor runs through the repository)."""
    patches = newest_patches()
    versions = set(patches.values())
    newest = max(patches.values(), key=version_tuple)
    x, y, z = version_tuple(newest)
    if z > 0:
        versions.add(f"{x}.{y}.{z - 1}")
    return sorted(versions, key=version_tuple)


def minor(version: str) -> str:
    """'1.37.1' -> '1.37'."""
    return ".".join(version.split(".")[:2])


def cri_tools_version(kube_minor: str) -> str:
    """cri-tools of a minor's repository: <minor>.0 (kubernetes-sigs/cri-tools tags each minor as vX.Y.0 beside
    Kubernetes X.Y: v1.35.0 2025-12-10, v1.36.0 2026-04-24; v1.37.0 assumed, the mirror ends 2026-08-13)."""
    return f"{kube_minor}.0"


def deploy_defaults() -> dict[str, Any]:
    """kube_deb_revision and calico_version from the deploy's defaults, falling back to FALLBACK."""
    try:
        from deploys.components import defaults
        table = defaults()
    except Exception:  # noqa: BLE001 - the deploy may be mid-edit; the lab still builds
        table = {}
    return {key: table.get(key) or value for key, value in FALLBACK.items()}


def k8s_repo_dir(kube_minor: str) -> Path:
    """Where the pkgs.k8s.io-like repository of a minor release lives in the mirror."""
    return config.REPO_DIR / "k8s" / "core:" / "stable:" / f"v{kube_minor}" / "deb"


def node_files() -> list[Path]:
    """Every file of the stand-in code (each stand-in package ships all of them)."""
    return sorted(p for p in NODE_SRC.iterdir() if p.is_file() and p.suffix != ".pyc")


def sources_hash(plan: dict[str, Any]) -> str:
    """A digest of the stand-in sources, this builder and what is built."""
    h = hashlib.sha256(json.dumps(plan, sort_keys=True).encode())
    for path in [*node_files(), Path(__file__)]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def ensure_k8s_repo(os_name: str = config.DEFAULT_OS) -> list[str]:
    """Build the per-minor repositories unless up to date; return the Kubernetes versions served."""
    versions = served_versions()
    revision = str(deploy_defaults()["kube_deb_revision"])
    cni_deb, cni_version = artifacts.source_deb("cni_plugins", os_name)
    plan = {"versions": versions, "revision": revision, "cni": cni_deb.name}
    stamp = config.REPO_DIR / "k8s.stamp"
    digest = sources_hash(plan)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return versions
    shutil.rmtree(config.REPO_DIR / "k8s", ignore_errors=True)
    arch = debian.arch()
    with tempfile.TemporaryDirectory() as tmp:
        cni = build_kubernetes_cni(cni_deb, f"{cni_version}-{revision}", arch, Path(tmp))
        for kube_minor in sorted({minor(v) for v in versions}, key=version_tuple):
            repo = k8s_repo_dir(kube_minor)
            pool = repo / arch
            pool.mkdir(parents=True)
            os.link(cni, pool / cni.name)
            newest = max((v for v in versions if minor(v) == kube_minor), key=version_tuple)
            crictl = cri_tools_version(kube_minor)
            for version in (v for v in versions if minor(v) == kube_minor):
                for package in PACKAGES:
                    if package.name != "cri-tools":
                        build_standin(package, version, revision, version, crictl, arch, pool)
            build_standin(PACKAGES[-1], crictl, revision, newest, crictl, arch, pool)
            sign_repo(repo)
    stamp.write_text(digest + "\n")
    log(f"stand-in repositories built: Kubernetes {', '.join(versions)} (revision {revision}), "
        f"kubernetes-cni from {cni_deb.name}")
    return versions


def control(name: str, version: str, arch: str, section: str, depends: Iterable[str], summary: str,
            test_double: bool) -> str:
    """A DEBIAN/control file."""
    body = (" This package is a TEST DOUBLE built by the kubeadm-pyinfra lab. It keeps the\n"
            " command-line contract the deploy relies on and is not Kubernetes.\n") if test_double else (
            " Debian's real CNI plugin binaries, repackaged by the kubeadm-pyinfra lab in the\n"
            " layout of pkgs.k8s.io's kubernetes-cni.\n")
    deps = ", ".join(depends)
    return (f"Package: {name}\nVersion: {version}\nArchitecture: {arch}\n"
            "Maintainer: kubeadm-pyinfra lab <lab@localhost>\n"
            + (f"Depends: {deps}\n" if deps else "")
            + f"Section: {section}\nPriority: optional\nHomepage: https://kubernetes.io\n"
            f"Description: {summary}{' (TEST DOUBLE, lab stand-in)' if test_double else ''}\n{body}")


def pin_mtimes(root: Path) -> None:
    """Every file of a stand-in package at FILES_MTIME: the packages are reproducible, and the case of PYCLEAN
    (two versions' standin.py alike in size and mtime) is every upgrade's, not a chance of the build's timing,
    so the upgrade drills exercise it on each run."""
    for path in [*root.rglob("*"), root]:
        os.utime(path, (FILES_MTIME, FILES_MTIME), follow_symlinks=False)


def dpkg_build(root: Path, dest: Path) -> Path:
    """dpkg-deb a package tree into dest."""
    root.chmod(0o755)  # the archive's "./" (a temporary directory is 0700)
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(dest)], capture=True)
    return dest


def maintainer_scripts(package: Package) -> dict[str, str]:
    """DEBIAN/<name> -> content: the package's own scripts, its postinst starting with PYCLEAN."""
    scripts = dict(package.scripts)
    clean = PYCLEAN.format(lib=f"{STANDIN_LIB}/{package.name}")
    head, sep, rest = scripts.get("postinst", "#!/bin/sh\nset -e\n").partition("set -e\n")
    scripts["postinst"] = head + sep + clean + rest
    return scripts


def build_standin(package: Package, version: str, revision: str, kube_version: str, crictl_version: str,
                  arch: str, dest: Path) -> Path:
    """dpkg-deb one stand-in package: every stand-in file (@KUBE_VERSION@ and @CRICTL_VERSION@ filled in),
    its tool's wrapper and upstream's other files."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lib = root / STANDIN_LIB.lstrip("/") / package.name
        lib.mkdir(parents=True)
        for src in node_files():
            target = lib / src.name
            target.write_text(src.read_text().replace("@KUBE_VERSION@", kube_version)
                              .replace("@CRICTL_VERSION@", crictl_version))
            target.chmod(0o755)
        wrapper = root / "usr/bin" / package.tool
        wrapper.parent.mkdir(parents=True)
        wrapper.write_text(WRAPPER.format(tool=package.tool, lib=f"{STANDIN_LIB}/{package.name}"))
        wrapper.chmod(0o755)
        for path, content in package.files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(content)
        for path in package.dirs:
            (root / path).mkdir(parents=True, exist_ok=True)
        debian_dir = root / "DEBIAN"
        debian_dir.mkdir()
        full = f"{version}-{revision}"
        (debian_dir / "control").write_text(
            control(package.name, full, arch, package.section, package.depends, package.summary, test_double=True))
        if package.conffiles:
            (debian_dir / "conffiles").write_text("".join(f"{c}\n" for c in package.conffiles))
        for script, content in maintainer_scripts(package).items():
            (debian_dir / script).write_text(content)
            (debian_dir / script).chmod(0o755)
        pin_mtimes(root)
        return dpkg_build(root, dest / f"{package.name}_{full}_{arch}.deb")


def build_kubernetes_cni(cni_deb: Path, version: str, arch: str, dest: Path) -> Path:
    """kubernetes-cni as kubernetes-cni.spec lays it out (/opt/cni/bin, /etc/cni/net.d), from Debian's plugins."""
    with tempfile.TemporaryDirectory() as tmp:
        unpacked = debian.extract(cni_deb, Path(tmp) / "deb")
        root = Path(tmp) / "pkg"
        bin_dir = root / "opt/cni/bin"
        bin_dir.mkdir(parents=True)
        for plugin in sorted((unpacked / "usr/lib/cni").iterdir()):
            shutil.copy2(plugin, bin_dir / plugin.name)
        (root / "etc/cni/net.d").mkdir(parents=True)
        (root / "etc/cni/net.d/.kubernetes-cni-keep").write_text("")
        (root / "DEBIAN").mkdir()
        (root / "DEBIAN/control").write_text(control(
            "kubernetes-cni", version, arch, "net", (), "Binaries required to provision kubernetes container networking",
            test_double=False))
        return dpkg_build(root, dest / f"kubernetes-cni_{version}_{arch}.deb")


def gpg(*args: str) -> subprocess.CompletedProcess[str]:
    """gpg with the lab's own keyring."""
    config.GNUPG_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    return run(["gpg", "--batch", "--yes", "--quiet", "--homedir", str(config.GNUPG_DIR), *args], capture=True)


def signing_key() -> str:
    """The lab repository's signing key fingerprint, created once."""
    listing = gpg("--list-secret-keys", "--with-colons").stdout
    fprs = [line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")]
    if fprs:
        return fprs[0]
    gpg("--passphrase", "", "--quick-gen-key", "kubeadm-pyinfra lab stand-in repository <lab@localhost>",
        "rsa3072", "sign", "never")
    return signing_key()


def sign_repo(repo: Path) -> None:
    """Packages, Release, Release.gpg, InRelease and Release.key, like pkgs.k8s.io."""
    key = signing_key()
    packages = run(["apt-ftparchive", "packages", "."], capture=True, cwd=repo).stdout
    (repo / "Packages").write_text(packages)
    run(["gzip", "-kf9", str(repo / "Packages")])
    release = run(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=lab-standin",
                   "-o", "APT::FTPArchive::Release::Label=TEST DOUBLE pkgs.k8s.io", "release", "."],
                  capture=True, cwd=repo).stdout
    (repo / "Release").write_text(release)
    gpg("--local-user", key, "--armor", "--detach-sign", "--output", str(repo / "Release.gpg"), str(repo / "Release"))
    gpg("--local-user", key, "--clearsign", "--output", str(repo / "InRelease"), str(repo / "Release"))
    (repo / "Release.key").write_text(gpg("--armor", "--export", key).stdout)


def calico_versions(source: Path | None) -> list[str]:
    """The Calico releases to serve: every v* directory of source, and the deploy's default."""
    found = {p.name for p in source.glob("v*") if p.is_dir()} if source else set()
    return sorted(found | {str(deploy_defaults()["calico_version"])})


def ensure_calico() -> list[str]:
    """Serve Calico's real manifests at /calico/<version>/: copied verbatim from config.calico_dir(), else
    downloaded from upstream (projectcalico/calico manifests/ at the tag); return the versions served."""
    source = config.calico_dir()
    versions = calico_versions(source)
    for version in versions:
        dest = config.REPO_DIR / "calico" / version
        dest.mkdir(parents=True, exist_ok=True)
        local = source / version if source else None
        if local is not None and local.is_dir():
            for src in sorted(local.glob("*.yaml")):
                if not (dest / src.name).exists() or (dest / src.name).read_bytes() != src.read_bytes():
                    shutil.copyfile(src, dest / src.name)
            continue
        for name in CALICO_FILES:
            if not (dest / name).exists():
                url = CALICO_UPSTREAM.format(version=version, file=name)
                log(f"downloading {url}")
                with urllib.request.urlopen(url, timeout=60) as resp:
                    (dest / f"{name}.part").write_bytes(resp.read())
                (dest / f"{name}.part").rename(dest / name)
    return versions


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    print(ensure_k8s_repo(), ensure_calico())
