"""``loopback-login``: the entry point.

``token`` with a valid cached token is answered from :mod:`.fast` before click and
the rest of the package are imported; ``login`` sends the browser off from
:mod:`.early_login` before loading them; everything else goes to :mod:`.commands`.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == ["token"]:
            from loopback_login.cli.fast import try_cached_token

            try:
                code = try_cached_token(args[1:], os.environ, sys.stdout)
            except KeyboardInterrupt:  # while waiting for another process's refresh
                sys.stderr.write("Interrupted.\n")
                return 130
            if code is not None:
                return code
        if args[:1] == ["login"]:
            from loopback_login.cli.early_login import try_early_login

            code = try_early_login(args[1:])
            if code is not None:
                return code
        from loopback_login.cli.commands import run

        return run(args)
    finally:
        if "loopback_login.store.locking" in sys.modules:
            # A lock the cached path passed on and the command never took back.
            sys.modules["loopback_login.store.locking"].release_handed_over()
