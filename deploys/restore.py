"""Entry point: `pyinfra -y INVENTORY deploys/restore.py --data snapshot=PATH --data confirm_restore=CLUSTER`.

Rebuilds the control plane from a backup of `deploys/backup.py` after quorum loss: on every control
plane, one step at a time across all of them, the backup uploaded and checked, the control-plane
static pods stopped, the shared PKI put back where missing, etcd's data restored from the snapshot
(a new cluster of every control plane), etcd and then the API server, controller manager and
scheduler started. Workers are not touched. Refused (nothing changed) unless `confirm_restore`
names the cluster, the backup matches its SHA256SUMS, and every control plane is reachable; a
second run with the same backup changes nothing. See deploys/restoration.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:  # started from another directory: import this repository's package
    sys.path.insert(0, _REPOSITORY)

import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import context, model, restoration  # noqa: E402


def run(cluster: model.Cluster) -> None:
    """Every control plane rebuilt from the confirmed, checked backup; workers untouched."""
    restoration.restore(cluster)


if pyinfra.is_cli and __name__ != "deploys.restore":  # run by `pyinfra INVENTORY deploys/restore.py`
    import deploys.restore  # noqa: F401  (see deploys/cluster.py)

    context.run_entry(state, run)
