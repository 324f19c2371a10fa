"""Rendering of the templates/ directory (found from this file, not the working directory).

Templates render model values, which the model has checked against each key's grammar. As a
last line of defence every interpolated value is refused if it holds a control character or
a line separator: no value can add a line to a configuration file.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from deploys import TEMPLATES


class TemplateValueError(ValueError):
    """A value with a control character or line break reached a template."""


def _one_line(value: Any) -> Any:
    """VALUE, if its text has no control character and no line or paragraph separator."""
    text = str(value)
    bad = next((ch for ch in text if unicodedata.category(ch) in ("Cc", "Zl", "Zp")), None)
    if bad is not None:
        raise TemplateValueError(f"refusing to render {text[:40]!r}...: it holds {bad!r}")
    return value


_ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
    finalize=_one_line,
)


def render(name: str, **values: Any) -> str:
    """Render templates/NAME with VALUES; a missing value is an error, not an empty string."""
    return _ENV.get_template(name).render(**values)
