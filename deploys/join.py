"""Join: the other control planes (one at a time) and the workers, with credentials made fresh."""

from __future__ import annotations

import io
import re
import shlex
from dataclasses import dataclass
from typing import Any, get_type_hints

from gevent.lock import RLock
from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.api.arguments import ConnectorArguments, pop_global_arguments
from pyinfra.api.exceptions import OperationError

from deploys import ops, schema
from deploys.facts import node_state
from deploys.control_plane import HALF_DONE, JOINED_STAMP, KUBEADM_CONFIG, MAKE_AUDIT_LOG_DIR
from deploys.schema import Key
from deploys.model import Cluster, Node
from deploys.templates import render

KEYS: dict[str, Key] = {}
DEFAULTS = schema.defaults(KEYS)
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
JOIN_LOG = "/var/log/kubeadm-join.log"
JOIN_CONFIG = "/etc/kubernetes/kubeadm-join.yaml"
JOIN_STAMP = JOINED_STAMP
_TOKEN = re.compile(r"--token\s+([a-z0-9]{6}\.[a-z0-9]{16})")
_CA_HASH = re.compile(r"(sha256:[0-9a-f]{64})")
_CERT_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class JoinCredentials:
    """What a node needs to join, made on the first control plane during this run."""

    token: str
    ca_hash: str
    certificate_key: str | None = None


@deploy("Join", data_defaults=DEFAULTS)
def join(cluster: Cluster) -> None:
    """Ensure every node is part of the cluster: control planes one at a time, then workers."""
    node = cluster.node(host.name)
    first = cluster.first_control_plane
    ops.on(
        node.is_control_plane and node.name != first.name,
        _kubeadm_join,
        name="Control plane joins (one at a time)",
        cluster=cluster,
        _serial=True,
    )
    ops.on(not node.is_control_plane, _kubeadm_join, name="Worker joins", cluster=cluster)


@operation()
def _kubeadm_join(cluster: Cluster):
    """Ensure `kubeadm join` has succeeded once here (a stamp written after success)."""
    node = cluster.node(host.name)
    state = node_state(host, node.node_ip)
    if JOIN_STAMP in state.done:
        return
    if not host.state.is_executing:
        creds = JoinCredentials("<fresh token>", "<CA hash>", "<fresh key>" if node.is_control_plane else None)
    else:
        try:
            creds = credentials(cluster, control_plane=node.is_control_plane)
        except OperationError as exc:  # this node cannot join now; the others carry on
            yield ops.fail(str(exc))
            return
    # The config holds the token (and certificate key): 0600 before it has content, removed after.
    yield StringCommand("install", "-d", "-m", "755", "/etc/kubernetes")
    yield StringCommand("install", "-m", "600", "/dev/null", JOIN_CONFIG)
    yield FileUploadCommand(
        io.BytesIO(join_config(cluster, node, creds).encode()),
        JOIN_CONFIG,
        remote_temp_filename=host.get_temp_filename(JOIN_CONFIG),
    )
    yield StringCommand(join_script(cluster, node))
    if host.state.is_executing:
        state.done.add(JOIN_STAMP)
        state.files.setdefault(KUBELET_CONF, ("600", "?"))


def join_config(cluster: Cluster, node: Node, creds: JoinCredentials) -> str:
    """NODE's JoinConfiguration with the run's credentials."""
    return render(
        "join/kubeadm-join.yaml.j2",
        cluster=cluster,
        node=node,
        token=creds.token,
        ca_hash=creds.ca_hash,
        certificate_key=creds.certificate_key or "",
    )


def join_script(cluster: Cluster, node: Node) -> str:
    """The locked, resumable `kubeadm join --config` for NODE (see ops.kubeadm_script)."""
    name = shlex.quote(node.node_name)
    if node.is_control_plane:  # joined: registered and marked control plane (kubeadm's last join step)
        done_check = (
            f"[ -f {KUBELET_CONF} ] && kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=10s"
            f" get nodes -l node-role.kubernetes.io/control-plane -o name 2>/dev/null | grep -qx node/{name}"
        )
    else:
        done_check = (
            f"[ -f {KUBELET_CONF} ] && kubectl --kubeconfig {KUBELET_CONF} --request-timeout=10s"
            f" get node {name} -o name >/dev/null 2>&1"
        )
    command = f"kubeadm join --config {JOIN_CONFIG}"
    if node.is_control_plane:
        command = f"{MAKE_AUDIT_LOG_DIR} && {command}"
    script = ops.kubeadm_script(JOIN_STAMP, command, JOIN_LOG, done_check=done_check, leftovers=HALF_DONE)
    return f"{script}; rm -f {JOIN_CONFIG}"


def credentials(cluster: Cluster, control_plane: bool) -> JoinCredentials:
    """A fresh token (and, for control planes, certificate key), made once per run on the first control plane."""
    run = host.state
    shared = getattr(run, "_kubeadm_pyinfra_join", None)
    if shared is None:
        shared = run._kubeadm_pyinfra_join = {"lock": RLock(), "creds": None}
    with shared["lock"]:
        creds: JoinCredentials | None = shared["creds"]
        if creds is None:
            output = _on_first_control_plane(
                cluster, f"kubeadm token create --config {KUBEADM_CONFIG} --print-join-command"
            )
            token, ca_hash = _TOKEN.search(output), _CA_HASH.search(output)
            if not token or not ca_hash:
                raise OperationError("`kubeadm token create --print-join-command` printed no token/CA hash")
            creds = shared["creds"] = JoinCredentials(token.group(1), ca_hash.group(1))
        if control_plane and creds.certificate_key is None:
            output = _on_first_control_plane(cluster, f"kubeadm init phase upload-certs --upload-certs --config {KUBEADM_CONFIG}")
            lines = [line.strip() for line in output.splitlines() if line.strip()]
            if not lines or not _CERT_KEY.match(lines[-1]):
                raise OperationError("`kubeadm init phase upload-certs` printed no certificate key")
            creds.certificate_key = lines[-1]
        return creds


def _on_first_control_plane(cluster: Cluster, command: str) -> str:
    """Run COMMAND on the first control plane (connecting if --limit left it out); its stdout."""
    first = host.state.inventory.get_host(cluster.first_control_plane.name)
    if first in host.state.failed_hosts:
        raise OperationError(f"not joining: the first control plane {first.name} failed earlier in this run")
    if not first.connected:
        first.connect(reason="to make join credentials", raise_exceptions=True)
    arguments = pop_global_arguments(host.state, first, {})[0]
    connector_args = {k: arguments[k] for k in get_type_hints(ConnectorArguments) if k in arguments}
    ok, output = first.run_shell_command(StringCommand(command), **connector_args)
    if not ok:
        raise OperationError(f"on {first.name}: `{command}` failed: {output.stderr[-500:]}")
    return output.stdout
