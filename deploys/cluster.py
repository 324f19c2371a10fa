"""Entry point: `pyinfra INVENTORY deploys/cluster.py` builds a kubeadm cluster.

Builds and validates the cluster model, then runs every component on every host,
in order; each operation is gated to the hosts it concerns, so cross-host order
holds (kubeadm init before any join, joins before Calico).
"""

from __future__ import annotations

import pyinfra
from pyinfra import state

from deploys import calico, components, containerd, control_plane, haproxy, join, keepalived, kube_packages
from deploys import kubeconfig, model, prep


def cluster_model() -> model.Cluster:
    """The model for this run, built once from the whole inventory."""
    cached = getattr(state, "_kubeadm_pyinfra_cluster", None)
    if cached is None:
        cached = state._kubeadm_pyinfra_cluster = model.build(state.inventory, components.defaults())
    return cached


def build(cluster: model.Cluster) -> None:
    """Every component, in order, on the current host."""
    prep.prepare(cluster)
    containerd.install(cluster)
    kube_packages.install(cluster)
    haproxy.install(cluster)
    keepalived.install(cluster)
    control_plane.init(cluster)
    join.join(cluster)
    calico.install(cluster)
    kubeconfig.fetch(cluster)


if pyinfra.is_cli and __name__ != "deploys.cluster":  # run by `pyinfra INVENTORY deploys/cluster.py`
    # Also import this file as a module: pyinfra inspects the call stack of every
    # operation, and a frame whose file is a known module costs a dictionary look-up
    # instead of a scan of sys.modules (seconds over a cluster's 200+ operations).
    import deploys.cluster  # noqa: F401

    build(cluster_model())
