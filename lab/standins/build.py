"""Build the TEST DOUBLE kubelet/kubeadm/kubectl debs, the signed pkgs.k8s.io-like repo and the Calico stand-in."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import yaml

from lab import config
from lab.run import log, run

NODE_SRC = Path(__file__).resolve().parent / "node"
FALLBACK = {"kube_version": "1.34.2", "kube_deb_revision": "1.1", "calico_version": "v3.30.3"}
UPSTREAM_CALICO = Path(__file__).resolve().parents[3] / "shared/upstream/calico"

KUBELET_UNIT = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent (TEST DOUBLE, lab stand-in)
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
KUBELET_DROPIN = """\
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""
KUBELET_POSTINST = """\
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    systemctl enable kubelet.service >/dev/null 2>&1 || true
    systemctl restart kubelet.service || true
fi
"""
PACKAGES: dict[str, dict[str, Any]] = {
    "kubelet": {"files": ["kubelet.py"], "depends": "python3, iproute2, mount",
                "summary": "TEST DOUBLE of the Kubernetes node agent (lab stand-in, not Kubernetes)"},
    "kubeadm": {"files": ["kubeadm.py", "apiserver.py"], "depends": "python3, python3-yaml, openssl, iproute2",
                "summary": "TEST DOUBLE of kubeadm with a stand-in API server (lab stand-in, not Kubernetes)"},
    "kubectl": {"files": ["kubectl.py"], "depends": "python3, python3-yaml",
                "summary": "TEST DOUBLE of kubectl (lab stand-in, not Kubernetes)"},
}


def deploy_defaults() -> dict[str, Any]:
    """Cluster-wide defaults from the deploy package (versions), falling back to the documented ones."""
    try:
        from deploys.components import defaults
        table = defaults()
    except Exception:  # noqa: BLE001 - the deploy may not exist yet or be mid-edit
        try:
            from deploys.model import DEFAULTS as table
        except Exception:  # noqa: BLE001
            table = {}
    return {key: table.get(key) or value for key, value in FALLBACK.items()}


def minor(version: str) -> str:
    """'1.34.2' -> '1.34'."""
    return ".".join(version.split(".")[:2])


def k8s_repo_dir(version: str) -> Path:
    """Where the pkgs.k8s.io-like repository of a minor release lives in the mirror."""
    return config.REPO_DIR / "k8s" / "core:" / "stable:" / f"v{minor(version)}" / "deb"


def sources_hash(defaults: dict[str, Any]) -> str:
    """A digest of the stand-in sources and versions."""
    h = hashlib.sha256(json.dumps(defaults, sort_keys=True).encode())
    for path in sorted(NODE_SRC.glob("*.py")) + [Path(__file__)]:
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def ensure_k8s_repo() -> dict[str, Any]:
    """Build the stand-in repo and Calico manifest unless up to date; return the defaults used."""
    defaults = deploy_defaults()
    stamp = config.REPO_DIR / "k8s.stamp"
    digest = sources_hash(defaults)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return defaults
    version = f"{defaults['kube_version']}-{defaults['kube_deb_revision']}"
    repo = k8s_repo_dir(defaults["kube_version"])
    shutil.rmtree(config.REPO_DIR / "k8s", ignore_errors=True)
    (repo / "amd64").mkdir(parents=True)
    for name in PACKAGES:
        build_deb(name, version, defaults["kube_version"], repo / "amd64")
    sign_repo(repo)
    write_calico(defaults["calico_version"])
    stamp.write_text(digest + "\n")
    log(f"stand-in packages {version} and Calico stand-in {defaults['calico_version']} built")
    return defaults


def arch() -> str:
    """The host's Debian architecture."""
    return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout.strip()


def build_deb(name: str, version: str, kube_version: str, dest: Path) -> Path:
    """dpkg-deb one stand-in package."""
    spec = PACKAGES[name]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        lib = root / "usr/lib/k8s-standin" / name
        lib.mkdir(parents=True)
        for src in ["standin.py", *spec["files"]]:
            text = (NODE_SRC / src).read_text().replace("@KUBE_VERSION@", kube_version)
            (lib / src).write_text(text)
            (lib / src).chmod(0o755)
        bindir = root / "usr/bin"
        bindir.mkdir(parents=True)
        wrapper = bindir / name
        wrapper.write_text(f"#!/bin/sh\n# TEST DOUBLE: lab stand-in for {name}\n"
                           f"exec /usr/bin/python3 /usr/lib/k8s-standin/{name}/{name}.py \"$@\"\n")
        wrapper.chmod(0o755)
        debian = root / "DEBIAN"
        debian.mkdir()
        if name == "kubelet":
            unit_dir = root / "usr/lib/systemd/system"
            (unit_dir / "kubelet.service.d").mkdir(parents=True)
            (unit_dir / "kubelet.service").write_text(KUBELET_UNIT)
            (unit_dir / "kubelet.service.d/10-kubeadm.conf").write_text(KUBELET_DROPIN)
            (debian / "postinst").write_text(KUBELET_POSTINST)
            (debian / "postinst").chmod(0o755)
        (debian / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: {arch()}\n"
            "Maintainer: kubeadm-pyinfra lab <lab@localhost>\n"
            f"Depends: {spec['depends']}\nSection: admin\nPriority: optional\n"
            f"Homepage: https://kubernetes.io\nDescription: {spec['summary']}\n"
            " This package is a TEST DOUBLE built by the kubeadm-pyinfra lab. It keeps the\n"
            " command-line contract the deploy relies on and is not Kubernetes.\n")
        out = dest / f"{name}_{version}_{arch()}.deb"
        run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(out)], capture=True)
        return out


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


def crd(plural: str, kind: str) -> dict[str, Any]:
    """A minimal operator.tigera.io CRD."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.operator.tigera.io"},
            "spec": {"group": "operator.tigera.io", "scope": "Cluster",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                     "versions": [{"name": "v1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def write_calico(version: str) -> None:
    """A clearly labelled stand-in tigera-operator.yaml at /calico/<version>/."""
    dest = config.REPO_DIR / "calico" / version
    dest.mkdir(parents=True, exist_ok=True)
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tigera-operator",
                                                               "labels": {"name": "tigera-operator"}}},
        crd("installations", "Installation"), crd("apiservers", "APIServer"),
        crd("tigerastatuses", "TigeraStatus"), crd("imagesets", "ImageSet"),
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tigera-operator",
                                                                    "namespace": "tigera-operator"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "tigera-operator", "namespace": "tigera-operator"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"name": "tigera-operator"}},
                  "template": {"metadata": {"labels": {"name": "tigera-operator"}},
                               "spec": {"serviceAccountName": "tigera-operator", "hostNetwork": True,
                                        "containers": [{"name": "tigera-operator",
                                                        "image": f"quay.io/tigera/operator:{version}-standin"}]}}}},
    ]
    header = (f"# TEST DOUBLE: stand-in for Calico {version} manifests/tigera-operator.yaml, served by the\n"
              "# kubeadm-pyinfra lab. It holds the operator's namespace and CRDs (minimal schemas) so\n"
              "# that apply --server-side and `kubectl wait crd/...` can be exercised. Not Calico.\n")
    (dest / "tigera-operator.yaml").write_text(header + yaml.safe_dump_all(docs, sort_keys=False))
    upstream = UPSTREAM_CALICO / "custom-resources.yaml"
    if upstream.exists():
        shutil.copy(upstream, dest / "custom-resources.yaml")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    print(ensure_k8s_repo())
