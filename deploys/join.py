"""Join: the other control planes (one at a time) and the workers, with credentials made fresh."""

from __future__ import annotations

import io
import re
import shlex
from dataclasses import dataclass
from typing import Any, get_type_hints

from pyinfra import host
from pyinfra.api import FileUploadCommand, FunctionCommand, StringCommand, deploy, operation
from pyinfra.api.arguments import ConnectorArguments
from pyinfra.api.exceptions import OperationError

from deploys import context, ops, schema
from deploys.control_plane import HALF_DONE, INIT_STAMP, JOINED_STAMP, KUBEADM_CONFIG, MAKE_AUDIT_LOG_DIR
from deploys.facts import Owned, node_state
from deploys.model import Cluster, Node
from deploys.schema import Key
from deploys.templates import render

KEYS: dict[str, Key] = {}
DEFAULTS = schema.defaults(KEYS)
KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
JOIN_LOG = "/var/log/kubeadm-join.log"
JOIN_CONFIG = "/etc/kubernetes/kubeadm-join.yaml"
JOIN_STAMP = JOINED_STAMP
OWNS = Owned(files=(KUBELET_CONF,))
TOKEN_CREATE = f"kubeadm token create --config {KUBEADM_CONFIG} --print-join-command"
UPLOAD_CERTS = f"kubeadm init phase upload-certs --upload-certs --config {KUBEADM_CONFIG}"
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
    """Ensure every node is part of the cluster: credentials made on the first control plane, then
    control planes one at a time, then workers."""
    node = cluster.node(host.name)
    first = cluster.first_control_plane
    # Before the joins: pyinfra runs an operation on every host before the next one starts.
    ops.on(
        node.name == first.name and len(cluster.nodes) > 1,
        _join_credentials,
        name="Join credentials made (token, certificate key)",
        cluster=cluster,
    )
    ops.on(
        node.is_control_plane and node.name != first.name,
        _kubeadm_join,
        name="Control plane joins (one at a time)",
        cluster=cluster,
        _serial=True,
    )
    ops.on(not node.is_control_plane, _kubeadm_join, name="Worker joins", cluster=cluster)


def _joining(cluster: Cluster, unknown_joins: bool) -> list[Node]:
    """The nodes of this run that still have to join (from each one's look, in the run context);
    a node whose look was not read yet counts as joining if UNKNOWN_JOINS."""
    run = context.of(host.state)
    active = {h.name for h in host.state.inventory if h in host.state.active_hosts and h not in host.state.failed_hosts}
    nodes = []
    for node in cluster.nodes:
        if node.name == cluster.first_control_plane.name or node.name not in active:
            continue
        if node.name in run.credentials_only:
            continue
        looked = run.nodes.get(node.name)
        if (looked is None and unknown_joins) or (looked is not None and JOIN_STAMP not in looked.done):
            nodes.append(node)
    return nodes


@operation()
def _join_credentials(cluster: Cluster):
    """Ensure the joins of this run have credentials: a fresh token and CA hash (and, when a control
    plane joins, a certificate key), made once per run here on the first control plane.

    Nothing is made when every node of the run has joined. While planning, the joins of the
    nodes planned so far (and a cluster not made yet) tell whether credentials will be needed.
    """
    joining = _joining(cluster, unknown_joins=host.state.is_executing)
    if not host.state.is_executing:
        if INIT_STAMP not in node_state(host).done or joining:
            yield StringCommand(TOKEN_CREATE)
        return
    if not joining:
        return
    arguments = host.current_op_global_arguments or {}
    connector_arguments = {k: arguments[k] for k in get_type_hints(ConnectorArguments) if k in arguments}
    control_plane = any(node.is_control_plane for node in joining)
    yield FunctionCommand(_make_credentials, (control_plane, connector_arguments), {})


def _make_credentials(state: Any, host: Any, control_plane: bool, connector_arguments: dict[str, Any]) -> None:
    """Run kubeadm here (the first control plane) and keep the credentials in the run context."""

    def run(command: str) -> str:
        ok, output = host.run_shell_command(StringCommand(command), **connector_arguments)
        if not ok:
            raise OperationError(f"`{command}` failed: {output.stderr[-500:]}")
        return output.stdout

    output = run(TOKEN_CREATE)
    token, ca_hash = _TOKEN.search(output), _CA_HASH.search(output)
    if not token or not ca_hash:
        raise OperationError("`kubeadm token create --print-join-command` printed no token/CA hash")
    creds = JoinCredentials(token.group(1), ca_hash.group(1))
    if control_plane:
        lines = [line.strip() for line in run(UPLOAD_CERTS).splitlines() if line.strip()]
        if not lines or not _CERT_KEY.match(lines[-1]):
            raise OperationError("`kubeadm init phase upload-certs` printed no certificate key")
        creds.certificate_key = lines[-1]
    context.of(state).credentials = creds


@ops.operation()
def _kubeadm_join(cluster: Cluster):
    """Ensure `kubeadm join` has succeeded once here (a stamp written after success)."""
    node = cluster.node(host.name)
    state = node_state(host)
    if JOIN_STAMP in state.done:
        return
    if not host.state.is_executing:
        creds = JoinCredentials("<fresh token>", "<CA hash>", "<fresh key>" if node.is_control_plane else None)
    else:
        creds = context.of(host.state).credentials
        if creds is None or (node.is_control_plane and not creds.certificate_key):
            first = host.state.inventory.get_host(cluster.first_control_plane.name)
            if first in host.state.failed_hosts:
                why = f"the first control plane {first.name} failed earlier in this run"
            else:
                why = f"the first control plane {first.name} made no join credentials in this run"
            yield ops.fail(f"not joining: {why}")
            return
    # The config holds the token (and certificate key): 0600 before it has content, removed after.
    yield StringCommand("install", "-d", "-m", "755", "/etc/kubernetes", "&&", "install", "-m", "600", "/dev/null", JOIN_CONFIG)
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


DEPLOY = join  # run by deploys/cluster.py, in components.COMPONENTS order
