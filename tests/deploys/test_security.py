"""Secure defaults: Secrets encrypted at rest, API audit, private files, HAProxy stats off the network."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploys import control_plane, credentials, model
from tests import plan

CONTROL_PLANES = ["k8s-master-node0", "k8s-master-node1", "k8s-master-node2"]
WORKERS = ["k8s-worker-node0", "k8s-worker-node1", "k8s-worker-node2"]


def cluster_config(p: plan.Plan) -> dict[str, Any]:
    text = plan.uploads(p, CONTROL_PLANES[0])["/etc/kubernetes/kubeadm-config.yaml"].decode()
    return next(doc for doc in yaml.safe_load_all(text) if doc["kind"] == "ClusterConfiguration")


def test_encryption_config_identical_on_every_control_plane_only(prod_plan: plan.Plan) -> None:
    path = control_plane.ENCRYPTION_CONFIG
    configs = {name: plan.uploads(prod_plan, name).get(path) for name in CONTROL_PLANES + WORKERS}
    assert len({configs[name] for name in CONTROL_PLANES}) == 1 and configs[CONTROL_PLANES[0]]
    assert all(configs[name] is None for name in WORKERS)
    doc = yaml.safe_load(configs[CONTROL_PLANES[0]])
    assert (doc["apiVersion"], doc["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
    (rule,) = doc["resources"]
    assert rule["resources"] == ["secrets"]
    secretbox, identity = rule["providers"]
    assert identity == {"identity": {}}  # reads Secrets stored before encryption was on
    (key,) = secretbox["secretbox"]["keys"]
    assert base64.b64decode(key["secret"]) and len(base64.b64decode(key["secret"])) == 32
    assert key["secret"] == prod_plan.cluster.secrets["encryption_key"]
    assert key["name"] == credentials.key_name(key["secret"])


def test_encryption_and_audit_files_private_before_init_and_joins(prod_plan: plan.Plan) -> None:
    for name in CONTROL_PLANES:
        commands = prod_plan.commands(name)
        for path in (control_plane.ENCRYPTION_CONFIG, control_plane.AUDIT_POLICY):
            # the folder (0700), then the empty file (0600), in one command before any content
            assert f"install -d -m 700 {Path(path).parent} && install -m 600 /dev/null {path}" in commands
    init = prod_plan.index("kubeadm init")
    assert prod_plan.index("Secrets encryption config") < init and prod_plan.index("audit policy") < init
    assert prod_plan.hosts_of("Secrets encryption config") == CONTROL_PLANES
    assert prod_plan.index("Secrets encryption config") < prod_plan.index("Control plane joins")


def test_api_server_flags_and_volumes_are_v1beta4(prod_plan: plan.Plan) -> None:
    api = cluster_config(prod_plan)["apiServer"]
    assert set(api) == {"certSANs", "extraArgs", "extraVolumes"}
    args = {arg["name"]: arg["value"] for arg in api["extraArgs"]}
    assert all(set(arg) == {"name", "value"} and isinstance(arg["value"], str) for arg in api["extraArgs"])
    assert args == {
        "encryption-provider-config": "/etc/kubernetes/encryption/config.yaml",
        "encryption-provider-config-automatic-reload": "true",
        "audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
        "audit-log-path": "/var/log/kubernetes/audit/audit.log",
        "audit-log-maxage": "30",
        "audit-log-maxbackup": "10",
        "audit-log-maxsize": "100",
    }
    volumes = {v["name"]: v for v in api["extraVolumes"]}
    assert all(set(v) == {"name", "hostPath", "mountPath", "readOnly", "pathType"} for v in volumes.values())
    assert volumes["encryption-config"] == {
        "name": "encryption-config", "hostPath": "/etc/kubernetes/encryption",
        "mountPath": "/etc/kubernetes/encryption", "readOnly": True, "pathType": "DirectoryOrCreate",
    }
    assert volumes["audit-policy"]["readOnly"] is True and volumes["audit-log"]["readOnly"] is False
    for flag in ("encryption-provider-config", "audit-policy-file", "audit-log-path"):
        assert any(args[flag].startswith(v["mountPath"] + "/") for v in volumes.values()), flag


def test_audit_rotation_from_data(private: dict) -> None:
    inv = plan.from_inventory_file(
        plan.REPO / "inventories" / "test.py", audit_log_maxage=7, audit_log_maxsize=50, **private
    )
    p = plan.run(inv)
    text = plan.uploads(p, "k8s-test-cp0")["/etc/kubernetes/kubeadm-config.yaml"].decode()
    api = next(d for d in yaml.safe_load_all(text) if d["kind"] == "ClusterConfiguration")["apiServer"]
    args = {arg["name"]: arg["value"] for arg in api["extraArgs"]}
    assert (args["audit-log-maxage"], args["audit-log-maxsize"]) == ("7", "50")


def test_audit_policy_never_records_secret_bodies(prod_plan: plan.Plan) -> None:
    policy = yaml.safe_load(plan.uploads(prod_plan, CONTROL_PLANES[1])[control_plane.AUDIT_POLICY])
    assert (policy["apiVersion"], policy["kind"]) == ("audit.k8s.io/v1", "Policy")
    secrets = next(r for r in policy["rules"] if any("secrets" in g.get("resources", []) for g in r.get("resources", [])))
    assert secrets["level"] == "Metadata"
    first_body = next(i for i, r in enumerate(policy["rules"]) if r["level"] in ("Request", "RequestResponse"))
    assert policy["rules"].index(secrets) < first_body


def test_encryption_key_never_in_commands(prod_plan: plan.Plan) -> None:
    key = prod_plan.cluster.secrets["encryption_key"]
    for name in CONTROL_PLANES + WORKERS:
        assert not any(key in command for command in plan.fake_calls(prod_plan, name))


def test_kubelet_files_at_cis_permissions(test_plan: plan.Plan) -> None:
    commands = test_plan.commands("k8s-test-worker0")
    assert any(c.endswith("&& install -m 600 /dev/null /etc/default/kubelet") for c in commands)  # CIS 4.1.1
    join = next(c for c in commands if "kubeadm join --config" in c)
    chmod = "if [ -f /var/lib/kubelet/config.yaml ]; then chmod 600 /var/lib/kubelet/config.yaml; fi"  # CIS 4.1.9
    assert join.index("kubeadm join --config") < join.index(chmod) < join.rindex("touch /var/lib/kubeadm-pyinfra/kubeadm-join.done")


def test_rotation_adds_promotes_and_retires(tmp_path: Path) -> None:
    first = credentials.load_or_create(str(tmp_path), credentials.wanted(keepalived=False))["encryption_key"]
    credentials.rotate(str(tmp_path), "add")
    stored = credentials.load_or_create(str(tmp_path), credentials.wanted(keepalived=False))
    new = stored["encryption_key_new"]
    assert [k for _, k in credentials.encryption_keys(stored)] == [first, new]  # the new key decrypts only
    credentials.rotate(str(tmp_path), "promote")
    stored = credentials.load_or_create(str(tmp_path), credentials.wanted(keepalived=False))
    assert [k for _, k in credentials.encryption_keys(stored)] == [new, first]  # the new key encrypts
    assert credentials.key_name(first) in dict(credentials.encryption_keys(stored))  # names never change
    credentials.rotate(str(tmp_path), "retire")
    stored = credentials.load_or_create(str(tmp_path), credentials.wanted(keepalived=False))
    assert [k for _, k in credentials.encryption_keys(stored)] == [new]
    assert stat.S_IMODE((tmp_path / credentials.FILE_NAME).stat().st_mode) == 0o600


def test_rotation_command_refuses_steps_out_of_order(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    credentials.load_or_create(str(tmp_path), credentials.wanted(keepalived=False))
    assert credentials.main(["encryption-key", "promote", str(tmp_path)]) == 2
    assert "no new key to promote" in capsys.readouterr().err
    assert credentials.main(["encryption-key", "add", str(tmp_path)]) == 0
    assert "next: deploy" in capsys.readouterr().out
    assert credentials.main(["encryption-key", "add", str(tmp_path)]) == 2


def test_rotated_keys_reach_every_control_plane(tmp_path: Path) -> None:
    private = {"secrets_dir": str(tmp_path / "secrets"), "kubeconfig_path": str(tmp_path / "admin.conf")}
    credentials.load_or_create(private["secrets_dir"], credentials.wanted(keepalived=True))
    credentials.rotate(private["secrets_dir"], "add")
    p = plan.run(plan.from_inventory_file(plan.REPO / "inventories" / "prod.py", **private))
    doc = yaml.safe_load(plan.uploads(p, CONTROL_PLANES[2])[control_plane.ENCRYPTION_CONFIG])
    keys = doc["resources"][0]["providers"][0]["secretbox"]["keys"]
    assert [k["secret"] for k in keys] == [p.cluster.secrets["encryption_key"], p.cluster.secrets["encryption_key_new"]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("keepalived_auth_pass: 'x; rm'\n", "entry 'keepalived_auth_pass' is not 8 letters and digits"),
        ("encryption_key: c2hvcnQ=\n", "entry 'encryption_key' is not 32 random bytes, base64"),
        ("stolen: yes\n", "unknown entry 'stolen'"),
        ("- a list\n", "expected a mapping"),
    ],
)
def test_a_tampered_secrets_file_is_refused_without_showing_it(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / credentials.FILE_NAME).write_text(content)
    inv = plan.fake_inventory([("cp0", {"node_ip": "10.1.0.10"})], [], {"secrets_dir": str(tmp_path / "s")})
    from deploys import components

    with pytest.raises(model.ClusterConfigError, match=message) as caught:
        model.build(inv, components.defaults())
    assert "rm" not in str(caught.value) and "c2hvcnQ" not in str(caught.value)


def test_audit_log_folder_private_before_the_api_server_starts(prod_plan: plan.Plan) -> None:
    for name in CONTROL_PLANES:
        (script,) = [c for c in prod_plan.commands(name) if "kubeadm init --config" in c or "kubeadm join --config" in c]
        assert "install -d -m 700 /var/log/kubernetes/audit && kubeadm" in script, name
    (worker,) = [c for c in prod_plan.commands(WORKERS[0]) if "kubeadm join --config" in c]
    assert "/var/log/kubernetes/audit" not in worker
