"""Small files a person names: a client secret, a JWT credential, a private key.

Read whole, up to a cap, and only when they are regular files: a FIFO's open
would wait for a writer forever, and a device such as /dev/zero never ends.
Standard library core only, as the rest of the store.
"""

from __future__ import annotations

import os

from loopback_login.errors import ConfigError
from loopback_login.store.private_files import (
    Refused,
    TooLarge,
    open_to_read,
    read_capped,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

__all__ = ["read_small_file"]


def read_small_file(
    path: str,
    limit: int,
    *,
    what: str,
    hint: str,
    too_large: str,
    too_large_hint: str,
    stdin: BinaryIO | None = None,
) -> bytes:
    """The bytes of the file at ``path``, at most ``limit`` of them; ``-`` reads
    ``stdin`` instead where the caller offers one.

    Every failure is a ConfigError in the caller's words: ``cannot read {what}:
    why`` with ``hint`` where it cannot be read or is not a regular file, and
    ``too_large`` with ``too_large_hint`` past the cap (read no further).
    """
    try:
        if path == "-" and stdin is not None:
            # Standard input is the person's choice: a pipe or a terminal, read
            # until it ends, but no further than the cap.
            raw = stdin.read(limit + 1)
            if len(raw) > limit:
                raise TooLarge
            return raw
        fd = open_to_read(path)
        try:
            return read_capped(fd, limit)[0]
        finally:
            os.close(fd)
    except TooLarge:
        raise ConfigError(too_large, hint=too_large_hint) from None
    except Refused as exc:
        if stdin is not None:
            hint += " (a pipe: pass - and send it on standard input)"
        raise ConfigError(f"cannot read {what}: {exc}", hint=hint) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what}: {exc.strerror or exc}", hint=hint
        ) from exc
