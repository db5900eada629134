"""HTML pages from ``templates/``, with every substituted value escaped.

The folder sits at the top of the source tree and is shipped inside the wheel as
``loopback_login/templates`` (see ``pyproject.toml``). An editable install or a source
checkout has no such folder in the package, so we fall back to the tree's own.
"""

from __future__ import annotations

import functools
import html
import string
from importlib.resources import files
from pathlib import Path

__all__ = ["Markup", "render", "template_dir"]


class Markup(str):
    """HTML we built ourselves from escaped parts: substituted as it is."""

    __slots__ = ()


@functools.cache
def template_dir() -> Path:
    """Where the HTML templates are, installed or in a checkout."""
    packaged = Path(str(files(__package__ or "loopback_login"))) / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def _load(name: str) -> string.Template:
    return string.Template((template_dir() / name).read_text(encoding="utf-8"))


def escape(value: object) -> str:
    """Escape one value for HTML text or a quoted attribute; ``Markup`` passes."""
    if isinstance(value, Markup):
        return str(value)
    return html.escape("" if value is None else str(value), quote=True)


def render(name: str, /, **values: object) -> str:
    """Render ``templates/<name>``; ``$style`` is the shared stylesheet.

    Placeholders that were not given stay as they are (``safe_substitute``), so a
    ``$`` in page text never raises.
    """
    escaped = {key: escape(value) for key, value in values.items()}
    escaped.setdefault("style", str(_load("style.css").template))
    return _load(name).safe_substitute(escaped)
