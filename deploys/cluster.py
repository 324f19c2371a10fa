"""Entry point: `pyinfra INVENTORY deploys/cluster.py` builds a kubeadm cluster.

Builds and validates the cluster model, then runs every component on every host,
in order. Role and topology gates are decided while planning (`ops.on`): every host
calls the same operations, so cross-host order holds (kubeadm init before any join,
joins before Calico), and `--dry` names only the hosts each operation concerns.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:  # started from another directory: import this repository's package
    sys.path.insert(0, _REPOSITORY)

import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import calico, components, containerd, control_plane, haproxy, join, keepalived, kube_packages  # noqa: E402
from deploys import kubeconfig, model, prep, speed  # noqa: E402

speed.install()  # pyinfra's per-operation stack inspection and type hints, cached (deploys/speed.py)

GROUP_DATA = Path(__file__).resolve().parent.parent / "group_data"


def cluster_model() -> model.Cluster:
    """The model for this run, built once from the whole inventory."""
    cached = getattr(state, "_kubeadm_pyinfra_cluster", None)
    if cached is None:
        cached = state._kubeadm_pyinfra_cluster = model.build(state.inventory, components.defaults())
    return cached


def checked_model() -> model.Cluster | None:
    """The model, or None once the run is stopped (exit 2, no traceback) before any operation.

    The check before connecting lives in group_data/all.py; when pyinfra did not load this
    repository's group_data/ (started elsewhere, without --group-data), it is done here,
    before any operation, and a run that would miss the cluster's own group data stops.
    pyinfra loads this file once per host, each in a greenlet: the first one stops the run
    (gevent re-raises SystemExit in the main greenlet), the others do nothing.
    """
    if getattr(state, "_kubeadm_pyinfra_stopped", False):
        return None
    checked_early = getattr(state, "_cluster_model_checked", False)
    skipped = [] if checked_early else model.skipped_group_data(state.inventory, GROUP_DATA)
    try:
        if skipped:
            names = ", ".join(str(path) for path in skipped)
            raise model.ClusterConfigError(
                f"pyinfra did not load {names}: it reads group_data/ only from the current directory and "
                f"from the inventory's directory. Run pyinfra from {GROUP_DATA.parent}, or add "
                f"--group-data {GROUP_DATA}"
            )
        return cluster_model()
    except model.ClusterConfigError as exc:
        _stop(str(exc))


def _stop(message: str) -> NoReturn:
    """Stop the run for invalid input, once (the other hosts' greenlets see the flag)."""
    state._kubeadm_pyinfra_stopped = True
    model.stop(message, contacted=True)


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

    cluster = checked_model()
    try:
        if cluster is not None:
            build(cluster)
    # Found while planning (a joined node at another version, no pinned digest for a node's
    # architecture): invalid input, like the model's errors.
    except (model.VersionSkewError, model.ClusterConfigError) as exc:
        if not getattr(state, "_kubeadm_pyinfra_stopped", False):
            _stop(str(exc))
