"""Every file that holds a secret, with the mode it must have: checked against what the deploy plans.

Node files are created with their mode before any content arrives (`install -m MODE /dev/null`),
in a folder of the given mode, and never loosened afterwards; the operator's copies (the
secrets file, the admin kubeconfig) are 0600 in 0700 folders. A file whose content holds a
secret but is missing from the table fails too, so a new secret file must be added here.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from deploys import credentials
from tests import plan
from tests.deploys import shapes

# path on the node -> (file mode, folder mode or None when the folder is not private)
NODE_FILES: dict[str, tuple[str, str | None]] = {
    "/etc/keepalived/vrrp-auth.conf": ("600", None),  # the VRRP password
    "/etc/haproxy/stats.env": ("600", None),  # the HAProxy stats password
    "/etc/kubernetes/encryption/config.yaml": ("600", "700"),  # the Secrets encryption keys
    "/etc/kubernetes/kubeadm-join.yaml": ("600", None),  # the bootstrap token and certificate key
    "/etc/kubernetes/kubeadm-config.yaml": ("600", None),  # cluster configuration (kubeadm reads it as root)
    "/etc/kubernetes/audit/policy.yaml": ("600", "700"),  # CIS: API server audit policy
    "/etc/default/kubelet": ("600", None),  # CIS 4.1.1: kubelet service configuration
}
# The operator's machine: (file mode, folder mode)
LOCAL_MODES = (0o600, 0o700)

TOKEN = "abcdef.0123456789abcdef"  # plan.fresh_host()'s answers


def sequence(p: plan.Plan, host: str) -> list[tuple[str, str]]:
    """Every command planned on HOST in order: ("run", command) or ("upload", destination)."""
    from pyinfra.api import FileUploadCommand

    h = p.state.inventory.get_host(f"@fake/{host}")
    out: list[tuple[str, str]] = []
    for op_hash in p.state.get_op_order():
        data = p.state.ops[h].get(op_hash)
        for command in (data.operation_meta._commands or []) if data else []:
            out.append(("upload", command.dest) if isinstance(command, FileUploadCommand) else ("run", str(command)))
    return out


@pytest.fixture(scope="module")
def ha(private: dict[str, Any]) -> plan.Plan:
    return plan.run(shapes.prod(private))


def secrets_of(p: plan.Plan) -> list[str]:
    """Every secret value the run handed to some node."""
    return [*p.cluster.secrets.values(), TOKEN, plan.CERT_KEY]


def test_every_secret_file_is_created_private_before_it_has_content(ha: plan.Plan) -> None:
    seen: set[str] = set()
    for node in ha.cluster.nodes:
        host = node.name.split("/", 1)[-1]
        steps = sequence(ha, host)
        for index, (kind, path) in enumerate(steps):
            if kind != "upload" or path not in NODE_FILES:
                continue
            seen.add(path)
            mode, folder_mode = NODE_FILES[path]
            # each step of the commands run before (ops.file makes the folder and the empty file in one command)
            earlier = [part for k, c in steps[:index] if k == "run" for part in c.split(" && ")]
            created = [c for c in earlier if c.startswith("install -m ") and c.endswith(f" /dev/null {path}")]
            assert created == [f"install -m {mode} /dev/null {path}"], f"{host}: {path} created as {created}"
            if folder_mode:
                folder = str(Path(path).parent)
                made = [c for c in earlier if c.startswith("install -d -m ") and c.endswith(f" {folder}")]
                assert made and all(c == f"install -d -m {folder_mode} {folder}" for c in made), f"{host}: {made}"
            loosened = [c for k, c in steps if k == "run" and c.startswith("chmod ") and c.endswith(f" {path}")]
            assert not loosened, f"{host}: {path} chmod-ed: {loosened}"
    assert seen == set(NODE_FILES), set(NODE_FILES) - seen  # the table names no file the deploy stopped writing


def test_every_file_holding_a_secret_is_in_the_table(ha: plan.Plan) -> None:
    values = [v.encode() for v in secrets_of(ha)]
    for node in ha.cluster.nodes:
        host = node.name.split("/", 1)[-1]
        for path, content in plan.uploads(ha, host).items():
            if any(value in content for value in values):
                assert path in NODE_FILES, f"{host}: {path} holds a secret but has no mode in NODE_FILES"


def test_secret_files_only_where_needed(ha: plan.Plan) -> None:
    for node in ha.cluster.nodes:
        host = node.name.split("/", 1)[-1]
        files = set(plan.uploads(ha, host))
        first = node.name == ha.cluster.first_control_plane.name
        assert ("/etc/kubernetes/kubeadm-join.yaml" in files) == (not first), host
        assert ("/etc/kubernetes/encryption/config.yaml" in files) == node.is_control_plane, host
        assert ("/etc/keepalived/vrrp-auth.conf" in files) == node.is_control_plane, host
        assert ("/etc/haproxy/stats.env" in files) == node.is_control_plane, host


def test_a_loose_secret_file_on_a_node_is_made_private(ha: plan.Plan, private: dict[str, Any]) -> None:
    """A converged control plane whose VRRP password file is 0644: the next run chmods it, nothing else."""
    answers = plan.converged_host(ha, "k8s-master-node1")
    lines = [line.replace("mode 600 /etc/keepalived/vrrp-auth.conf", "mode 644 /etc/keepalived/vrrp-auth.conf")
             for line in answers["/proc/swaps"]]
    assert lines != answers["/proc/swaps"]
    second = plan.run(shapes.prod(private, {**plan.fresh_host(), "/proc/swaps": lines}))
    steps = [c for k, c in sequence(second, "k8s-master-node1") if "vrrp-auth" in c]
    assert steps == ["chmod 600 /etc/keepalived/vrrp-auth.conf"]


def test_operator_copies_are_private(ha: plan.Plan, private: dict[str, Any]) -> None:
    secrets_file = Path(ha.cluster.secrets_dir) / credentials.FILE_NAME
    kubeconfig = Path(ha.cluster.kubeconfig_path)
    assert str(secrets_file).startswith(str(Path(private["secrets_dir"])))
    for path in (secrets_file, kubeconfig):
        assert path.exists(), path
        assert (stat.S_IMODE(path.stat().st_mode), stat.S_IMODE(path.parent.stat().st_mode)) == LOCAL_MODES, path


def test_a_loose_local_kubeconfig_is_tightened(tmp_path: Path) -> None:
    private = {"secrets_dir": str(tmp_path / "s"), "kubeconfig_path": str(tmp_path / "kube" / "admin.conf")}
    first = plan.run(shapes.single(private))
    kubeconfig = Path(first.cluster.kubeconfig_path)
    kubeconfig.write_bytes(b"apiVersion: v1\n")
    kubeconfig.chmod(0o644)
    import hashlib

    answers = plan.converged_host(first, "k8s-test-cp0", kubeconfig=b"apiVersion: v1\n")
    assert any(hashlib.sha1(b"apiVersion: v1\n").hexdigest() in line for line in answers["/proc/swaps"])
    plan.run(shapes.single(private, {**plan.fresh_host(), **answers}))
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
