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

    from loopback_login.store.file_store import FileTokenStore

__all__ = ["entry_problem", "is_token", "read_valid_token", "tokens_problem"]

# Text fields a token set may leave out (None); times it may leave out.
_OPTIONAL_TEXT = (
    "token_type",
    "scope",
    "id_token",
    "owner_id",
    "endpoint_id",
    "session_id",
)
_OPTIONAL_TIMES = ("refresh_token_expires_at", "session_expires_at")
_LATEST = 1e11  # seconds since 1970: the year 5138; anything later is damage


def _is_time(value: object) -> bool:
    # Not bool (an int to Python); NaN fails the comparison, inf and 1e308 the bound.
    return type(value) in (int, float) and 0 <= value < _LATEST  # type: ignore[operator]


def is_token(value: object) -> bool:
    """A token as the cache keeps one: non-empty printable ASCII, no space."""
    # Printable ASCII without spaces: never a line break in a header, never an
    # escape sequence on a terminal, whatever wrote the file.
    return (
        type(value) is str
        and value != ""
        and value.isascii()
        and value.isprintable()
        and " " not in value
    )


def tokens_problem(tokens: object) -> str | None:
    """What is wrong with a stored token set, or None if nothing is.

    The one rule for reading tokens back, shared by the cached ``token`` path and
    ``TokenSet.from_json``, so both take and refuse exactly the same entries.
    """
    if type(tokens) is not dict:
        return "tokens is missing or not an object"
    if not is_token(tokens.get("access_token")):
        return "tokens.access_token is missing or not a token"
    for name in ("issued_at", "expires_at"):
        if not _is_time(tokens.get(name)):
            return f"tokens.{name} is missing or not a time"
    refresh = tokens.get("refresh_token")
    if refresh is not None and not is_token(refresh):
        return "tokens.refresh_token is not a token"
    for name in _OPTIONAL_TEXT:
        if tokens.get(name) is not None and type(tokens[name]) is not str:
            return f"tokens.{name} is not text"
    for name in _OPTIONAL_TIMES:
        if tokens.get(name) is not None and not _is_time(tokens[name]):
            return f"tokens.{name} is not a time"
    if tokens.get("extra") is not None and type(tokens["extra"]) is not dict:
        return "tokens.extra is not an object"
    return None


def entry_problem(entry: Mapping[str, Any]) -> str | None:
    """What is wrong with a stored profile entry, or None: the rule both the cached
    ``token`` path and ``ProfileEntry.from_json`` apply."""
    if type(entry.get("settings")) is not dict:
        return "settings is missing or not an object"
    if (problem := tokens_problem(entry.get("tokens"))) is not None:
        return problem
    saved_at = entry.get("saved_at")
    if saved_at is not None and not _is_time(saved_at):
        return "saved_at is not a time"
    if entry.get("identity") is not None and type(entry["identity"]) is not dict:
        return "identity is not an object"
    if entry.get("dead") is not None and type(entry["dead"]) is not str:
        return "dead is not text"
    return None  # provider_keys: a damaged copy costs only a refetch


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
    entry = _checked(store, profile)
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
        tokens = _usable(_checked(store, profile), time.time(), min_valid)
        if tokens is None:
            lock.hand_over()  # the block's end then leaves it held
    return tokens


def _checked(store: FileTokenStore, profile: str) -> Mapping[str, Any] | None:
    """The entry, or None; one that breaks the rules is moved aside (the error, a
    CorruptEntryError, says where), exactly as the full command would."""
    entry = store.load(profile)
    if entry is not None and (problem := entry_problem(entry)) is not None:
        raise store.set_aside(profile, problem)
    return entry


def _usable(
    entry: Mapping[str, Any] | None, now: float, min_valid: float | None
) -> Mapping[str, Any] | None:
    if not entry or entry.get("dead"):
        return None
    tokens: Mapping[str, Any] = entry["tokens"]
    if needs_refresh(tokens["expires_at"], tokens["issued_at"], now, min_valid):
        return None
    return tokens


def _refreshable(entry: Mapping[str, Any] | None) -> bool:
    tokens = entry.get("tokens") if entry and not entry.get("dead") else None
    return isinstance(tokens, dict) and bool(tokens.get("refresh_token"))
