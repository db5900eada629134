"""``loopback-login``: the entry point.

``token`` with a valid cached token is answered from :mod:`.cached` before click and
the rest of the package are imported; everything else goes to :mod:`.commands`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from .errors import LoopbackLoginError

__all__ = ["main", "report"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["token"]:
            from .cached import try_cached_token

            try:
                code = try_cached_token(args[1:], os.environ, sys.stdout)
            except KeyboardInterrupt:  # while waiting for another process's refresh
                sys.stderr.write("Interrupted.\n")
                return 130
            if code is not None:
                return code
        from .commands import run

        return run(args)
    finally:
        if "loopback_login.locking" in sys.modules:
            # A lock the cached path passed on and the command never took back.
            sys.modules["loopback_login.locking"].release_handed_over()


def report(exc: LoopbackLoginError) -> int:
    """Print one of our errors as people read it, and return its exit code."""
    sys.stderr.write(f"error: {exc}\n")
    if exc.hint:
        sys.stderr.write(f"  {exc.hint}\n")
    sys.stderr.flush()
    return exc.exit_code
