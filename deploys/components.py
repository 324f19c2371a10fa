"""The components, in the one order the cluster deploy runs them; their data keys merged with the model's.

Each component module declares beside its @deploy:
- KEYS: its data keys (Key: default, type, scope); DEFAULTS, the plain defaults;
- OWNS: facts.Owned(files=..., packages=..., services=...), what it owns on a node: the node's
  one look (facts.NodeFacts) reads exactly what the components own;
- DEPLOY: the @deploy function deploys/cluster.py runs, in COMPONENTS order (None: run by
  another entry file, e.g. teardown by deploys/reset.py).
"""

from __future__ import annotations

from typing import Any

from deploys import calico, containerd, control_plane, haproxy, join, keepalived, kube_packages, kubeconfig, model, prep
from deploys import certificates, etcd, node_upgrade, removal, restoration, runtime_upgrade, snapshots, teardown
from deploys.schema import Key

# The build order: kubeadm init before any join, joins before Calico, the kubeconfig last; then the
# day-2 components, which deploys/cluster.py does not run (DEPLOY = None) but whose keys and files count.
COMPONENTS = (
    prep, containerd, kube_packages, haproxy, keepalived, control_plane, join, calico, kubeconfig, teardown, node_upgrade,
    runtime_upgrade, removal, certificates, etcd, snapshots, restoration,
)


def schema() -> dict[str, Key]:
    """Every data key with its default, type and scope: the model's and each component's."""
    return model.merged([model.KEYS, *(component.KEYS for component in COMPONENTS)])


def defaults() -> dict[str, Any]:
    """Every data key with its default (plain values)."""
    return {name: key.default for name, key in schema().items()}
