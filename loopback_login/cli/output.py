"""What the CLI says to a person: one error, as people read it, on stderr.

Kept light (``sys`` alone): the cached ``token`` path reports through it too.
Messages quote outside text (a server's error, a file's name); whatever slipped
through is made printable here once more, so an error is always one line and a hint.
"""

from __future__ import annotations

import sys

from loopback_login.errors import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loopback_login.errors import LoopbackLoginError

__all__ = ["report"]

_LINE = 1000  # our own words and a few quotes: never more on one line


def report(exc: LoopbackLoginError) -> int:
    """Print one of our errors as people read it, and return its exit code."""
    sys.stderr.write(f"error: {printable(exc, _LINE)}\n")
    if exc.hint:
        sys.stderr.write(f"  {printable(exc.hint, _LINE)}\n")
    sys.stderr.flush()
    return exc.exit_code
