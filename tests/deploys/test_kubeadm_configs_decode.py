"""The kubeadm configs the deploy renders, read by the stand-in kubeadm's strict decoder, for every supported minor.

lab/standins/node/kubeadm.py's `decode` is `kubeadm config validate`: unknown APIs and fields,
type errors and kubeadm's own validation (token and certificate-key format, CA pins, addresses)
are errors. The init config (first control plane) and both kinds of join config are checked.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Iterator

import pytest

from deploys import model
from tests import plan
from tests.deploys import shapes

NODE_STANDINS = plan.REPO / "lab" / "standins" / "node"


@pytest.fixture(scope="module")
def standin_kubeadm() -> Iterator[Any]:
    sys.path.insert(0, str(NODE_STANDINS))
    try:
        yield importlib.import_module("kubeadm")
    finally:
        sys.path.remove(str(NODE_STANDINS))


@pytest.fixture(scope="module", params=sorted(model.RELEASES))
def rendered(request: pytest.FixtureRequest, private: dict[str, Any]) -> tuple[str, dict[str, bytes]]:
    """(patch version, {file kind: text}) of a 3 + 3 first run at each supported minor."""
    version = model.RELEASES[request.param].patch
    p = plan.run(shapes.prod(private, kube_version=version))
    return version, {
        "init": plan.uploads(p, "k8s-master-node0")["/etc/kubernetes/kubeadm-config.yaml"],
        "control-plane join": plan.uploads(p, "k8s-master-node2")["/etc/kubernetes/kubeadm-join.yaml"],
        "worker join": plan.uploads(p, "k8s-worker-node1")["/etc/kubernetes/kubeadm-join.yaml"],
    }


def test_init_config_decodes(standin_kubeadm: Any, rendered: tuple[str, dict[str, bytes]]) -> None:
    version, files = rendered
    docs = standin_kubeadm.decode(files["init"].decode(), version)
    assert set(docs) == {"InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"}
    assert docs["ClusterConfiguration"]["kubernetesVersion"].lstrip("v") == version


@pytest.mark.parametrize("kind", ["control-plane join", "worker join"])
def test_join_configs_decode(standin_kubeadm: Any, rendered: tuple[str, dict[str, bytes]], kind: str) -> None:
    version, files = rendered
    docs = standin_kubeadm.decode(files[kind].decode(), version)
    assert set(docs) == {"JoinConfiguration"}
    join = docs["JoinConfiguration"]
    assert join["discovery"]["bootstrapToken"]["token"] == "abcdef.0123456789abcdef"
    assert ("controlPlane" in join) == (kind == "control-plane join")
    if kind == "control-plane join":  # kubeadm accepts a blank key (certificates copied by hand): the deploy must not
        assert join["controlPlane"]["certificateKey"] == plan.CERT_KEY


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("abcdef.0123456789abcdef", "", "token"),
        ("abcdef.0123456789abcdef", "abcdef.0123456789", "token"),
        (plan.CERT_KEY, plan.CERT_KEY[:32], "certificate key"),
    ],
    ids=["blank token", "short token", "short certificate key"],
)
def test_the_decoder_refuses_blank_secrets(standin_kubeadm: Any, rendered: tuple[str, dict[str, bytes]],
                                           old: str, new: str, message: str) -> None:
    """The decoder is strict enough to catch what this file guards against (the test can fail)."""
    version, files = rendered
    text = files["control-plane join"].decode()
    assert old in text
    with pytest.raises(ValueError, match=message):
        standin_kubeadm.decode(text.replace(old, new), version)
