"""Install what the host needs to run the lab (Debian 12, as root)."""

from __future__ import annotations

import shutil

from lab.run import log, run

HOST_PACKAGES = ("debootstrap", "systemd-container", "iproute2", "netcat-openbsd", "dpkg-dev", "apt-utils", "gnupg",
                 "openssh-client", "openssl", "util-linux", "procps", "ca-certificates")
COMMANDS = ("debootstrap", "systemd-nspawn", "ip", "nc", "dpkg-deb", "apt-ftparchive", "gpg", "ssh", "ssh-keygen")


def missing_commands() -> list[str]:
    """Commands the lab needs that are not on PATH."""
    return [cmd for cmd in COMMANDS if shutil.which(cmd) is None]


def install() -> None:
    """apt-get install the host packages (skipped when every command is already there)."""
    if not missing_commands():
        log("host dependencies present")
        return
    log(f"installing host packages: {' '.join(HOST_PACKAGES)}")
    run(["apt-get", "update", "-q"])
    run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *HOST_PACKAGES])
