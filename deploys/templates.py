"""Rendering of the templates/ directory (found from this file, not the working directory)."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from deploys import TEMPLATES

_ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=True
)


def render(name: str, **values: Any) -> str:
    """Render templates/NAME with VALUES; a missing value is an error, not an empty string."""
    return _ENV.get_template(name).render(**values)
