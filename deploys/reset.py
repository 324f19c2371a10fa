"""Entry point: `pyinfra -y INVENTORY deploys/reset.py --data confirm_reset=CLUSTER` tears the cluster down.

Every node goes back to the state before the first deploy (packages stay): kubeadm reset, the
files this project wrote, CNI leftovers, keepalived/HAProxy stopped; the admin kubeconfig on the
operator's machine is removed; the cluster's secrets stay (a new deploy reuses them). Refused
unless `confirm_reset` names the cluster: nothing is touched then.
"""

from __future__ import annotations

import pyinfra
from pyinfra import state

from deploys import context, model, teardown


def run(cluster: model.Cluster) -> None:
    """Tear every node down, after the confirmation check."""
    if not teardown.confirmed(cluster):
        raise model.ClusterConfigError(
            f"reset tears down cluster {cluster.name!r} for good: confirm with "
            f"`--data confirm_reset={cluster.name}`; nothing was changed"
        )
    teardown.teardown(cluster)


if pyinfra.is_cli and __name__ != "deploys.reset":  # run by `pyinfra INVENTORY deploys/reset.py`
    import deploys.reset  # noqa: F401  (see deploys/cluster.py)

    context.run_entry(state, run)
