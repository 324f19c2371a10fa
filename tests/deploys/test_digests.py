"""deploys/digests.py: a file's SHA-256 and coreutils' SHA256SUMS read back."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from deploys import digests


def test_a_file_longer_than_a_block_is_hashed_whole(tmp_path: Path) -> None:
    data = bytes(range(256)) * 8193  # just over 2 MiB: three reads
    (tmp_path / "big").write_bytes(data)
    (tmp_path / "empty").write_bytes(b"")
    assert digests.sha256(tmp_path / "big") == hashlib.sha256(data).hexdigest()
    assert digests.sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()


def test_sha256sum_output_is_read_back(tmp_path: Path) -> None:
    for name, data in {"snapshot.db": b"snapshot", "pki.tar.gz": b"pki", "a name": b"spaced"}.items():
        (tmp_path / name).write_bytes(data)
    out = subprocess.run(["sha256sum", "snapshot.db", "pki.tar.gz", "a name"], cwd=tmp_path, capture_output=True,
                         text=True, check=True).stdout
    (tmp_path / "SHA256SUMS").write_text(out)
    assert digests.read_sums(tmp_path / "SHA256SUMS") == {
        name: digests.sha256(tmp_path / name) for name in ("snapshot.db", "pki.tar.gz", "a name")}
