"""Small files a person names: a client secret, a JWT credential, a private key.

Read whole, up to a cap. A regular file, or a pipe: a shell hands a secret over
without a file through one (``--client-secret-file <(pass show rc/secret)``), read
like standard input until its writer closes it. Opened without waiting, so that a
named FIFO no program writes to is an error at once rather than a hang; a device
such as /dev/zero (it never ends) and a folder are refused unread.
Standard library core only, as the rest of the store.
"""

from __future__ import annotations

import os
import stat

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
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                return _read_pipe(fd, limit)
            return read_capped(fd, limit)[0]
        finally:
            os.close(fd)
    except TooLarge:
        raise ConfigError(too_large, hint=too_large_hint) from None
    except Refused as exc:
        raise ConfigError(f"cannot read {what}: {exc}", hint=hint) from None
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what}: {exc.strerror or exc}", hint=hint
        ) from exc


def _read_pipe(fd: int, limit: int) -> bytes:
    """What comes through the pipe on ``fd`` until its writer closes it, capped.

    The open did not wait; the reads do, for a writer that is there. With no
    writer at all, the first read ends at once with nothing (POSIX), which is
    refused: a secret is never empty.
    """
    os.set_blocking(fd, True)
    chunks, total = [], 0
    while chunk := os.read(fd, min(1 << 16, limit + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise TooLarge
    if not chunks:
        raise Refused("a pipe that nothing was written to")
    return b"".join(chunks)
