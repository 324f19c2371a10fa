"""Entry point: `pyinfra -y INVENTORY deploys/backup.py` saves an etcd snapshot and the PKI a restore needs.

The etcd tools installed on the control planes; one healthy etcd member takes the snapshot, and it
is copied with the shared PKI to BACKUP_DIR/<cluster>/<UTC time>/ on this machine (`backup_dir`,
default backups/ in this repository), checked against its SHA256SUMS; the newest `backup_keep`
stay. Refused when no member is healthy. See deploys/snapshots.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:  # started from another directory: import this repository's package
    sys.path.insert(0, _REPOSITORY)

import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import context, model, snapshots  # noqa: E402


def run(cluster: model.Cluster) -> None:
    """One snapshot of the cluster, copied here and checked."""
    snapshots.backup(cluster)


if pyinfra.is_cli and __name__ != "deploys.backup":  # run by `pyinfra INVENTORY deploys/backup.py`
    import deploys.backup  # noqa: F401  (see deploys/cluster.py)

    context.run_entry(state, run)
