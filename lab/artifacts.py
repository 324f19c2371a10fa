"""containerd, runc and the CNI plugins as upstream's release files, repackaged from Debian's real binaries.

The deploy downloads these from upstream's GitHub releases (kubespray's way); the lab serves files of
the same names under the same paths on its mirror (/github/<owner>/<repo>/releases/download/v<version>/),
so `group_data/lab.py` only changes the URL knobs and the checksums. The binaries are Debian's, from
the suite whose version is closest to the deploy's pin and that runs on the lab's node OS (see
`lab.debian.pick`); the version in the path is the one the binaries really are.

Upstream layouts copied (file names and archive members):
- containerd/containerd Makefile (v2.1.9, `pack_release`): containerd-<v>-linux-<arch>.tar.gz holding
  bin/{containerd,containerd-shim-runc-v2,ctr,containerd-stress}; Debian ships no containerd-stress.
- opencontainers/runc script/release_build.sh (v1.3.6): the bare binary runc.<arch> (upstream's is
  static; Debian's links libc and libseccomp, present on every node).
- containernetworking/plugins .github/workflows/release.yaml (v1.9.1): cni-plugins-linux-<arch>-v<v>.tgz,
  `tar cfzpv ... .` of the plugin binaries (upstream adds README.md and LICENSE).
- etcd-io/etcd scripts/build-release.sh (v3.6.6, `package`): etcd-v<v>-linux-<arch>.tar.gz holding
  etcd-v<v>-linux-<arch>/{etcd,etcdctl,etcdutl} (upstream adds README*.md and Documentation/), here from
  Debian's etcd-server (etcd, etcdutl) and etcd-client (etcdctl) of the same version, the one the lab's
  nodes run as kubeadm's etcd (lab/base.py install_etcd picks it the same way).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploys.digests import sha256
from lab import config, debian
from lab.run import log

RECIPE_VERSION = "1"


@dataclass(frozen=True)
class Spec:
    """One release artifact: the deploy's key prefix, Debian's package, upstream's repository and file."""

    name: str  # containerd, runc, cni_plugins: the deploy's <name>_version / _download_url / _sha256 keys
    package: str  # Debian binary package holding the binaries
    repo: str  # upstream GitHub owner/name
    file: str  # upstream file name; {version} and {arch} are filled in


SPECS = {
    "containerd": Spec("containerd", "containerd", "containerd/containerd",
                       "containerd-{version}-linux-{arch}.tar.gz"),
    "runc": Spec("runc", "runc", "opencontainers/runc", "runc.{arch}"),
    "cni_plugins": Spec("cni_plugins", "containernetworking-plugins", "containernetworking/plugins",
                        "cni-plugins-linux-{arch}-v{version}.tgz"),
    "etcd": Spec("etcd", "etcd-server", "etcd-io/etcd", "etcd-v{version}-linux-{arch}.tar.gz"),
}
# Until the deploy declares <name>_version defaults (deploys/containerd.py DEFAULTS), aim at these.
FALLBACK_VERSIONS = {"containerd": "2.1.9", "runc": "1.3.6", "cni_plugins": "1.9.1", "etcd": "3.6.6"}


def release_path(name: str, version: str, arch: str) -> str:
    """Where upstream publishes the artifact, relative to https://github.com/ (and to the lab mirror's /github/)."""
    spec = SPECS[name]
    return f"{spec.repo}/releases/download/v{version}/{spec.file.format(version=version, arch=arch)}"


def url_template(name: str) -> str:
    """The artifact's URL on the lab mirror, with the deploy's {version} and {arch} placeholders."""
    spec = SPECS[name]
    return f"{config.MIRROR_URL}/github/{spec.repo}/releases/download/v{{version}}/{spec.file}"


def wanted_versions() -> dict[str, str]:
    """The versions the deploy pins by default (its <name>_version keys), else FALLBACK_VERSIONS."""
    try:
        from deploys.components import defaults
        table = defaults()
    except Exception:  # noqa: BLE001 - the deploy may be mid-edit; the lab still builds
        table = {}
    wanted = {name: str(table.get(f"{name}_version") or version) for name, version in FALLBACK_VERSIONS.items()}
    if not table.get("etcd_version"):  # None = the etcd kubeadm runs, as the nodes' base has it
        from lab.base import kubeadm_etcd
        wanted["etcd"] = kubeadm_etcd()
    return wanted


def manifest_path(os_name: str) -> Path:
    """The record of what was built for os_name (versions, Debian sources, files, digests)."""
    return config.CACHE_DIR / f"artifacts-{os_name}.json"


def recipe_key(os_name: str, wanted: dict[str, str]) -> str:
    """A digest of everything that decides the artifacts of os_name."""
    blob = json.dumps([RECIPE_VERSION, os_name, wanted, config.ARTIFACT_SUITES, config.DEBIAN_MIRROR], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def manifest(os_name: str) -> dict[str, Any]:
    """The artifacts built for os_name (empty when none were)."""
    path = manifest_path(os_name)
    return json.loads(path.read_text()) if path.exists() else {}


def ensure(os_name: str) -> dict[str, Any]:
    """Build the artifacts for os_name unless the ones on disk come from the same recipe; return the manifest."""
    wanted = wanted_versions()
    key = recipe_key(os_name, wanted)
    current = manifest(os_name)
    if current.get("key") == key and all((config.REPO_DIR / e["path"]).exists() for e in current["artifacts"].values()):
        return current
    arch = debian.arch()
    built: dict[str, Any] = {}
    for name, spec in SPECS.items():
        candidate = debian.pick(spec.package, wanted[name], os_name)
        deb = debian.download(candidate)
        rel = "github/" + release_path(name, candidate.upstream, arch)
        dest = config.REPO_DIR / rel
        if not dest.exists():
            if name == "etcd":
                build_etcd(candidate, deb, dest)
            else:
                BUILDERS[name](deb, dest)
        built[name] = {"version": candidate.upstream, "debian": f"{candidate.package} {candidate.version}",
                       "suite": candidate.suite, "deb": deb.name, "path": rel, "sha256": sha256(dest)}
        log(f"{name} {candidate.upstream} for {os_name}: Debian {candidate.package} {candidate.version} "
            f"({candidate.suite}) -> /{rel}")
    record = {"key": key, "os": os_name, "wanted": wanted, "artifacts": built}
    manifest_path(os_name).write_text(json.dumps(record, indent=1) + "\n")
    return record


def write_tgz(dest: Path, members: list[tuple[str, Path | None]]) -> None:
    """A reproducible .tar.gz: (name, file) members in order (file None = directory), root-owned, gzip mtime 0."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    with tmp.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, src in members:
            info = tarfile.TarInfo(name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if src is None:
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(info)
                continue
            info.size, info.mode, info.mtime = src.stat().st_size, 0o755, int(src.stat().st_mtime)
            with src.open("rb") as fh:
                tar.addfile(info, fh)
    tmp.rename(dest)


def build_containerd(deb: Path, dest: Path) -> None:
    """containerd-<v>-linux-<arch>.tar.gz: bin/ with Debian's containerd, containerd-shim-runc-v2 and ctr."""
    with tempfile.TemporaryDirectory() as tmp:
        usr_bin = debian.extract(deb, Path(tmp)) / "usr/bin"
        names = ("containerd", "containerd-shim-runc-v2", "ctr")
        write_tgz(dest, [("bin/", None), *((f"bin/{n}", usr_bin / n) for n in names)])


def build_runc(deb: Path, dest: Path) -> None:
    """runc.<arch>: Debian's /usr/sbin/runc."""
    with tempfile.TemporaryDirectory() as tmp:
        binary = debian.extract(deb, Path(tmp)) / "usr/sbin/runc"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(binary, dest.with_name(dest.name + ".part"))
        dest.with_name(dest.name + ".part").chmod(0o755)
        dest.with_name(dest.name + ".part").rename(dest)


def build_cni_plugins(deb: Path, dest: Path) -> None:
    """cni-plugins-linux-<arch>-v<v>.tgz: ./<plugin> for every plugin Debian ships in /usr/lib/cni."""
    with tempfile.TemporaryDirectory() as tmp:
        plugins = sorted(p for p in (debian.extract(deb, Path(tmp)) / "usr/lib/cni").iterdir() if p.is_file())
        write_tgz(dest, [("./", None), *((f"./{p.name}", p) for p in plugins)])


def build_etcd(server: debian.Candidate, deb: Path, dest: Path) -> None:
    """etcd-v<v>-linux-<arch>.tar.gz: etcd-v<v>-linux-<arch>/ with Debian's etcd, etcdctl and etcdutl."""
    client = debian.download(debian.Candidate("etcd-client", server.version, server.suite))
    top = dest.name.removesuffix(".tar.gz")
    with tempfile.TemporaryDirectory() as tmp:
        server_bin = debian.extract(deb, Path(tmp) / "server") / "usr/bin"
        client_bin = debian.extract(client, Path(tmp) / "client") / "usr/bin"
        found = {p.name: p for d in (server_bin, client_bin) for p in d.iterdir()}  # Debian: etcdutl in etcd-server
        write_tgz(dest, [(f"{top}/", None), *((f"{top}/{b}", found[b]) for b in ("etcd", "etcdctl", "etcdutl"))])


BUILDERS = {"containerd": build_containerd, "runc": build_runc, "cni_plugins": build_cni_plugins}


def entry(name: str, os_name: str) -> dict[str, Any]:
    """The manifest entry of artifact name for os_name; RuntimeError when it was not built."""
    found = manifest(os_name).get("artifacts", {}).get(name)
    if found is None or not (config.REPO_DIR / found["path"]).exists():
        raise RuntimeError(f"the lab has not built {name} for {os_name}: run `python -m lab up --os {os_name}`")
    return found


def source_deb(name: str, os_name: str) -> tuple[Path, str]:
    """(Debian package, upstream version) artifact name of os_name was built from."""
    found = entry(name, os_name)
    return config.CACHE_DIR / "debs" / found["deb"], str(found["version"])
