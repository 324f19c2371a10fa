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

import re
from typing import Any, Callable

from pyinfra import host
from pyinfra.api import deploy

from deploys import context, ops, schema
from deploys.facts import NodeState, Owned, node_state
from deploys.kube_packages import JOINED
from deploys.model import ARTIFACTS, Cluster, VersionSkewError
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
_STAMPED = re.compile(r"\d+\.\d+\.\d+")  # the version in an artifact's stamp
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
    packages=("containerd", "runc"),
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


def installed(state: NodeState, name: str) -> str | None:
    """The version of artifact NAME (containerd, runc) this component last installed here, from its stamp.

    ops.artifact writes `NAME-VERSION.done` after a successful install and removes the older
    stamps of NAME, so the one look (facts.NodeFacts, `done=`) tells the version without a command.
    """
    found = [d[len(name) + 1:] for d in state.done if d.startswith(f"{name}-") and _STAMPED.fullmatch(d[len(name) + 1:])]
    return max(found, key=lambda v: tuple(int(p) for p in v.split("."))) if found else None


def changes(cluster: Cluster, state: NodeState) -> list[str]:
    """What differs between the pinned containerd and runc and what this node last had installed ("containerd 2.2.7 -> 2.3.4")."""
    result = []
    for name in ARTIFACTS:
        now, pinned = installed(state, name), str(cluster.setting(f"{name}_version"))
        if now is not None and now != pinned:
            result.append(f"{name} {now} -> {pinned}")
    return result


def version_change(cluster: Cluster) -> str | None:
    """Why this run must not touch this joined node's containerd or runc, if it must not.

    Installing other archives restarts containerd (and the kubelet) on every node at once:
    a running cluster changes its runtime node by node, drained, with deploys/upgrade.py.
    """
    state = node_state(host)
    found = changes(cluster, state)
    if not found or not state.has(JOINED):
        return None
    return (
        f"{', '.join(found)} asked on this joined node: a running cluster changes its container runtime "
        "node by node with `pyinfra -y INVENTORY deploys/upgrade.py`"
    )


def steps(
    cluster: Cluster,
    here: bool = True,
    label: str = "",
    go: Callable[[], bool] | None = None,
    restart: bool = False,
) -> None:
    """containerd's operations on this host when HERE: the pinned archives, unit, config, mirrors, crictl, restarts.

    deploys/cluster.py runs them as they are; deploys/runtime_upgrade.py node by node, LABEL naming
    the nodes, GO checked at execution, RESTART: containerd then the kubelet restarted in any case.
    """
    state = node_state(host)

    def when(extra: Callable[[], bool] | None = None) -> dict[str, Any]:
        """The `_if` of an operation: GO and EXTRA, none at all when neither (a plain operation)."""
        if go is None and extra is None:
            return {}
        return {"_if": lambda: (go is None or go()) and (extra is None or extra())}

    distro = ops.on(
        here,
        ops.distro_package_removed,
        name=f"{label}Distribution containerd replaced by the pinned release",
        package="containerd",
        **when(),
    )
    installs = [
        ops.on(
            here,
            ops.artifact,
            name=f"{label}{name.replace('_', ' ')} {cluster.setting(f'{name}_version')} installed",
            stamp=f"{name}-{cluster.setting(f'{name}_version')}",
            url=artifact_url(cluster, name, state.arch),
            sha256=cluster.checksum(name, state.arch),
            install=INSTALL[name],
            **when(),
        )
        for name in ("runc", "containerd")
    ]
    unit = ops.on(
        here, ops.file, name=f"{label}containerd systemd unit", dest=UNIT, content=render("containerd/containerd.service"),
        **when(),
    )
    config = ops.on(
        here,
        ops.file,
        name=f"{label}containerd configured for Kubernetes",
        dest=CONFIG,
        content=config_text(cluster),
        **when(),
    )
    mirror = cluster.setting("registry_mirror")
    hosts = [
        ops.on(
            here,
            ops.file,
            name=f"{label}containerd pulls {registry} through the mirror",
            dest=MIRROR_HOSTS.replace("{registry}", registry),
            content=hosts_toml(registry, mirror),
            **when(),
        )
        for registry in (MIRRORED_REGISTRIES if mirror else ())  # cluster-wide: the same on every host
    ]
    ops.on(
        here,
        ops.file,
        name=f"{label}crictl uses containerd",
        dest=CRICTL,
        content=f"runtime-endpoint: {SOCKET}\nimage-endpoint: {SOCKET}\ntimeout: 10\n",
        **when(),
    )
    restarted = ops.on(
        here,
        ops.restart,
        name=f"{label}containerd restarted (binaries or config changed)",
        service_name="containerd",
        check=f"/usr/local/bin/containerd --config {CONFIG} config dump >/dev/null",
        daemon_reload=True,
        **when(lambda: restart or ops.changed([distro, *installs, unit, config, *hosts])),
    )
    ops.on(here, ops.service, name=f"{label}containerd enabled and running", service_name="containerd", **when())
    # The kubelet of a running node follows its runtime at once (no kubelet left on the old one).
    ops.on(
        here,
        ops.restart,
        name=f"{label}kubelet restarted on the new runtime",
        service_name="kubelet",
        **when(lambda: restart or (ops.changed([restarted]) and bool(state.active.get("kubelet")))),
    )


@deploy("containerd", data_defaults=DEFAULTS)
def install(cluster: Cluster) -> None:
    """Ensure the pinned containerd, runc and CNI plugins are installed, configured, enabled and running."""
    refused = version_change(cluster)
    # Found while planning: the run stops before any host is changed (a host in the run only to
    # make join credentials is left alone: see context.Run.credentials_only).
    if refused and host.name not in context.of(host.state).credentials_only:
        raise VersionSkewError(f"{host.name}: {refused}")
    steps(cluster)


DEPLOY = install  # run by deploys/cluster.py, in components.COMPONENTS order
