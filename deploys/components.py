"""Every component's data keys, merged with the model's into one table."""

from __future__ import annotations

from typing import Any

from deploys import calico, containerd, control_plane, haproxy, join, keepalived, kube_packages, kubeconfig, model, prep
from deploys import backup, etcd, restore, teardown
from deploys.schema import Key

COMPONENTS = (prep, containerd, kube_packages, haproxy, keepalived, control_plane, join, calico, kubeconfig, teardown, etcd, backup, restore)


def schema() -> dict[str, Key]:
    """Every data key with its default, type and scope: the model's and each component's."""
    return model.merged([model.KEYS, *(component.KEYS for component in COMPONENTS)])


def defaults() -> dict[str, Any]:
    """Every data key with its default (plain values)."""
    return {name: key.default for name, key in schema().items()}
