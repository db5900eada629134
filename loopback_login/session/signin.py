"""One browser sign-in: the loopback server, the authorize request, the person's
round trip, the code exchange, the ID-token check, and saving the new session.

The session is saved before the browser is told that it worked, so the page never
claims a sign-in that was not kept; tokens that are not kept (the save failed, the
ID token did not pass) are revoked, so no session is left live at the server that
nobody holds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from loopback_login.errors import DiscoveryError, LoopbackLoginError
from loopback_login.loopback.browser import BrowserOpener, NoBrowser
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.roundtrip import PastedLines, await_callback
from loopback_login.loopback.server import LoopbackServer, Outcome
from loopback_login.protocol.authorize import (
    build_authorization_params,
    build_authorization_url,
)
from loopback_login.protocol.client_auth import client_auth
from loopback_login.protocol.discovery import ProviderKeys, fetch_provider_keys
from loopback_login.protocol.oidc import check_id_token
from loopback_login.protocol.pkce import PkcePair, new_nonce, new_state
from loopback_login.protocol.probe import check_server
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import TokenClient
from loopback_login.protocol.tokens import TokenSet
from loopback_login.protocol.wiring import Notify, Wiring
from loopback_login.session.entry import ProfileEntry
from loopback_login.store.file_store import EntryReservation

__all__ = ["sign_in"]

logger = logging.getLogger(__name__)


async def sign_in(
    provider: ProviderConfig,
    loopback: LoopbackConfig,
    *,
    profile: str,
    room: EntryReservation,
    wiring: Wiring,
    opener: BrowserOpener,
    pasted: PastedLines | None = None,
    kept: Mapping[str, Any] | None = None,
) -> ProfileEntry:
    """Sign in with the browser and save the session as ``profile``'s entry, in
    the ``room`` set aside for it before the browser opened.

    ``provider`` carries the client secret, if the app has one. ``kept`` are the
    profile's own settings (keep-alive) that outlive the session they came with.
    """
    # A missing secret or unreadable key must show before the person signs in, and
    # so must a server that is not there or not an OAuth server.
    client_auth(provider, provider.token_endpoint, now=wiring.clock())
    await check_server(provider, wiring)
    state, nonce = new_state(), new_nonce()
    pkce = PkcePair.generate(provider.pkce_method)
    async with LoopbackServer(
        loopback,
        expected_state=state,
        expected_issuer=provider.expected_issuer,
        sleep=wiring.sleep,
    ) as server:
        params = build_authorization_params(
            provider,
            redirect_uri=server.redirect_uri,
            state=state,
            nonce=nonce,
            pkce=pkce,
        )
        # The browser is sent to the short local URL, which redirects (GET) or
        # posts the form (POST); it can only arrive once the server listens.
        url = remote_url = server.start_url
        if provider.method == "get":
            full = build_authorization_url(provider.authorization_endpoint, params)
            server.authorize_with_get(full)
            remote_url = full
            logger.debug("the authorize URL: %s", full)
            if isinstance(opener, NoBrowser):
                url = full  # a browser on another machine cannot reach 127.0.0.1
        else:
            server.authorize_with_post(provider.authorization_endpoint, params)
        wiring.notify(f"To sign in, open this URL in your browser:\n\n    {url}\n")
        # The provider's keys do not depend on the code: fetch them while the
        # person is in the browser, not after.
        keys = asyncio.create_task(_prefetch_keys(provider, wiring))
        try:
            code = await await_callback(
                server,
                url,
                opener=opener,
                notify=wiring.notify,
                pasted=pasted,
                reminder_after=loopback.reminder_after,
                remote_url=remote_url,
            )
            tokens = await TokenClient(provider, wiring).exchange_code(
                code, redirect_uri=server.redirect_uri, code_verifier=pkce.code_verifier
            )
            try:
                check = await check_id_token(
                    tokens.id_token,
                    provider=provider,
                    wiring=wiring,
                    cached=await keys,
                    nonce=nonce,
                )
                settings = provider.to_profile()
                settings["redirect_uris"] = list(loopback.redirect_uris)
                settings.update(wiring.network.to_profile())
                settings.update(kept or {})
                entry = ProfileEntry(
                    profile=profile,
                    settings=settings,
                    tokens=tokens,
                    saved_at=wiring.clock(),
                    identity=check.identity,
                    provider_keys=check.keys,
                )
                room.commit(entry.to_json(), keep_unsaved=False)
            except LoopbackLoginError:
                # Not kept: a session nobody holds must not stay live at the server.
                await _revoke_unkept(
                    TokenClient(provider, wiring), tokens, wiring.notify
                )
                raise
        except LoopbackLoginError as exc:
            server.finish(Outcome(error=exc))
            raise
        finally:
            keys.cancel()
        server.finish(Outcome(account=entry.account))
    return entry


async def _revoke_unkept(client: TokenClient, tokens: TokenSet, notify: Notify) -> None:
    try:
        await client.revoke(tokens.refresh_token or tokens.access_token)
    except LoopbackLoginError as exc:
        notify(f"warning: the new session, not saved, could not be revoked: {exc}")


async def _prefetch_keys(
    provider: ProviderConfig, wiring: Wiring
) -> ProviderKeys | None:
    """The provider's keys when the login asks for OpenID; None on any failure,
    which the ID-token check then meets and reports itself."""
    if "openid" not in (provider.scope or "").split():
        return None
    # Created before the browser's task, this one would run first: yield once,
    # so that the person is sent off before any of this work starts.
    await asyncio.sleep(0)
    try:
        return await fetch_provider_keys(wiring, provider)
    except DiscoveryError:
        return None
