"""SHA-256 of files on this machine and the SHA256SUMS format (coreutils `sha256sum`: "DIGEST  NAME" lines).

Standard library only, so that lab/ reuses it without importing pyinfra (lab/artifacts.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: Path) -> str:
    """SHA-256 of a file, hex, read a MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sums(path: Path) -> dict[str, str]:
    """A SHA256SUMS file as name -> digest."""
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, name = line.partition("  ")
        sums[name.strip()] = digest.strip()
    return sums
