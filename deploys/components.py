"""Every component's data defaults, merged with the model's into one table."""

from __future__ import annotations

from typing import Any

from deploys import calico, containerd, control_plane, haproxy, join, keepalived, kube_packages, kubeconfig, model, prep
from deploys import teardown

COMPONENTS = (prep, containerd, kube_packages, haproxy, keepalived, control_plane, join, calico, kubeconfig, teardown)


def defaults() -> dict[str, Any]:
    """Every data key with its default: the model's and each component's."""
    return model.merged([model.DEFAULTS, *(component.DEFAULTS for component in COMPONENTS)])
