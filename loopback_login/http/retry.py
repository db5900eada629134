"""What every adapter does the same way: the header, and the note when a refused
request cannot be sent again."""

from __future__ import annotations

import logging

__all__ = ["bearer", "note_not_replayed", "sent_token"]

logger = logging.getLogger("loopback_login.http")


def bearer(token: str) -> str:
    return f"Bearer {token}"


def sent_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header this adapter set."""
    scheme, _, token = (header or "").partition(" ")
    return token if scheme == "Bearer" and token else None


def note_not_replayed(method: str, url: object) -> None:
    """A streamed body is gone once sent: the 401 goes back to the caller as is.
    The next request gets the new token; the URL, never the token, is logged."""
    logger.warning(
        "%s %s got 401 and was not sent again: its body is a stream that cannot be "
        "replayed; the next request uses a fresh token",
        method,
        _without_query(str(url)),
    )


def _without_query(url: str) -> str:
    # A query string may carry a token (RingCentral accepts access_token=…).
    return url.split("?", 1)[0]
