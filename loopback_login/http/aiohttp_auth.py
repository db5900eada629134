"""``aiohttp``: a client middleware (aiohttp 3.12 and later) and a ``ClientSession``
that uses it."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import hdrs

from loopback_login.http.retry import bearer, note_not_replayed
from loopback_login.http.source import TokenSource

__all__ = ["AiohttpAuth", "aiohttp_session"]


class AiohttpAuth:
    """A client middleware: sends the profile's token; on a 401, asks once for the
    token to use instead (another process's refresh, or one refresh) and sends the
    request again, once.

    A streamed body (an async generator) is not sent again: the 401 is returned
    (the next request gets the new token).
    Options are :class:`TokenSource`'s, or pass ``source`` to share one.
    """

    def __init__(
        self,
        profile: str = "default",
        *,
        source: TokenSource | None = None,
        **options: Any,
    ) -> None:
        self.source = source or TokenSource(profile, **options)

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        token = await self.source.atoken()
        request.headers[hdrs.AUTHORIZATION] = bearer(token)
        response = await handler(request)
        if response.status != 401:
            return response
        try:
            fresh = await self.source.arejected(token)
        except BaseException:
            response.release()  # the caller gets the error, not this answer
            raise
        body = request.body
        if body != b"" and getattr(body, "consumed", True):
            note_not_replayed(request.method, request.url)
            return response
        response.release()
        request.headers[hdrs.AUTHORIZATION] = bearer(fresh)
        return await handler(request)


def aiohttp_session(
    profile: str = "default",
    *,
    source: TokenSource | None = None,
    cache_dir: str | None = None,
    min_valid: float | None = None,
    client_secret: str | None = None,
    **session_options: Any,
) -> aiohttp.ClientSession:
    """An ``aiohttp.ClientSession`` that sends the profile's token with every
    request; other keywords go to ``ClientSession``."""
    auth = AiohttpAuth(
        profile,
        source=source,
        cache_dir=cache_dir,
        min_valid=min_valid,
        client_secret=client_secret,
    )
    middlewares = (auth, *session_options.pop("middlewares", ()))
    return aiohttp.ClientSession(middlewares=middlewares, **session_options)
