"""What the CLI says to a person: one error, as people read it, on stderr.

Kept light (``sys`` alone): the cached ``token`` path reports through it too.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from loopback_login.errors import LoopbackLoginError

__all__ = ["report"]


def report(exc: LoopbackLoginError) -> int:
    """Print one of our errors as people read it, and return its exit code."""
    sys.stderr.write(f"error: {exc}\n")
    if exc.hint:
        sys.stderr.write(f"  {exc.hint}\n")
    sys.stderr.flush()
    return exc.exit_code
