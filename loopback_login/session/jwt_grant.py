"""Sessions where no person is present: a user's JWT credential exchanged for tokens
(RingCentral's "JWT auth flow", RFC 7523 §2.1), with no browser and no listener.

The credential is the user's secret: read from a file or the environment like the
client secret, size-capped, never stored, never shown, and opaque to us (what
RingCentral puts in it is not public). A JWT profile refreshes like any other; when
its refresh token is dead or missing, the credential is exchanged again, under the
profile's lock, so parallel callers share one exchange.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from loopback_login.environment import JWT_ENV, RC_JWT_ENV
from loopback_login.errors import (
    ConfigError,
    InvalidGrantError,
    LoopbackLoginError,
    NotLoggedInError,
    SessionExpiredError,
    TokenEndpointError,
)
from loopback_login.protocol.oidc import check_id_token
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import TokenClient
from loopback_login.protocol.tokens import TokenSet
from loopback_login.protocol.wiring import Wiring
from loopback_login.session.entry import ProfileEntry
from loopback_login.session.refresh import refresh_entry
from loopback_login.store.file_store import EntryReservation, TokenStore
from loopback_login.store.small_files import read_small_file

__all__ = [
    "JWT_SOURCES",
    "MAX_JWT_LENGTH",
    "check_jwt",
    "jwt_from_environment",
    "jwt_sign_in",
    "read_jwt_file",
    "renew_jwt_session",
]

MAX_JWT_LENGTH = 8192
"""RingCentral's credentials are about a thousand characters; anything past this
is not one (a wrong file), and is not read further."""

JWT_SOURCES = (
    f"set {JWT_ENV} (or {RC_JWT_ENV}) to the user's JWT credential, "
    "or pass --jwt-file FILE"
)
_REFUSED_HINT = (
    "the JWT credential is expired, revoked, or not made for this app: create one "
    "in the developer console (Credentials), then " + JWT_SOURCES
)
_UNAUTHORIZED_HINT = (
    'the app may not exchange JWT credentials: choose "JWT auth flow" in its '
    "settings, and authenticate it with its client secret or private key"
)


def check_jwt(value: str, where: str) -> str:
    """``value`` as a usable credential, or ConfigError naming ``where`` it came
    from (never the value)."""
    value = value.strip()
    if not value:
        raise ConfigError(f"the JWT credential {where} is empty", hint=JWT_SOURCES)
    if len(value) > MAX_JWT_LENGTH:
        raise ConfigError(
            f"the JWT credential {where} is longer than any ({MAX_JWT_LENGTH} "
            "characters at most)",
            hint="give the file or variable that holds the credential alone",
        )
    if not all("!" <= c <= "~" for c in value):
        raise ConfigError(
            f"the JWT credential {where} has spaces or characters no JWT "
            "credential has",
            hint="copy it again from the developer console: one line, nothing else",
        )
    return value


def jwt_from_environment(
    environ: MutableMapping[str, str], *, take: bool
) -> str | None:
    """The credential from ``LOOPBACK_LOGIN_JWT``, else ``RC_USER_JWT``, unchecked:
    it is checked when used, so a stray variable troubles no browser profile.

    With ``take``, both are removed from ``environ`` (the CLI's own environment),
    so no child process inherits them; a library leaves its host's alone.
    """
    values = [
        environ.pop(name, None) if take else environ.get(name)
        for name in (JWT_ENV, RC_JWT_ENV)
    ]
    return next((value for value in values if value), None)


def read_jwt_file(path: str) -> str:
    """The credential in the file ``path`` (``-``: standard input), read up to a
    cap and checked like any other."""
    limit = MAX_JWT_LENGTH + 1024  # room for a trailing newline and spaces
    where = "standard input" if path == "-" else path
    raw = read_small_file(
        path,
        limit,
        stdin=getattr(sys.stdin, "buffer", None),
        what=f"the JWT credential from {where}",
        hint="check --jwt-file",
        too_large=f"the JWT credential in {where} is longer than any "
        f"({MAX_JWT_LENGTH} characters at most)",
        too_large_hint="give the file that holds the credential alone",
    )
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(
            f"the JWT credential in {where} has characters no JWT credential has",
            hint="copy it again from the developer console: one line, nothing else",
        ) from None
    return check_jwt(text, f"in {where}")


async def jwt_sign_in(
    provider: ProviderConfig,
    jwt: str | None,
    *,
    profile: str,
    store: TokenStore,
    wiring: Wiring,
    previous: ProfileEntry | None = None,
    storage: str = "file",
) -> ProfileEntry:
    """Exchange the credential for a new session and save it as ``profile``'s entry
    (its refresh token where ``storage`` says: ``file`` or ``keyring``)."""
    if jwt is None:
        raise ConfigError(
            f"profile {profile!r} signs in with a JWT credential, and none was given",
            hint=JWT_SOURCES,
        )
    jwt = check_jwt(jwt, f"given ({JWT_ENV}, {RC_JWT_ENV}, --jwt-file or jwt=)")
    # The exchange opens a session at the server (which allows a user only a few
    # per app): open none that could not be saved, and revoke one that was not.
    with store.reserve(profile) as room:
        return await _exchange_and_keep(
            provider,
            jwt,
            profile=profile,
            room=room,
            wiring=wiring,
            previous=previous,
            storage=storage,
        )


async def _exchange_and_keep(
    provider: ProviderConfig,
    jwt: str,
    *,
    profile: str,
    room: EntryReservation,
    wiring: Wiring,
    previous: ProfileEntry | None,
    storage: str,
) -> ProfileEntry:
    client = TokenClient(provider, wiring)
    try:
        tokens = await client.exchange_jwt(jwt)
    except InvalidGrantError as exc:
        exc.hint = _REFUSED_HINT
        raise
    except TokenEndpointError as exc:
        if exc.error == "unauthorized_client":
            exc.hint = _UNAUTHORIZED_HINT
        raise
    try:
        entry = await _entry_for(tokens, provider, profile, wiring, previous)
        entry = dataclasses.replace(
            entry, settings={**entry.settings, "storage": storage}
        )
        room.commit(entry.to_json(), keep_unsaved=False)
    except LoopbackLoginError:
        # Not kept: a session nobody holds must not stay live at the server.
        try:
            await client.revoke(tokens.refresh_token or tokens.access_token)
        except LoopbackLoginError as exc:
            wiring.notify(
                f"warning: the new session, not saved, could not be revoked: {exc}"
            )
        raise
    return entry


async def _entry_for(
    tokens: TokenSet,
    provider: ProviderConfig,
    profile: str,
    wiring: Wiring,
    previous: ProfileEntry | None,
) -> ProfileEntry:
    check = await check_id_token(
        tokens.id_token,
        provider=provider,
        wiring=wiring,
        cached=previous.provider_keys if previous else None,
        nonce=None,
    )
    identity: Mapping[str, Any] | None = check.identity
    if previous is not None and previous.tokens.owner_id != tokens.owner_id:
        wiring.notify(
            f"warning: profile {profile!r} now holds a session of extension "
            f"{tokens.owner_id}, not {previous.tokens.owner_id}: the JWT credential "
            "is another user's"
        )
    elif identity is None and previous is not None:
        identity = previous.identity  # the same user; the new answer names no one
    settings = provider.to_profile()
    settings["redirect_uris"] = []
    settings.update(wiring.network.to_profile())
    if previous is not None:
        settings.update(previous.kept_settings())
    return ProfileEntry(
        profile=profile,
        settings=settings,
        tokens=tokens,
        saved_at=wiring.clock(),
        identity=identity,
        provider_keys=check.keys,
    )


async def renew_jwt_session(
    entry: ProfileEntry,
    *,
    provider: ProviderConfig,
    jwt: str | None,
    store: TokenStore,
    wiring: Wiring,
) -> TokenSet:
    """Refresh ``entry``; if its refresh token is dead or missing, exchange the
    credential again. The caller holds the profile's lock."""
    try:
        return await refresh_entry(entry, provider=provider, store=store, wiring=wiring)
    except NotLoggedInError as exc:
        if jwt is None:
            error = (
                SessionExpiredError
                if isinstance(exc, SessionExpiredError)
                else NotLoggedInError
            )
            raise error(
                f"{exc}, and no JWT credential was given to start a new session",
                hint=JWT_SOURCES,
            ) from exc
        if isinstance(exc, SessionExpiredError):
            wiring.notify(f"{exc}: starting a new one with the JWT credential")
    fresh = await jwt_sign_in(
        provider,
        jwt,
        profile=entry.profile,
        store=store,
        wiring=wiring,
        previous=entry,
    )
    return fresh.tokens
