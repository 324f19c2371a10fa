"""containerd: the CRI from upstream's release archives (with runc), configured for the kubelet.

Installed the way kubespray does it (roles/container-engine/containerd, roles/download): the
release archive of the pinned version, checked against a pinned SHA-256, unpacked into
/usr/local, with upstream's systemd unit. Distribution packages lag behind what Kubernetes
supports (Debian 12 ships containerd 1.6, end of life; Kubernetes 1.36+ needs 2.x: containerd
RELEASES.md, "Kubernetes Support"); a Debian `containerd` package found installed is replaced.
Every URL is a mirror knob: `{version}` and `{arch}` are filled in. The CNI plugins in
/opt/cni/bin come with the kubelet package (it depends on pkgs.k8s.io's `kubernetes-cni`:
kubernetes/release cmd/krel/templates/latest/metadata.yaml).
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy

from deploys import ops, schema
from deploys.facts import Owned, node_state
from deploys.model import Cluster
from deploys.schema import Key
from deploys.templates import render

_ARTIFACT_URL = schema.url("version", "arch", file=True)
_PINNED = "the pinned digest for the version and architecture"
KEYS: dict[str, Key] = {
    "containerd_version": Key("2.3.4", schema.STRING_VERSION),
    "containerd_download_url": Key(
        "https://github.com/containerd/containerd/releases/download/v{version}/containerd-{version}-linux-{arch}.tar.gz",
        _ARTIFACT_URL,
    ),
    "containerd_sha256": Key(None, schema.optional(schema.SHA256, _PINNED)),  # None = model.CHECKSUMS
    "runc_version": Key("1.4.3", schema.STRING_VERSION),
    "runc_download_url": Key(
        "https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}", _ARTIFACT_URL
    ),
    "runc_sha256": Key(None, schema.optional(schema.SHA256, _PINNED)),
    # No unsupported pair unless asked: True accepts a containerd that containerd's RELEASES.md does not
    # list for the Kubernetes minor (e.g. a distribution's build), with a warning.
    "allow_unsupported_containerd": Key(False, schema.BOOL),
    # One mirror for every registry the cluster pulls from (containerd certs.d hosts.toml);
    # "{registry}" in the URL becomes the upstream registry's name (path-based proxies).
    "registry_mirror": Key(None, schema.optional(schema.url("registry"), "no mirror")),
}
DEFAULTS = schema.defaults(KEYS)
# Upstream registries the cluster pulls from: kubeadm's images, Calico's operator and its images.
MIRRORED_REGISTRIES = {
    "registry.k8s.io": "https://registry.k8s.io",
    "quay.io": "https://quay.io",
    "docker.io": "https://registry-1.docker.io",
}
CONFIG = "/etc/containerd/config.toml"
UNIT = "/etc/systemd/system/containerd.service"
CRICTL = "/etc/crictl.yaml"
SOCKET = "unix:///run/containerd/containerd.sock"
RUNC = "/usr/local/sbin/runc"
MIRROR_HOSTS = "/etc/containerd/certs.d/{registry}/hosts.toml"
# The Debian containerd and runc packages are watched so that a distribution containerd is found and replaced.
OWNS = Owned(
    files=(CONFIG, UNIT, CRICTL, MIRROR_HOSTS.replace("{registry}", "*")),
    packages=("conntrack", "containerd", "runc"),
    services=("containerd",),
)

# Replace each file atomically (a running binary cannot be overwritten in place: "Text file busy").
_SWAP_IN = 'for f in "$src"/*; do b=$(basename "$f"); install -m 755 "$f" "$dst/.$b.new"; mv -f "$dst/.$b.new" "$dst/$b"; done'
INSTALL = {
    "containerd": 'src=$(mktemp -d); trap \'rm -rf "$src"\' EXIT; tar -xzf "$1" -C "$src"; src="$src/bin"; '
    "dst=/usr/local/bin; " + _SWAP_IN,
    "runc": f'install -d -m 755 {RUNC.rsplit("/", 1)[0]}; install -m 755 "$1" {RUNC}.new; mv -f {RUNC}.new {RUNC}',
}


def config_version(containerd_version: str) -> int:
    """containerd's config schema: 2 for containerd 1.x, 3 for 2.x (docs/PLUGINS.md, config migration)."""
    major = containerd_version.split(".")[0]
    return 3 if major.isdigit() and int(major) >= 2 else 2


def artifact_url(cluster: Cluster, name: str, arch: str) -> str:
    """The download URL of artifact NAME (containerd, runc) for ARCH."""
    version = cluster.setting(f"{name}_version")
    template = str(cluster.setting(f"{name}_download_url"))
    # The URL's grammar allows only these placeholders (no attribute or index look-ups).
    return template.replace("{version}", version).replace("{arch}", arch)


def config_text(cluster: Cluster) -> str:
    """containerd's config.toml for the cluster (its sandbox image follows the Kubernetes minor)."""
    return render(
        f"containerd/config-v{config_version(cluster.setting('containerd_version'))}.toml.j2",
        pause_image=cluster.pause_image,
        runc=RUNC,
    )


def hosts_toml(registry: str, mirror: str) -> str:
    """containerd's hosts.toml for REGISTRY pulled through MIRROR (containerd docs/hosts.md)."""
    return render(
        "containerd/hosts.toml.j2",
        server=MIRRORED_REGISTRIES[registry],
        mirror=mirror.replace("{registry}", registry),
        override_path="{registry}" in mirror,
    )


@deploy("containerd", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure the pinned containerd, runc and CNI plugins are installed, configured, enabled and running."""
    state = node_state(host)
    ops.packages(name="conntrack installed", wanted={"conntrack": None})
    distro = ops.distro_package_removed(
        name="Distribution containerd replaced by the pinned release",
        package="containerd",
    )
    installs = [
        ops.artifact(
            name=f"{name.replace('_', ' ')} {cluster.setting(f'{name}_version')} installed",
            stamp=f"{name}-{cluster.setting(f'{name}_version')}",
            url=artifact_url(cluster, name, state.arch),
            sha256=cluster.checksum(name, state.arch),
            install=INSTALL[name],
        )
        for name in ("runc", "containerd")
    ]
    unit = ops.file(
        name="containerd systemd unit", dest=UNIT, content=render("containerd/containerd.service")
    )
    config = ops.file(
        name="containerd configured for Kubernetes",
        dest=CONFIG,
        content=config_text(cluster),
    )
    mirror = cluster.setting("registry_mirror")
    hosts = [
        ops.file(
            name=f"containerd pulls {registry} through the mirror",
            dest=MIRROR_HOSTS.replace("{registry}", registry),
            content=hosts_toml(registry, mirror),
        )
        for registry in (MIRRORED_REGISTRIES if mirror else ())  # cluster-wide: the same on every host
    ]
    ops.file(
        name="crictl uses containerd",
        dest=CRICTL,
        content=f"runtime-endpoint: {SOCKET}\nimage-endpoint: {SOCKET}\ntimeout: 10\n",
    )
    restarted = ops.restart(
        name="containerd restarted (binaries or config changed)",
        service_name="containerd",
        check=f"/usr/local/bin/containerd --config {CONFIG} config dump >/dev/null",
        daemon_reload=True,
        _if=lambda: ops.changed([distro, *installs, unit, config, *hosts]),
    )
    ops.service(name="containerd enabled and running", service_name="containerd")
    # The kubelet of a running node follows its runtime at once (no kubelet left on the old one).
    ops.restart(
        name="kubelet restarted on the new runtime",
        service_name="kubelet",
        _if=lambda: ops.changed([restarted]) and bool(state.active.get("kubelet")),
    )


DEPLOY = install  # run by deploys/cluster.py, in components.COMPONENTS order
