"""The refresh step, under the profile's lock.

RingCentral's refresh tokens are single-use: spending one whose successor is then
lost ends the session. So before one is spent, the store proves that the entry can
be replaced and sets aside room for its successor (``TokenStore.reserve``); once
spent, nothing (not even a bad ID token) keeps the new tokens from being saved.
"""

from __future__ import annotations

import dataclasses

from loopback_login.errors import (
    DiscoveryError,
    IDTokenError,
    InvalidGrantError,
    LoopbackLoginError,
    NetworkError,
    NotLoggedInError,
    SessionExpiredError,
    TokenEndpointError,
    TokenStoreError,
    login_hint,
)
from loopback_login.protocol.oidc import IdentityCheck, check_id_token
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import TokenClient
from loopback_login.protocol.tokens import TokenSet
from loopback_login.protocol.wiring import Wiring
from loopback_login.session.entry import ProfileEntry
from loopback_login.store.file_store import TokenStore

__all__ = ["refresh_entry"]


async def refresh_entry(
    entry: ProfileEntry,
    *,
    provider: ProviderConfig,
    store: TokenStore,
    wiring: Wiring,
    fallback: bool = True,
) -> TokenSet:
    """Refresh ``entry``'s tokens at ``provider`` and save them in its place.

    Raises SessionExpiredError (the session is over: log in again),
    NotLoggedInError (no refresh token), or the failure of the refresh when the
    cached token has expired; inside the margin the cached token is returned,
    unless ``fallback`` is off (a caller that must know the refresh happened).
    """
    profile, tokens, now = entry.profile, entry.tokens, wiring.clock()
    if entry.dead:
        raise SessionExpiredError(
            f"the session of profile {profile!r} has ended ({entry.dead})",
            hint=login_hint(profile),
        )
    if tokens.refresh_token is None:
        raise NotLoggedInError(
            f"the access token of profile {profile!r} has expired and the server "
            "issued no refresh token",
            hint='enable "Issue refresh tokens" in the app\'s settings, then run: '
            f"loopback-login login --profile {profile}",
        )
    if tokens.refresh_expired(now=now):
        raise SessionExpiredError(
            f"the refresh token of profile {profile!r} has expired",
            hint=login_hint(profile),
        )
    # The refresh spends a single-use token: make sure its successor will be
    # saved before spending it (a full or read-only disk, or an entry that cannot
    # be replaced, would lose the session).
    try:
        room = store.reserve(profile)
    except TokenStoreError as exc:
        return _stale_or_raise(tokens, exc, wiring, fallback)
    with room:
        try:
            fresh = await TokenClient(provider, wiring).refresh(tokens.refresh_token)
        except InvalidGrantError as exc:
            reason = exc.error_description or exc.error
            room.commit(entry.mark_dead(reason).to_json(), keep_unsaved=False)
            raise SessionExpiredError(
                f"session expired for profile {profile!r}: {reason}",
                hint=login_hint(profile),
            ) from exc
        except (NetworkError, TokenEndpointError) as exc:
            return _stale_or_raise(tokens, exc, wiring, fallback)
        if fresh.refresh_token is None:  # RFC 6749 §6: the old one stays valid
            fresh = _keep_refresh_token(fresh, tokens)
        if fresh.session_expires_at is None and tokens.session_expires_at:
            # An absolute session end does not move, even when not repeated.
            fresh = dataclasses.replace(
                fresh, session_expires_at=tokens.session_expires_at
            )
        try:
            identity = await check_id_token(
                fresh.id_token,
                provider=provider,
                wiring=wiring,
                cached=entry.provider_keys,
                nonce=None,
            )
        except (IDTokenError, DiscoveryError) as exc:
            # The old refresh token is spent: losing the new one would end the
            # session. Keep the tokens, drop the ID token, keep the login's identity.
            wiring.notify(f"warning: the refreshed ID token was not accepted: {exc}")
            fresh = dataclasses.replace(fresh, id_token=None)
            identity = IdentityCheck(entry.provider_keys, None)
        successor = ProfileEntry(
            profile=profile,
            settings=entry.settings,
            tokens=fresh,
            saved_at=wiring.clock(),
            identity=identity.identity or entry.identity,
            provider_keys=identity.keys or entry.provider_keys,
        )
        try:
            room.commit(successor.to_json())
        except TokenStoreError:
            if not room.held:  # written, but not put in place: the error says where
                raise
            # Bigger than the room set aside (or than an entry may be): what the
            # session needs is the tokens. Without the new ID token, the extra
            # fields and new keys, the successor is about the size of the entry
            # it replaces, for which there is room.
            fresh = dataclasses.replace(fresh, id_token=None, extra={})
            slim = dataclasses.replace(
                successor,
                tokens=fresh,
                identity=entry.identity,
                provider_keys=entry.provider_keys,
            )
            room.commit(slim.to_json())
            wiring.notify(
                "warning: the refreshed session was saved without its new ID token"
            )
    return fresh


def _stale_or_raise(
    tokens: TokenSet, exc: LoopbackLoginError, wiring: Wiring, fallback: bool
) -> TokenSet:
    """Inside the margin the cached token still works: use it, and say why."""
    if not fallback or tokens.is_expired(now=wiring.clock()):
        raise exc
    wiring.notify(f"warning: could not refresh ({exc}); using the cached token")
    return tokens


def _keep_refresh_token(fresh: TokenSet, old: TokenSet) -> TokenSet:
    return dataclasses.replace(
        fresh,
        refresh_token=old.refresh_token,
        refresh_token_expires_at=old.refresh_token_expires_at,
    )
