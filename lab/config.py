"""Fixed names, paths and addresses of the lab."""

from __future__ import annotations

import os
from pathlib import Path

STATE_DIR = Path(os.environ.get("LAB_STATE_DIR", "/var/lib/kubeadm-pyinfra-lab"))
CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/kubeadm-pyinfra-lab"))
STATE_FILE = STATE_DIR / "state.json"
NODES_DIR = STATE_DIR / "nodes"
SSH_DIR = STATE_DIR / "ssh"
SSH_KEY = SSH_DIR / "id_ed25519"
SSH_CONFIG = SSH_DIR / "config"
KNOWN_HOSTS = SSH_DIR / "known_hosts"

BASE_DIR = CACHE_DIR / "base"
BASE_STAMP = CACHE_DIR / "base.stamp"
REPO_DIR = CACHE_DIR / "repo"
GNUPG_DIR = CACHE_DIR / "gnupg"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")

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
MIRROR_PACKAGES = (
    "curl", "ca-certificates", "containerd", "runc", "haproxy", "keepalived", "gnupg",
    "apt-transport-https", "openssl", "python3-yaml", "iptables", "conntrack", "socat",
    "ethtool", "ebtables", "kmod", "ipset", "ipvsadm", "nfs-common", "jq", "lsb-release",
)
BASE_INCLUDE = (
    "systemd", "systemd-sysv", "openssh-server", "python3", "iproute2", "dbus",
    "ca-certificates", "iputils-ping", "procps", "netcat-openbsd", "sudo", "less",
)

# pyinfra's console script beside this Python: `python -m pyinfra` imports pyinfra before
# gevent patches the process, and paramiko's ProxyCommand (the lab's SSH path) then hangs.
REPO = Path(__file__).resolve().parents[1]
PYINFRA = str(Path(__import__("sys").executable).with_name("pyinfra"))
DEPLOY = [PYINFRA, "-y", "inventories/lab.py", "deploys/cluster.py"]
