"""Entry point: `pyinfra -y INVENTORY deploys/certs.py` renews the control planes' certificates.

Only control planes whose certificates expire within `cert_renew_days` (30), unless
`--data cert_renew_force=true`: `kubeadm certs renew all`, the static pods restarted, a health gate
(the node's API /healthz, its etcd /health), one control plane at a time; then the admin kubeconfig
is fetched again. A second run changes nothing. See deploys/certificates.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parent.parent)
if _REPOSITORY not in sys.path:
    sys.path.insert(0, _REPOSITORY)

import pyinfra  # noqa: E402
from pyinfra import state  # noqa: E402

from deploys import certificates, context, kubeconfig, model  # noqa: E402


def run(cluster: model.Cluster) -> None:
    """Renew where due (one control plane at a time), then fetch the admin kubeconfig."""
    certificates.renew(cluster)
    kubeconfig.fetch(cluster)


if pyinfra.is_cli and __name__ != "deploys.certs":  # run by `pyinfra INVENTORY deploys/certs.py`
    import deploys.certs  # noqa: F401  (see deploys/cluster.py)

    context.run_entry(state, run)
