"""A still-valid cached token, read with the standard library's core alone.

The cached ``token`` path and :func:`loopback_login.get_token` both start here: no
aiohttp, authlib, joserfc or click is imported to answer from the cache.
"""

from __future__ import annotations

import time

from loopback_login.store.expiry import needs_refresh

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["read_valid_token"]


def read_valid_token(
    profile: str,
    directory: str,
    *,
    now: float,
    min_valid: float | None = None,
    wait: bool = False,
) -> Mapping[str, Any] | None:
    """The cached tokens of ``profile`` if they need no refresh, else ``None``.

    With ``wait``, tokens that need a refresh are read again under the profile's
    lock: if another process is refreshing them, its result is used. If none is,
    this process must refresh: it keeps the lock for the full command (``None``).
    """
    from loopback_login.store.file_store import FileTokenStore

    store = FileTokenStore(directory)
    entry = store.load(profile)
    tokens = _usable(entry, now, min_valid)
    if tokens is not None or not wait or not _refreshable(entry):
        return tokens
    from loopback_login.store.locking import CAN_HAND_OVER

    if not CAN_HAND_OVER:
        return None
    # Waiting here, rather than in the full command, spares every waiter in a
    # storm of parallel calls the import of aiohttp and click.
    lock = store.lock(profile)
    with lock:
        tokens = _usable(store.load(profile), time.time(), min_valid)
        if tokens is None:
            lock.hand_over()  # the block's end then leaves it held
    return tokens


def _usable(
    entry: Mapping[str, Any] | None, now: float, min_valid: float | None
) -> Mapping[str, Any] | None:
    if not entry or entry.get("dead"):
        return None
    tokens = entry.get("tokens")
    if not isinstance(tokens, dict) or not tokens.get("access_token"):
        return None
    expires_at = float(tokens["expires_at"])
    if needs_refresh(expires_at, float(tokens["issued_at"]), now, min_valid):
        return None
    return tokens


def _refreshable(entry: Mapping[str, Any] | None) -> bool:
    tokens = entry.get("tokens") if entry and not entry.get("dead") else None
    # A keyring profile's entry names the item that holds its refresh token.
    return isinstance(tokens, dict) and bool(
        tokens.get("refresh_token") or entry.get("keyring")  # type: ignore[union-attr]
    )
