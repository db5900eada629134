"""The two calls most programs need: a valid access token, sync or async."""

from __future__ import annotations

import asyncio
import os
import time

__all__ = ["aget_token", "get_token"]


def _secret() -> str | None:
    from loopback_login.environment import CLIENT_SECRET_ENV

    return os.environ.get(CLIENT_SECRET_ENV) or None


async def aget_token(
    profile: str = "default",
    *,
    min_valid: float | None = None,
    cache_dir: str | None = None,
    client_secret: str | None = None,
    login: bool = False,
    rejected: str | None = None,
) -> str:
    """An access token for ``profile``, refreshed if it expires within ``min_valid``
    seconds (default: a tenth of its lifetime, at most five minutes).

    ``rejected`` is a token the server just refused with a 401: if another process
    has refreshed since, its token comes back with no request; if the profile still
    holds the refused one, it is refreshed once. Call it once per refused token;
    a new token refused again is the server's answer, not a reason to loop.

    The client secret, if the app has one, comes from ``client_secret`` or
    ``LOOPBACK_LOGIN_CLIENT_SECRET``: it is never stored with the tokens.

    Raises:
        NotLoggedInError: run ``loopback-login login`` first (or pass ``login=True``).
        SessionExpiredError: the server ended the session; log in again.
    """
    from loopback_login.session.orchestrator import LoginSession
    from loopback_login.store.file_store import FileTokenStore, default_store_dir

    store = FileTokenStore(cache_dir or default_store_dir())
    async with LoginSession(
        profile=profile, store=store, client_secret=client_secret or _secret()
    ) as session:
        tokens = await session.get_token(
            min_valid=min_valid, login=login, rejected=rejected
        )
    return tokens.access_token


def get_token(
    profile: str = "default",
    *,
    min_valid: float | None = None,
    cache_dir: str | None = None,
    client_secret: str | None = None,
    login: bool = False,
    rejected: str | None = None,
) -> str:
    """Synchronous :func:`aget_token`. A valid cached token costs one file read.

    Inside a running event loop it always raises (a refresh would block the loop):
    use ``await aget_token()`` there.
    """
    from loopback_login.store.file_store import default_store_dir, validate_profile_name
    from loopback_login.store.valid import read_valid_token

    # Checked first, so that the mistake shows on the first call and not only on
    # the first one that needs a refresh.
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(
            "get_token() cannot run inside an event loop: await aget_token()"
        )
    tokens = read_valid_token(
        validate_profile_name(profile),
        cache_dir or default_store_dir(),
        now=time.time(),
        min_valid=min_valid,
    )
    if tokens is not None and tokens["access_token"] != rejected:
        return str(tokens["access_token"])
    return asyncio.run(
        aget_token(
            profile,
            min_valid=min_valid,
            cache_dir=cache_dir,
            client_secret=client_secret,
            login=login,
            rejected=rejected,
        )
    )
