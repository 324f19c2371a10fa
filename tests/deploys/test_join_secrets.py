"""Join secrets, unmasked: the token, CA hash and certificate key every joining node is given.

The secrets reach a node only inside its JoinConfiguration (uploaded 0600, removed after the
join): these tests read the uploaded file itself, never a masked command, so a blank or
malformed secret fails them. The first control plane's answers are the stand-in kubeadm's own
output (lab/standins/node/kubeadm.py), so the deploy's parser reads what kubeadm prints.
Serial control-plane joins are shown by what the hosts see: one join at a time.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import gevent
import pytest
import yaml

from deploys import context
from tests import plan
from tests.deploys import shapes

NODE_STANDINS = plan.REPO / "lab" / "standins" / "node"
TOKEN = "x7k2p9.4q8w1e5r6t7y8u9i"
CERT_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
TOKEN_RE = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")  # k8s.io/cluster-bootstrap BootstrapTokenPattern
CA_HASH_RE = re.compile(r"^sha256:[0-9a-f]{64}$")  # kubeadm pubkeypin format
CERT_KEY_RE = re.compile(r"^[0-9a-f]{64}$")  # hex of a 32-byte AES key (kubeadm copycerts)
JOIN_CONFIG = "/etc/kubernetes/kubeadm-join.yaml"


@pytest.fixture(scope="module")
def standin_kubeadm() -> Iterator[Any]:
    """The stand-in kubeadm module (imported in-process, as tests/lab/test_kubeadm_standin.py does)."""
    sys.path.insert(0, str(NODE_STANDINS))
    try:
        yield importlib.import_module("kubeadm")
    finally:
        sys.path.remove(str(NODE_STANDINS))


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real self-signed CA certificate (what /etc/kubernetes/pki/ca.crt holds)."""
    folder = tmp_path_factory.mktemp("ca")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kubernetes",
         "-keyout", str(folder / "ca.key"), "-out", str(folder / "ca.crt")],
        check=True, capture_output=True,
    )
    return (folder / "ca.crt").read_bytes()


@pytest.fixture(scope="module")
def printed(standin_kubeadm: Any, ca_pem: bytes) -> dict[str, str]:
    """What the stand-in prints for `kubeadm token create --print-join-command`, and the values in it."""
    line = standin_kubeadm.join_command("192.168.11.230:16443", TOKEN, ca_pem, one_line=True)
    return {"line": line, "ca_hash": standin_kubeadm.ca_hash_of(ca_pem)}


def first_control_plane_answers(printed: dict[str, str], cert_key: str = CERT_KEY) -> dict[Any, Any]:
    """A fresh host whose kubeadm answers like the stand-in (token create, upload-certs)."""
    return {
        **plan.fresh_host(),
        "token create": [printed["line"]],
        # cmd_upload_certs: say(f"[upload-certs] Using certificate key:\n{key}")
        "upload-certs": ["[upload-certs] Using certificate key:", cert_key],
    }


def join_config(p: plan.Plan, host: str) -> dict[str, Any] | None:
    text = plan.uploads(p, host).get(JOIN_CONFIG)
    return yaml.safe_load(text) if text else None


@pytest.fixture(scope="module")
def prod(private: dict[str, Any], printed: dict[str, str]) -> plan.Plan:
    return plan.run(shapes.prod(private, first_control_plane_answers(printed)))


@pytest.fixture(scope="module")
def single(private: dict[str, Any], printed: dict[str, str]) -> plan.Plan:
    return plan.run(shapes.single(private, first_control_plane_answers(printed)))


def test_the_stand_ins_join_line_is_well_formed(printed: dict[str, str]) -> None:
    """The fixture itself: kubeadm's one-line join command with a real CA pin."""
    assert printed["line"].startswith(f"kubeadm join 192.168.11.230:16443 --token {TOKEN} ")
    assert CA_HASH_RE.match(printed["ca_hash"]) and printed["ca_hash"] in printed["line"]


@pytest.mark.parametrize("fixture", ["prod", "single"])
def test_every_joining_node_gets_the_printed_secrets_unmasked(fixture: str, request: pytest.FixtureRequest,
                                                              printed: dict[str, str]) -> None:
    p: plan.Plan = request.getfixturevalue(fixture)
    first = p.cluster.first_control_plane
    joining = [n for n in p.cluster.nodes if n.name != first.name]
    assert joining
    for node in joining:
        short = node.name.split("/", 1)[-1]
        config = join_config(p, short)
        assert config is not None, f"{short}: no join configuration uploaded"
        discovery = config["discovery"]["bootstrapToken"]
        token, hashes = discovery["token"], discovery["caCertHashes"]
        assert isinstance(token, str) and TOKEN_RE.match(token), f"{short}: token {token!r} is malformed"
        assert token == TOKEN, f"{short}: token {token!r} is not the one the first control plane printed"
        assert len(hashes) == 1 and CA_HASH_RE.match(str(hashes[0])), f"{short}: CA hashes {hashes!r}"
        assert hashes == [printed["ca_hash"]]
        assert discovery["apiServerEndpoint"] == p.cluster.endpoint
        if node.is_control_plane:
            key = config["controlPlane"]["certificateKey"]
            assert isinstance(key, str) and CERT_KEY_RE.match(key), f"{short}: certificate key {key!r} is malformed"
            assert key == CERT_KEY
        else:
            assert "controlPlane" not in config, f"{short}: a worker is given control-plane secrets"
    assert join_config(p, first.name.split("/", 1)[-1]) is None  # the first control plane inits, never joins


def test_the_certificate_key_is_never_given_to_workers(prod: plan.Plan) -> None:
    for node in prod.cluster.workers:
        short = node.name.split("/", 1)[-1]
        assert CERT_KEY.encode() not in plan.uploads(prod, short).get(JOIN_CONFIG, b"")
        assert not any(CERT_KEY in c for c in plan.fake_calls(prod, short))


def test_secrets_are_never_on_a_command_line(prod: plan.Plan) -> None:
    """The token and key travel in the 0600 file only: `ps` on the node would show a command line."""
    for node in prod.cluster.nodes:
        short = node.name.split("/", 1)[-1]
        for command in plan.fake_calls(prod, short):
            assert TOKEN not in command and CERT_KEY not in command, f"{short}: {command[:120]}"


def test_credentials_made_once_each_on_the_first_control_plane(prod: plan.Plan) -> None:
    first = prod.cluster.first_control_plane.name.split("/", 1)[-1]
    for node in prod.cluster.nodes:
        short = node.name.split("/", 1)[-1]
        calls = plan.fake_calls(prod, short)
        tokens = [c for c in calls if "kubeadm token create" in c]
        keys = [c for c in calls if "upload-certs --upload-certs" in c and "kubeadm init phase" in c]
        assert (len(tokens), len(keys)) == ((1, 1) if short == first else (0, 0)), short


def test_no_certificate_key_asked_for_without_control_plane_joins(single: plan.Plan) -> None:
    first = single.cluster.first_control_plane.name.split("/", 1)[-1]
    calls = plan.fake_calls(single, first)
    assert len([c for c in calls if "kubeadm token create" in c]) == 1
    assert not [c for c in calls if "kubeadm init phase upload-certs" in c]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("kubeadm join 10.0.0.1:6443 --token  --discovery-token-ca-cert-hash sha256:", "blank"),
        ("kubeadm join 10.0.0.1:6443 --token ABCDEF.0123456789ABCDEF --discovery-token-ca-cert-hash "
         "sha256:" + "a" * 64, "upper case token"),
        ("kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash "
         "sha256:" + "a" * 63, "short CA hash"),
        ("kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef", "no CA hash"),
        ("", "nothing printed"),
    ],
)
def test_a_malformed_join_line_fails_the_joining_nodes(private: dict[str, Any], line: str, reason: str) -> None:
    responses = {**plan.fresh_host(), "token create": [line]}
    p = plan.run(shapes.single(private, responses))
    # The credentials operation on the first control plane fails (saying why); nothing joins with them.
    for worker in ("k8s-test-worker0", "k8s-test-worker3"):
        commands = p.commands(worker)
        assert not any("kubeadm join --config" in c for c in commands), (reason, worker)
        assert JOIN_CONFIG not in plan.uploads(p, worker)
    assert context.of(p.state).credentials is None, reason


@pytest.mark.parametrize(
    "output",
    [
        ["[upload-certs] Using certificate key:", ""],
        ["[upload-certs] Using certificate key:"],
        ["[upload-certs] Using certificate key:", "0f1e2d3c"],
        ["[upload-certs] Using certificate key:", CERT_KEY.upper()],
        ["[upload-certs] Using certificate key:", CERT_KEY + "00"],
    ],
    ids=["blank", "missing", "short", "upper-case", "long"],
)
def test_a_malformed_certificate_key_fails_every_join(
    private: dict[str, Any], printed: dict[str, str], output: list[str]
) -> None:
    responses = {**first_control_plane_answers(printed), "upload-certs": output}
    p = plan.run(shapes.prod(private, responses))
    # The credentials are made together (one operation on the first control plane): a bad certificate key
    # fails it, and no node joins with half of them.
    for node in ("k8s-master-node1", "k8s-master-node2", "k8s-worker-node0"):
        assert not any("kubeadm join --config" in c for c in p.commands(node)), node
        assert JOIN_CONFIG not in plan.uploads(p, node)
    assert context.of(p.state).credentials is None


def test_certificate_key_taken_from_the_last_line(private: dict[str, Any], printed: dict[str, str]) -> None:
    """kubeadm may log warnings first; the key is the last line it prints."""
    responses = {
        **first_control_plane_answers(printed),
        "upload-certs": ["W1202 00:00:00.000000 1 version.go:109] could not fetch a Kubernetes version",
                         "[upload-certs] Storing the certificates in Secret \"kubeadm-certs\"",
                         "[upload-certs] Using certificate key:", "  " + CERT_KEY + "  "],
    }
    p = plan.run(shapes.prod(private, responses))
    assert join_config(p, "k8s-master-node2")["controlPlane"]["certificateKey"] == CERT_KEY


# ---------------------------------------------------------------- serial joins, by behaviour


def _timeline(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    """Record (event, host, kind) around every `kubeadm join` a @fake host runs; a join takes a while."""
    from pyinfra.connectors.fake import FakeConnector

    events: list[tuple[str, str, str]] = []
    original = FakeConnector.run_shell_command

    def slow_join(self: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        text = command.get_raw_value() if hasattr(command, "get_raw_value") else str(command)
        if "kubeadm join --config" not in text:
            return original(self, command, *args, **kwargs)
        name = self.host.name.split("/", 1)[-1]
        events.append(("start", name, text))
        gevent.sleep(0.05)  # other greenlets run meanwhile, if the deploy lets them
        result = original(self, command, *args, **kwargs)
        events.append(("end", name, text))
        return result

    monkeypatch.setattr(FakeConnector, "run_shell_command", slow_join)
    return events


def test_control_planes_join_one_at_a_time_workers_together(
    private: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _timeline(monkeypatch)
    plan.run(shapes.sized(5, 3, private))
    joins = [(event, host) for event, host, _ in events]
    cp_joins = [(e, h) for e, h in joins if h.startswith("cp")]
    # one at a time: every start is followed by its own end before the next start
    assert len(cp_joins) == 8
    for i in range(0, len(cp_joins), 2):
        assert cp_joins[i][0] == "start" and cp_joins[i + 1] == ("end", cp_joins[i][1]), cp_joins
    assert sorted(h for e, h in cp_joins if e == "start") == ["cp1", "cp2", "cp3", "cp4"]
    # every control plane has joined before the first worker starts
    first_worker = next(i for i, (_, h) in enumerate(joins) if h.startswith("w"))
    assert all(h.startswith("cp") for _, h in joins[:first_worker]) and first_worker == 8
    # the recorder sees parallelism where the deploy allows it: the workers' joins overlap
    worker_joins = [e for e, h in joins[first_worker:]]
    assert worker_joins == ["start"] * 3 + ["end"] * 3, joins[first_worker:]
