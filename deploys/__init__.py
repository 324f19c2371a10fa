"""kubeadm-pyinfra: pyinfra deploys that turn fresh Debian/Ubuntu hosts into a kubeadm cluster."""

from __future__ import annotations

from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
