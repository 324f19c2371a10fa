"""Debian's real packages from several suites, through a throwaway apt configuration under the lab cache.

The host's own apt (sources, lists, status) is neither read nor changed: APT_CONFIG points apt at a
configuration of the lab's whose Dir::Etc, Dir::State and Dir::Cache live in CACHE_DIR/apt.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lab import config
from lab.run import log, run

KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_UPSTREAM = re.compile(r"^(?:\d+:)?(\d+(?:\.\d+)*)")
_LIB_DEP = re.compile(r"^(lib[\w.+-]+)\s*\(>=\s*([^)\s]+)\)$")
_updated: list[bool] = []  # apt-get update runs at most once per process


@dataclass(frozen=True)
class Candidate:
    """One version of a binary package in one suite."""

    package: str
    version: str  # Debian version, e.g. "2.1.9+ds1-5"
    suite: str
    depends: str = ""

    @property
    def upstream(self) -> str:
        """The upstream version: epoch, Debian revision and +ds/~ds repack suffixes dropped ("2.1.9")."""
        match = _UPSTREAM.match(self.version)
        return match.group(1) if match else self.version

    def lib_needs(self) -> list[tuple[str, str]]:
        """(library package, minimum version) for every versioned lib* dependency."""
        needs = []
        for clause in self.depends.split(","):
            match = _LIB_DEP.match(clause.strip())
            if match:
                needs.append((match.group(1), match.group(2)))
        return needs


def version_key(version: str) -> tuple[int, ...]:
    """'2.1.9' -> (2, 1, 9), for ordering upstream versions."""
    return tuple(int(part) for part in re.findall(r"\d+", version))


def rank(candidate: Candidate, wanted: str | None) -> tuple[object, ...]:
    """Order candidates: the wanted version itself, then its minor line, then its major, then the newest."""
    have, want = version_key(candidate.upstream), version_key(wanted or "")
    return (have == want, have[:2] == want[:2], have[:1] == want[:1], have)


def apt_dir() -> Path:
    """Root of the throwaway apt configuration."""
    return config.CACHE_DIR / "apt"


def sources_text() -> str:
    """One sources.list line per suite the lab draws real binaries from."""
    return "".join(f"deb [signed-by={KEYRING}] {config.DEBIAN_MIRROR} {suite} main\n"
                   for suite in config.ARTIFACT_SUITES)


def write_config() -> Path:
    """Write the throwaway apt.conf and sources.list; return the apt.conf path."""
    root = apt_dir()
    for sub in ("etc/apt.conf.d", "etc/sources.list.d", "etc/preferences.d", "state/lists/partial",
                "cache/archives/partial"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "status").touch()
    write_if_changed(root / "etc/sources.list", sources_text())
    conf = root / "apt.conf"
    write_if_changed(conf, f'Dir::Etc "{root}/etc";\nDir::State "{root}/state";\nDir::Cache "{root}/cache";\n'
                    f'Dir::State::status "{root}/status";\nAPT::Architecture "{arch()}";\n'
                    'APT::Architectures { "' + arch() + '"; };\nAcquire::Languages "none";\n'
                    'APT::Sandbox::User "root";\n'
                    # testing's Release carries a Valid-Until a week ahead; mirrors and snapshots serve
                    # older ones. Signatures are still checked.
                    'Acquire::Check-Valid-Until "false";\n')
    return conf


def write_if_changed(path: Path, text: str) -> None:
    """Write text unless path holds it already (apt rebuilds its cache when sources.list is touched)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def apt(*argv: str, capture: bool = True, cwd: Path | None = None) -> str:
    """Run apt-get/apt-cache against the throwaway configuration; return stdout."""
    env = dict(os.environ, APT_CONFIG=str(write_config()), LC_ALL="C")
    res = subprocess.run(list(argv), text=True, env=env, cwd=cwd,
                         stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE if capture else None)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({res.returncode}): {(res.stderr or '').strip()[-2000:]}")
    return res.stdout or ""


def update() -> None:
    """Fetch the suites' package lists (once per process)."""
    if _updated:
        return
    log(f"reading Debian's package lists ({', '.join(config.ARTIFACT_SUITES)})")
    apt("apt-get", "update", "-q")
    _updated.append(True)


def arch() -> str:
    """The host's (and so the nodes') Debian architecture."""
    return run(["dpkg", "--print-architecture"], capture=True).stdout.strip()


def versions(package: str) -> list[tuple[str, str]]:
    """(version, suite) of package in the lab's suites, per `apt-cache madison`."""
    found = []
    for line in apt("apt-cache", "madison", package).splitlines():
        fields = [f.strip() for f in line.split("|")]
        if len(fields) == 3 and fields[0] == package:
            found.append((fields[1], fields[2].split()[1].split("/")[0]))
    return found


def candidates(package: str) -> list[Candidate]:
    """Every version of package in the lab's suites, with its Depends."""
    return [Candidate(package, version, suite, depends(package, version)) for version, suite in versions(package)]


def depends(package: str, version: str) -> str:
    """The Depends field of one package version."""
    show = apt("apt-cache", "show", f"{package}={version}")
    match = re.search(r"^Depends: (.*)$", show, re.M)
    return match.group(1) if match else ""


def version_ge(have: str, need: str) -> bool:
    """Debian version comparison: have >= need."""
    return subprocess.run(["dpkg", "--compare-versions", have, "ge", need]).returncode == 0


def runs_on(candidate: Candidate, suite: str, libs: dict[str, str]) -> bool:
    """Whether the binary's library needs are met by suite's libraries (libs: package -> version there)."""
    return candidate.suite == suite or all(lib in libs and version_ge(libs[lib], need)
                                           for lib, need in candidate.lib_needs())


def suite_libs(candidate: Candidate, suite: str) -> dict[str, str]:
    """Versions in suite of the libraries candidate needs."""
    libs = {}
    for lib, _ in candidate.lib_needs():
        there = [version for version, where in versions(lib) if where == suite]
        if there:
            libs[lib] = there[0]
    return libs


def pick(package: str, wanted: str | None, os_name: str) -> Candidate:
    """The version of package to use on os_name: runnable there, closest to wanted (see rank)."""
    update()
    suite = config.OS_SUITES[os_name]
    usable = [c for c in candidates(package) if runs_on(c, suite, suite_libs(c, suite))]
    if not usable:
        raise RuntimeError(f"no version of Debian's {package} in {', '.join(config.ARTIFACT_SUITES)} runs on {os_name}")
    best = max(usable, key=lambda c: rank(c, wanted))
    if wanted and best.upstream != wanted:
        log(f"{package}: Debian has no {wanted} that runs on {os_name}; using {best.version} from {best.suite}")
    return best


def download(candidate: Candidate) -> Path:
    """The candidate's .deb in the lab's cache (downloaded once)."""
    dest = config.CACHE_DIR / "debs"
    dest.mkdir(parents=True, exist_ok=True)
    pattern = f"{candidate.package}_{candidate.version.replace(':', '%3a')}_*.deb"
    found = sorted(dest.glob(pattern))
    if not found:
        update()
        apt("apt-get", "download", "-q", f"{candidate.package}={candidate.version}", cwd=dest)
        found = sorted(dest.glob(pattern))
    if not found:
        raise RuntimeError(f"apt-get download {candidate.package}={candidate.version} left no {pattern}")
    return found[0]


def extract(deb: Path, dest: Path) -> Path:
    """Unpack a .deb's files into dest; return dest."""
    dest.mkdir(parents=True, exist_ok=True)
    run(["dpkg-deb", "-x", str(deb), str(dest)])
    return dest
