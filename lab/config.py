"""Fixed names, paths and addresses of the lab."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = Path(os.environ.get("LAB_STATE_DIR", "/var/lib/kubeadm-pyinfra-lab"))
CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/kubeadm-pyinfra-lab"))
STATE_FILE = STATE_DIR / "state.json"
NODES_DIR = STATE_DIR / "nodes"
BOOT_LOGS = STATE_DIR / "boot-logs"  # console logs of nodes that failed to boot (kept by `down`)
SSH_DIR = STATE_DIR / "ssh"
SSH_KEY = SSH_DIR / "id_ed25519"
SSH_CONFIG = SSH_DIR / "config"
KNOWN_HOSTS = SSH_DIR / "known_hosts"

REPO_DIR = CACHE_DIR / "repo"  # what the lab's mirror serves
GNUPG_DIR = CACHE_DIR / "gnupg"

# The node operating systems the lab boots: `python -m lab up --os NAME` -> the Debian suite of its base.
OS_SUITES = {"debian12": "bookworm", "debian13": "trixie"}
DEFAULT_OS = "debian12"
DEBIAN_MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Suites the lab takes Debian's real binaries from (containerd, runc, CNI plugins, etcd): the
# releases, testing (the containerd 2.x line) and experimental (newer runc); see lab/debian.py pick().
ARTIFACT_SUITES = ("bookworm", "trixie", "testing", "experimental")

NET_NS = "kpl-net"  # the lab's own network namespace, holding the bridge
NODE_NS_PREFIX = "kpl-"  # node namespaces: kpl-<node name>
BRIDGE = "br0"
SUBNET_PREFIX = "10.77.0."
GATEWAY = "10.77.0.1"
PREFIX_LEN = 24
FIRST_NODE_HOST = 11
VIP = "10.77.0.100"
MIRROR_PORT = 8080
MIRROR_URL = f"http://{GATEWAY}:{MIRROR_PORT}"
NODE_PREFIX = "lab-"
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")

# Packages the deploy installs (plus what the stand-ins need); their closure goes to the node mirror.
# Debian's containerd and runc stay: a node can be given the distribution's containerd the deploy replaces.
MIRROR_PACKAGES = (
    "curl", "ca-certificates", "containerd", "runc", "haproxy", "keepalived", "gnupg",
    "apt-transport-https", "openssl", "python3-yaml", "python3-cryptography", "python3-cffi-backend", "python3-nacl", "iptables", "conntrack", "socat",
    "ethtool", "ebtables", "kmod", "ipset", "ipvsadm", "nfs-common", "jq", "lsb-release",
)
# The stand-ins' own runtime (lab/standins/build.py STANDIN_NEEDS) is in the node image: the real
# kubelet, kubeadm, kubectl and crictl are static Go binaries whose packages pull none of it, so a
# deploy on a lab node installs what it installs on a real host (iptables, iproute2, the CNI plugins).
STANDIN_RUNTIME = (  # installed by lab/base.py after debootstrap (its --include cannot configure them)
   "python3", "python3-yaml", "python3-cryptography", "python3-nacl", "openssl")
BASE_INCLUDE = (
    "systemd", "systemd-sysv", "openssh-server", "iproute2", "dbus",
    "ca-certificates", "iputils-ping", "procps", "netcat-openbsd", "sudo", "less", "kmod", "python3",
)


def base_dir(os_name: str) -> Path:
    """The cached base image of a node OS."""
    return CACHE_DIR / f"base-{os_name}"


def base_stamp(os_name: str) -> Path:
    """The recipe digest the base image of os_name was built from."""
    return CACHE_DIR / f"base-{os_name}.stamp"


def debian_repo_path(os_name: str) -> str:
    """Path, under the mirror, of the node-side Debian repository of os_name."""
    return f"debian/{OS_SUITES[os_name]}"


def calico_dir() -> Path | None:
    """Where Calico's release manifests (<version>/*.yaml) are copied from; None = download from upstream.

    LAB_CALICO_DIR, else ../shared/upstream/calico beside the repository when it exists (development
    and CI checkouts, which cannot reach upstream).
    """
    explicit = os.environ.get("LAB_CALICO_DIR")
    if explicit:
        return Path(explicit)
    beside = REPO.parent / "shared" / "upstream" / "calico"
    return beside if beside.is_dir() else None


# pyinfra's console script beside this Python: `python -m pyinfra` imports pyinfra before
# gevent patches the process, and paramiko's ProxyCommand (the lab's SSH path) then hangs.
REPO = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(__import__("sys").executable).with_name("pyinfra"))
DEPLOY = [PYINFRA, "-y", "inventories/lab.py", "deploys/cluster.py"]
