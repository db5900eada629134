"""The token a long-running program sends, kept in memory.

A program that sends hundreds of requests a second must not read and parse the
entry file for each: the token is kept, and the file is read again only when the
token nears its margin or the file changed (``os.replace`` gives every write a new
inode; mtime and size catch the rest). One ``stat`` a request is all it costs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from loopback_login.clock import Clock
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.expiry import default_margin
from loopback_login.store.file_store import (
    FileTokenStore,
    default_store_dir,
    validate_profile_name,
)
from loopback_login.store.valid import read_valid_token

__all__ = ["TokenSource", "run_sync"]

logger = logging.getLogger(__name__)

_Stamp = tuple[int, int, int, int]
T = TypeVar("T")


@dataclass(frozen=True)
class _Kept:
    access_token: str
    expires_at: float
    fresh_until: float  # then the margin begins
    stamp: _Stamp


class TokenSource:
    """Valid access tokens of one profile for a program that runs for hours.

    ``token()``/``atoken()`` hand out the kept token while it is outside its margin
    (``min_valid``, as for :func:`loopback_login.get_token`) and the entry file is
    unchanged; otherwise they read the entry, refreshing it once across processes
    if needed. ``rejected(token)``/``arejected(token)`` report a 401: they return
    the token another process refreshed, or refresh once; never call them twice
    for one refused token. The client secret, if the app has one, comes from
    ``client_secret`` or ``LOOPBACK_LOGIN_CLIENT_SECRET``.
    """

    def __init__(
        self,
        profile: str = "default",
        *,
        cache_dir: str | None = None,
        min_valid: float | None = None,
        client_secret: str | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.profile = validate_profile_name(profile)
        self._store = FileTokenStore(cache_dir or default_store_dir())
        self._path = self._store.path_for(self.profile)
        self._min_valid = min_valid
        self._secret = client_secret or os.environ.get("LOOPBACK_LOGIN_CLIENT_SECRET")
        self._clock = clock
        self._kept: _Kept | None = None

    @property
    def store(self) -> FileTokenStore:
        return self._store

    @property
    def expires_at(self) -> float | None:
        """When the token last handed out from the entry expires, if known."""
        return self._kept.expires_at if self._kept else None

    def token(self) -> str:
        """A valid access token; the kept one unless it is due or the file changed."""
        return self._kept_token() or run_sync(self._from_session(None))

    async def atoken(self) -> str:
        """:meth:`token` for async code: a refresh does not block the loop."""
        return self._kept_token() or await self._from_session(None)

    def rejected(self, token: str) -> str:
        """The server refused ``token`` (a 401): the token to try instead."""
        return run_sync(self._from_session(token))

    async def arejected(self, token: str) -> str:
        """:meth:`rejected` for async code."""
        return await self._from_session(token)

    def session(self) -> LoginSession:
        """A :class:`LoginSession` of this profile (for logout, say)."""
        return LoginSession(
            profile=self.profile,
            store=self._store,
            client_secret=self._secret,
            clock=self._clock,
            # Nothing here signs in, so what is said is a warning about a refresh.
            notify=lambda message: logger.warning("%s", message),
        )

    def _kept_token(self) -> str | None:
        try:
            st = os.stat(self._path)
        except OSError:
            return None  # the full path says what is wrong
        # Taken before the read: a write in between shows as a change next time.
        stamp = (st.st_mtime_ns, st.st_ino, st.st_size, st.st_dev)
        now = self._clock()
        kept = self._kept
        if kept is not None and kept.stamp == stamp and now < kept.fresh_until:
            return kept.access_token
        try:
            tokens = read_valid_token(
                self.profile, self._store.directory, now=now, min_valid=self._min_valid
            )
        except Exception:
            return None  # a damaged entry: the full path reports and sets it aside
        if tokens is None:
            self._kept = None
            return None
        expires_at, issued_at = float(tokens["expires_at"]), float(tokens["issued_at"])
        margin = (
            default_margin(expires_at - issued_at)
            if self._min_valid is None
            else self._min_valid
        )
        self._kept = _Kept(
            str(tokens["access_token"]), expires_at, expires_at - margin, stamp
        )
        return self._kept.access_token

    async def _from_session(self, rejected: str | None) -> str:
        self._kept = None  # the next call reads what this one leaves on disk
        async with self.session() as session:
            tokens = await session.get_token(
                min_valid=self._min_valid, rejected=rejected
            )
        return tokens.access_token


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` for a synchronous caller; a clear error inside an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError(
        "a synchronous HTTP client cannot refresh a token inside an event loop: "
        "use httpx.AsyncClient or aiohttp with the async adapter"
    )
