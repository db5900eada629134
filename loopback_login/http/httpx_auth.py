"""``httpx``: one ``httpx.Auth`` for ``Client`` and ``AsyncClient`` (and for the
httpx transports of MCP's client). Needs ``pip install 'loopback-login[httpx]'``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from typing import Any

try:
    import httpx
except ImportError as exc:  # an optional extra
    raise ImportError(
        f"{exc}: run pip install 'loopback-login[httpx]'", name=exc.name
    ) from exc

from loopback_login.http.retry import bearer, note_not_replayed
from loopback_login.http.source import TokenSource

__all__ = ["HttpxAuth"]


class HttpxAuth(httpx.Auth):
    """Sends the profile's token; on a 401, asks once for the token to use instead
    (another process's refresh, or one refresh) and sends the request again, once.

    A streamed body (a generator) is not sent again: the 401 is returned (the next
    request gets the new token). Options
    are :class:`TokenSource`'s, or pass ``source`` to share one.
    """

    def __init__(
        self,
        profile: str = "default",
        *,
        source: TokenSource | None = None,
        **options: Any,
    ) -> None:
        self.source = source or TokenSource(profile, **options)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.source.token()
        request.headers["Authorization"] = bearer(token)
        response = yield request
        if response.status_code == 401:
            fresh = self.source.rejected(token)
            if _replayable(request):
                request.headers["Authorization"] = bearer(fresh)
                yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.source.atoken()
        request.headers["Authorization"] = bearer(token)
        response = yield request
        if response.status_code == 401:
            fresh = await self.source.arejected(token)
            if _replayable(request):
                request.headers["Authorization"] = bearer(fresh)
                yield request


def _replayable(request: httpx.Request) -> bool:
    if isinstance(request.stream, httpx.ByteStream):
        return True
    note_not_replayed(request.method, request.url)
    return False
