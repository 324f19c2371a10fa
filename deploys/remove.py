"""Entry point: `pyinfra -y INVENTORY deploys/remove.py --data remove=NODE[,NODE]` takes nodes out.

Remove the nodes from the inventory first. Each node, one at a time: drained, its etcd member
removed (control planes), reset if it answers (a powered-off node is removed all the same), its
Node deleted, a health gate; then HAProxy and keepalived on the remaining control planes without
it. Refused (exit 2, nothing touched) when the inventory still lists a node, or the removal would
leave no control plane, lose etcd quorum, or leave an even number of etcd members without
`--data allow_even_control_planes=true`. `--dry` names the node that drains and the member that goes.
See deploys/removal.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:
    sys.path.insert(0, _REPOSITORY)

import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import context, model, removal  # noqa: E402


def run(cluster: model.Cluster) -> None:
    """Every host plans the same removal (the cluster is read once)."""
    removal.remove(cluster)


if pyinfra.is_cli and __name__ != "deploys.remove":  # run by `pyinfra INVENTORY deploys/remove.py`
    import deploys.remove  # noqa: F401  (see deploys/cluster.py)

    context.run_entry(state, run)
