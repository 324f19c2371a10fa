"""The merged defaults: one table, each key declared once, and all of it in the README."""

from __future__ import annotations

import re

import pytest

from deploys import components, model
from tests import plan


def readme_table() -> dict[str, str]:
    text = (plan.REPO / "README.md").read_text()
    section = text.split("## Data reference", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z0-9_]+)` \| (\w+) \| (.+?) \| ", section, re.M)
    return {key: default for key, _scope, default in rows}


def test_every_key_documented_with_its_default() -> None:
    table = readme_table()
    for key, default in components.defaults().items():
        assert key in table, f"data key {key!r} missing from the README's data reference"
        assert table[key] == f"`{default!r}`".replace("'", '"'), f"README default of {key!r}: {table[key]}"
    for key in model.HOST_KEYS:
        assert key in table


def test_a_key_declared_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="declared by two components"):
        model.merged([{"a": 1}, {"a": 2}])
