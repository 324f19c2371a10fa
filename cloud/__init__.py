"""Cloud provisioning for kubeadm-pyinfra clusters: `python -m cloud.aws up|down|status|kubeconfig`."""

from __future__ import annotations


class CloudError(Exception):
    """Bad input or a failed cloud call; the message says what went wrong and what to do."""
