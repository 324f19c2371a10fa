"""Entry point: `pyinfra INVENTORY deploys/cluster.py` builds a kubeadm cluster.

Gets the validated cluster model from the run context (deploys/context.py), then runs every
component of components.COMPONENTS on every host, in that order. Role and topology gates are decided while planning (`ops.on`): every host
calls the same operations, so cross-host order holds (kubeadm init before any join,
joins before Calico), and `--dry` names only the hosts each operation concerns.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:  # started from another directory: import this repository's package
    sys.path.insert(0, _REPOSITORY)

import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import components, context, model, speed  # noqa: E402

speed.install()  # pyinfra's per-operation stack inspection and type hints, cached (deploys/speed.py)


def build(cluster: model.Cluster) -> None:
    """Every component, in components.COMPONENTS order, on the current host.

    A host added to a --limit'ed run only to make the join credentials (context.before_connect)
    calls them too, and every operation but that one does nothing there (ops.operation).
    """
    for component in components.COMPONENTS:
        if component.DEPLOY is not None:
            component.DEPLOY(cluster)


if pyinfra.is_cli and __name__ != "deploys.cluster":  # run by `pyinfra INVENTORY deploys/cluster.py`
    # Also import this file as a module: pyinfra inspects the call stack of every
    # operation, and a frame whose file is a known module costs a dictionary look-up
    # instead of a scan of sys.modules (seconds over a cluster's 200+ operations).
    import deploys.cluster  # noqa: F401

    context.run_entry(state, build)
