"""Entry point: `pyinfra -y INVENTORY deploys/upgrade.py` upgrades a running cluster to `kube_version`.

One minor at a time (1.35 -> 1.37 runs two steps), in kubeadm's order: the first control plane
(`kubeadm upgrade plan`, `kubeadm upgrade apply`), the other control planes one at a time (`kubeadm
upgrade node`), then the workers in batches of `upgrade_max_unavailable` (cordon, drain, upgrade,
uncordon), a health gate after each. The current versions are read from the cluster first; a
downgrade, a version outside the supported releases or nodes at minors it cannot step through are
refused (exit 2) before anything is changed. See deploys/node_upgrade.py.

A changed containerd_version/runc_version goes node by node under the same rules before the Kubernetes
steps, a changed calico_version through the tigera-operator after them: deploys/runtime_upgrade.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:  # started from another directory: import this repository's package
    sys.path.insert(0, _REPOSITORY)

import click  # noqa: E402
import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import context, model, node_upgrade, runtime_upgrade  # noqa: E402


def run(cluster: model.Cluster) -> None:
    """Read the cluster's versions, refuse what cannot be done, then upgrade node by node."""
    current = node_upgrade.live(cluster)
    steps = node_upgrade.plan(cluster, current)
    runtime = context.once(state, "upgrade: runtime plan", lambda: runtime_upgrade.plan(cluster, current))
    context.once(state, "upgrade: plan told", lambda: tell(cluster, current, steps, runtime))
    runtime_upgrade.upgrade_containerd(cluster, runtime, current)
    node_upgrade.upgrade(cluster, steps, current.cordoned)
    runtime_upgrade.upgrade_calico(cluster, runtime)


def tell(
    cluster: model.Cluster, current: node_upgrade.Live, steps: list[node_upgrade.Step],
    runtime: runtime_upgrade.RuntimePlan,
) -> bool:
    """Print the plan once, and make one failed node (a failed health gate) stop the whole run."""
    click.echo(node_upgrade.describe(cluster, current, steps), err=True)
    click.echo(runtime_upgrade.describe(cluster, runtime), err=True)
    # pyinfra's CLI otherwise asks "continue?", which -y answers yes: pyinfra_cli/cli.py _set_fail_prompts.
    state.config.FAIL_PERCENT = 0
    state.should_raise_failed_hosts = None
    return True


if pyinfra.is_cli and __name__ != "deploys.upgrade":  # run by `pyinfra INVENTORY deploys/upgrade.py`
    import deploys.upgrade  # noqa: F401  (see deploys/cluster.py)

    context.run_entry(state, run)
