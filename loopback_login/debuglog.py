"""Debug lines from the modules a login runs before the browser opens.

Importing :mod:`logging` costs about ten milliseconds, most of what a person waits
for between typing ``loopback-login login`` and seeing the browser. Until something
has imported it, no handler can have been set up, so a debug line would go nowhere:
it is dropped without loading logging. Once logging is loaded (``--verbose``, or a
program using the library), the line goes to ``logging.getLogger(name)`` as usual.
"""

from __future__ import annotations

import sys

__all__ = ["debug"]


def debug(name: str, message: str, *args: object) -> None:
    """``logging.getLogger(name).debug(message, *args)``, if logging is loaded."""
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger(name).debug(message, *args)
