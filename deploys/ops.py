"""Operations that gate on the one `NodeState` look instead of a fact apiece.

Every value in a command is quoted (`q`, shlex.quote): the model has checked it already,
and quoting makes a value one shell word whatever it holds.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shlex
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from pyinfra import host
from pyinfra.api import FileDownloadCommand, FileUploadCommand, StringCommand
from pyinfra.api import operation as pyinfra_operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.exceptions import OperationError
from pyinfra.api.hiddenvalue import HiddenValue

from deploys import context
from deploys.facts import ADDONS, DONE, MODULE_EVIDENCE, SYSCTLS, node_state

APT_ENV = "DEBIAN_FRONTEND=noninteractive"
APT_GET = f"{APT_ENV} apt-get -q -o DPkg::Lock::Timeout=300"  # wait for a still-running apt
q = shlex.quote


def operation(**options: Any) -> Callable[[Callable[..., Iterator[Any]]], Callable[..., OperationMeta]]:
    """pyinfra's @operation, doing nothing on a host in the run only to make join credentials.

    Such a host (context.Run.credentials_only: the first control plane added to a --limit'ed run)
    still calls every operation, so every host's list is alike and pyinfra orders them alike;
    only join's credential operation (a plain pyinfra operation) does something there.
    """

    def decorator(func: Callable[..., Iterator[Any]]) -> Callable[..., OperationMeta]:
        @functools.wraps(func)
        def scoped(*args: Any, **kwargs: Any) -> Iterator[Any]:
            if host.name in context.of(host.state).credentials_only:
                return
            yield from func(*args, **kwargs)

        return pyinfra_operation(**options)(scoped)

    return decorator


def _executing() -> bool:
    return bool(host.state.is_executing)


def changed(results: Sequence[OperationMeta]) -> bool:
    """Whether any of these (already executed) operations changed the host."""
    return _executing() and any(r.is_complete() and r.did_change() for r in results)


def source_only(source: str) -> str:
    """apt-get update's options that refresh one sources.list file and keep every other list as it is.

    apt.conf(5): Dir::Etc::SourceList is the main list (a one-line-format .list file), Dir::Etc::SourceParts
    the fragment folder ("-": a folder that does not exist, so no fragment is read); APT::Get::List-Cleanup=0
    keeps the lists of the sources left out (apt-get(8)).
    """
    return f"-o Dir::Etc::SourceList={q(source)} -o Dir::Etc::SourceParts=- -o APT::Get::List-Cleanup=0"


@operation()
def packages(
    wanted: Mapping[str, str | None],
    hold: bool = False,
    sources_changed: Sequence[OperationMeta] = (),
    source: str | None = None,
) -> Iterator[StringCommand | str]:
    """Ensure the packages are installed (at the given versions, None = any), held if asked.

    The package lists are updated at most once per run, and again only when one of
    `sources_changed` (operations writing package sources) changed something that no update
    of this run has fetched yet: then only SOURCE's list (a sources.list.d file) when given.
    """
    state = node_state(host)
    source_changed = changed([r for r in sources_changed if id(r) not in state.sources_refreshed])
    missing = [name for name, version in wanted.items() if not state.installed(name, version)]
    if state.dpkg_interrupted:  # an earlier run was killed during an install, which may still run
        yield (
            f"n=0; until {APT_ENV} dpkg --configure -a; do n=$((n + 1)); "
            '[ "$n" -lt 150 ] || exit 1; sleep 2; done'
        )
        if _executing():
            state.dpkg_interrupted = False
    if missing:
        if not state.apt_updated or source_changed:
            yield f"{APT_GET} update" + (f" {source_only(source)}" if state.apt_updated and source else "")
            if _executing():
                state.apt_updated = True
                state.sources_refreshed.update(id(r) for r in sources_changed)
        specs = [f"{name}={wanted[name]}" if wanted[name] else name for name in missing]
        yield (
            f"{APT_GET} install -y --no-install-recommends --allow-change-held-packages "
            "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold " + " ".join(map(q, specs))
        )
        if _executing():
            for name in missing:
                state.packages[name] = (wanted[name] or "?", False)
    unheld = [name for name in wanted if hold and not state.packages.get(name, ("", False))[1]]
    if unheld:
        yield "apt-mark hold " + " ".join(map(q, unheld))
        if _executing():
            for name in unheld:
                state.packages[name] = (state.packages.get(name, ("?", False))[0], True)


@operation()
def host_supported(supported_os: Sequence[str], allow_cgroup_v1: bool = False) -> Iterator[StringCommand]:
    """Ensure the host runs a supported OS with cgroup v2, failing it (and only it) with the reason if not.

    Kubernetes 1.35+ refuses cgroup v1 hosts (kubeadm preflight SystemVerification, system-validators
    v1.12.1, CHANGELOG-1.35 "urgent upgrade notes").
    """
    state = node_state(host)
    if state.os and state.os not in supported_os:
        yield fail(f"{state.os or 'this OS'} is not supported; supported: {', '.join(supported_os)}")
    elif state.cgroup_fs and state.cgroup_fs != "cgroup2fs" and not allow_cgroup_v1:
        yield fail(
            f"/sys/fs/cgroup is {state.cgroup_fs}: Kubernetes 1.35+ needs cgroup v2 (unified hierarchy);"
            " allow_cgroup_v1 = True keeps a legacy host (deprecated upstream)"
        )


@operation()
def swap_off() -> Iterator[str]:
    """Ensure no swap is active now and none is enabled in /etc/fstab."""
    state = node_state(host)
    if state.swap_active:
        yield "swapoff -a"
    if state.fstab_swap:
        yield r"sed -i.bak -E 's@^([^#].*[[:space:]]swap[[:space:]].*)$@# \1@' /etc/fstab"
    if _executing():
        state.swap_active = state.fstab_swap = False


@operation()
def kernel_modules() -> Iterator[str]:
    """Ensure the kernel modules are present: loaded now, or built in (then nothing to load)."""
    state = node_state(host)
    for module in list(state.missing_modules):
        yield f"modprobe {module} && {MODULE_EVIDENCE[module]}"
        if _executing():
            state.missing_modules.remove(module)


@operation()
def sysctls_applied(config_path: str, config: Sequence[OperationMeta] = ()) -> Iterator[str]:
    """Ensure the live kernel parameters match SYSCTLS, applying only our sysctl.d file."""
    state = node_state(host)
    if changed(config) or any(state.sysctls.get(k) != v for k, v in SYSCTLS.items()):
        yield f"sysctl -q -p {q(config_path)}"
        if _executing():
            state.sysctls.update(SYSCTLS)


@operation()
def service(service_name: str, running: bool = True, enabled: bool = True) -> Iterator[str]:
    """Ensure a systemd service is enabled and (optionally) running."""
    state = node_state(host)
    if enabled and not state.enabled.get(service_name):
        yield f"systemctl enable {q(service_name)}"
    if running and not state.active.get(service_name):
        yield f"systemctl start {q(service_name)}"
    if _executing():
        state.enabled[service_name] = state.enabled.get(service_name) or enabled
        state.active[service_name] = state.active.get(service_name) or running


@operation()
def restart(
    service_name: str, check: str | None = None, daemon_reload: bool = False
) -> Iterator[str]:
    """Restart a service whose configuration changed, after an optional check of that configuration."""
    if check:
        yield check
    if daemon_reload:
        yield "systemctl daemon-reload"
    yield f"systemctl restart {q(service_name)}"
    if _executing():
        node_state(host).active[service_name] = True


@operation()
def kubectl_apply(
    path: str, stamp: str, server_side: bool = False, wait_crds: Sequence[str] = ()
) -> Iterator[str]:
    """Ensure the manifest at PATH has been applied with the admin kubeconfig (once per STAMP).

    Server-side apply for manifests too big for the last-applied annotation (CRDs); then
    each of WAIT_CRDS must be established before the stamp is written.
    """
    state = node_state(host)
    if stamp in state.applied:
        return
    kubectl = "kubectl --kubeconfig /etc/kubernetes/admin.conf"
    mode = "apply --server-side --force-conflicts" if server_side else "apply"
    yield f"{kubectl} {mode} -f {q(path)}"
    if wait_crds:
        names = " ".join(q(f"crd/{name}") for name in wait_crds)
        yield f"{kubectl} wait --for condition=established --timeout=120s {names}"
    yield f"touch {q(f'{ADDONS}/{stamp}.applied')}"
    if _executing():
        state.applied.add(stamp)


@operation()
def file(
    dest: str, content: str | Callable[[], str], mode: str = "644", dir_mode: str = "755"
) -> Iterator[object]:
    """Ensure DEST holds CONTENT with MODE, in a directory of DIR_MODE (content may be computed at execution time).

    Compared by SHA-1 against the one look; the content is never printed, so secrets
    may be written with it (mode "600").
    """
    state = node_state(host)
    data = (content() if callable(content) else content).encode()
    digest = hashlib.sha1(data).hexdigest()
    current = state.files.get(dest)
    if current == (mode, digest):
        return
    # The mode is right before any content arrives, so a secret is never readable by others.
    # One command (one SSH round trip) for the directory and the empty file.
    if current is None:
        yield StringCommand("install", "-d", "-m", q(dir_mode), q(os.path.dirname(dest)),
                            "&&", "install", "-m", q(mode), "/dev/null", q(dest))
    elif current[0] != mode:
        yield StringCommand("chmod", q(mode), q(dest))
    if current is None or current[1] != digest:
        yield FileUploadCommand(io.BytesIO(data), dest, remote_temp_filename=host.get_temp_filename(dest))
    if _executing():
        state.files[dest] = (mode, digest)


@operation()
def download(
    url: str,
    dest: str,
    mode: str = "644",
    refresh_stale: bool = False,
    refresh: Sequence[OperationMeta] = (),
) -> Iterator[object]:
    """Ensure DEST exists, fetched from URL with curl on the node.

    With REFRESH_STALE it is fetched again once older than facts.REFRESH_DAYS; it is
    also fetched again when one of REFRESH (operations that changed where it comes
    from) changed something.
    """
    state = node_state(host)
    stale = refresh_stale and dest in state.stale
    if state.has(dest) and not stale and not changed(refresh):
        return
    yield StringCommand(  # one SSH round trip
        "install", "-d", "-m", "755", q(os.path.dirname(dest)),
        "&&", "curl", "-fsSL", "--retry", "3", "-o", q(f"{dest}.part"), q(url), "&&", "mv", q(f"{dest}.part"), q(dest),
        "&&", "chmod", q(mode), q(dest),
    )
    if _executing():
        state.files[dest] = (mode, "?")
        state.stale.discard(dest)


@operation()
def artifact(stamp: str, url: str, sha256: str, install: str) -> Iterator[object]:
    """Ensure the release archive at URL (checked against SHA256) is installed by the INSTALL script, once per STAMP.

    INSTALL runs with the verified download as $1; the stamp is written only after it succeeds.
    """
    state = node_state(host)
    if stamp in state.done:
        return
    cache = f"/var/cache/kubeadm-pyinfra/{os.path.basename(url.split('?')[0])}"
    kind = stamp.rsplit("-", 1)[0]
    yield StringCommand("install", "-d", "-m", "755", q(os.path.dirname(cache)), q(DONE))
    yield StringCommand(
        "curl", "-fsSL", "--retry", "3", "-o", q(f"{cache}.part"), q(url),
        "&&", "echo", q(f"{sha256}  {cache}.part"), "|", "sha256sum", "--quiet", "-c", "-",
        "&&", "mv", q(f"{cache}.part"), q(cache),
        "||", "{", "echo", q(f"error: {url} does not match sha256 {sha256}"), ">&2;", "rm", "-f", q(f"{cache}.part") + ";", "exit", "1;", "}",
    )
    yield StringCommand(  # the stamp only once the install succeeded, in the same SSH round trip
        "sh", "-ec", q(install), "install", q(cache),
        "&&", "rm", "-f", q(f"{DONE}/{kind}-") + "*.done", "&&", "touch", q(f"{DONE}/{stamp}.done"),
    )
    if _executing():
        state.done = {d for d in state.done if not d.startswith(f"{kind}-")} | {stamp}


@operation()
def fetch_private(src: str, dest: str) -> Iterator[object]:
    """Ensure a local copy (mode 0600, directory 0700) of a remote file that holds credentials."""
    state = node_state(host)
    remote = state.files.get(src)
    if remote is None:
        if _executing():
            raise OperationError(f"{src} does not exist on {host.name}")
        yield FileDownloadCommand(src, dest)  # planned: an earlier operation of this run makes it
        return
    path = Path(dest)
    if path.exists() and hashlib.sha1(path.read_bytes()).hexdigest() == remote[1]:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return
    if _executing():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
    yield FileDownloadCommand(src, str(path))


def fail(message: str) -> StringCommand:
    """A command that fails this host with MESSAGE (pyinfra reports it like any failed command)."""
    return StringCommand("echo", q(f"error: {message}"), ">&2;", "exit", "1")


def on(here: bool, operation_: Callable[..., OperationMeta], **arguments: Any) -> OperationMeta:
    """Call OPERATION_ on this host when HERE (a role or the topology, decided while planning).

    Elsewhere an operation of the same name that does nothing is called instead, from this same
    line: every host still has an operation at this point of its list, so pyinfra orders it
    alike everywhere (its order is per host, tie-broken by call-stack lines), and a dry run
    names only the hosts the operation concerns. Execution-time conditions stay in `_if`.
    """
    return (operation_ if here else not_here)(**arguments)


@operation()
def not_here(**_: Any) -> Iterator[str]:
    """Nothing to ensure: this host's role is not concerned by the operation of this name."""
    yield from ()


def masked(value: str) -> HiddenValue:
    """A value printed as ***."""
    return HiddenValue(value, masked_value="***")


@operation()
def distro_package_removed(package: str) -> Iterator[str]:
    """Ensure the distribution's PACKAGE is not installed (its service stopped, its config files kept)."""
    state = node_state(host)
    if not state.installed(package):
        return
    yield f"apt-mark unhold {q(package)} >/dev/null; systemctl stop {q(package)} || true"
    yield f"{APT_GET} remove -y {q(package)}"
    if _executing():
        state.packages.pop(package, None)
        state.active[package] = False


KUBEADM_LOCK = "/run/lock/kubeadm-pyinfra.lock"
# Written 0644 by kubeadm init/join (cmd/kubeadm/app/phases/kubelet/config.go, writeConfigBytesToDisk);
# the CIS Kubernetes Benchmark 4.1.9 asks 600 (aquasecurity/kube-bench cfg/cis-1.12/node.yaml).
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
ETCD_DATA = "/var/lib/etcd"  # kubeadm's default etcd.local.dataDir


def kubeadm_script(stamp: str, command: str, log: str, done_check: str, leftovers: str) -> str:
    """A shell script that runs kubeadm COMMAND once, finishing or redoing what an earlier run left.

    One kubeadm at a time per node: the lock is held by kubeadm itself (inherited descriptor),
    so a kubeadm left running by a killed run is waited for. A node that DONE_CHECK shows
    finished is recorded as done; one with LEFTOVERS of a half-done run is reset first (said in
    the log and on stderr). The stamp is written only after success.
    """
    done, log = q(f"{DONE}/{stamp}.done"), q(log)
    return "; ".join([
        f"umask 077; install -d -m 755 {q(DONE)}",
        f"exec 9>{q(KUBEADM_LOCK)}; flock 9",
        f"if [ -f {done} ]; then exit 0; fi",
        f"if {done_check}; then touch {done}; exit 0; fi",
        f"if {leftovers}; then echo 'kubeadm-pyinfra: a half-done kubeadm run left files behind:"
        f" kubeadm reset -f, then again' | tee -a {log} >&2; kubeadm reset -f >>{log} 2>&1;"
        # reset empties etcd's data directory only when it finds etcd's manifest; a half-done run may not have one
        f" find {ETCD_DATA} -mindepth 1 -delete 2>/dev/null; fi",
        f"{command} >>{log} 2>&1 || {{ tail -n 30 {log} >&2; exit 1; }}",
        # The kubelet's config at CIS 4.1.9 permissions.
        f"if [ -f {KUBELET_CONFIG} ]; then chmod 600 {KUBELET_CONFIG}; fi",
        f"touch {done}",
    ])


@operation()
def torn_down(command: StringCommand) -> Iterator[StringCommand]:
    """Ensure the node holds no cluster: COMMAND runs unless nothing of a cluster is left on it."""
    state = node_state(host)
    traces = state.done or any(state.has(f"/etc/kubernetes/{name}") for name in ("admin.conf", "kubelet.conf"))
    if not traces and not any(state.active.get(unit) for unit in ("kubelet", "keepalived", "haproxy")):
        return
    yield command
    if _executing():
        state.done.clear()
        state.files = {path: value for path, value in state.files.items() if not path.startswith("/etc/kubernetes/")}


@operation()
def local_file_removed(path: str) -> Iterator[object]:
    """Ensure the file at PATH on the operator's machine is gone."""
    target = Path(path)
    if not target.exists():
        return
    if _executing():
        target.unlink()
    yield StringCommand("true")  # the change happens here, on the operator's machine
