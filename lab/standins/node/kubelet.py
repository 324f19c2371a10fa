#!/usr/bin/python3
"""TEST DOUBLE of the kubelet for the lab (not Kubernetes): logs its arguments and stays up."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import standin  # noqa: E402


def main() -> None:
    """Answer --version, otherwise idle until stopped."""
    if "--version" in sys.argv[1:]:
        print(f"Kubernetes v{standin.KUBE_VERSION}")
        return
    standin.log_call("kubelet")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
