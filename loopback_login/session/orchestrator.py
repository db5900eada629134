"""The orchestrator: log in, hand out valid tokens, log out.

Every adapter comes in by keyword (store, browser opener, HTTP session, clock), with
the production one as default, so tests swap in real local parts and never patch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from types import TracebackType

import aiohttp

from loopback_login.clock import Clock, Sleep, system_clock, system_sleep
from loopback_login.errors import (
    ConfigError,
    LoopbackLoginError,
    NotLoggedInError,
    login_hint,
)
from loopback_login.loopback.browser import BrowserOpener, SystemBrowser
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.head_start import HeadStart
from loopback_login.loopback.roundtrip import PastedLines
from loopback_login.protocol.network import NetworkSettings
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import TokenClient
from loopback_login.protocol.tokens import TokenSet
from loopback_login.protocol.wiring import DEFAULT_HTTP_TIMEOUT, Notify, Wiring
from loopback_login.session.entry import ProfileEntry, load_entry
from loopback_login.session.jwt_grant import jwt_sign_in, renew_jwt_session
from loopback_login.session.keyring_secret import (
    check_storage,
    storage_for,
    with_refresh_token,
)
from loopback_login.session.refresh import refresh_entry
from loopback_login.session.rejected import still_rejected
from loopback_login.session.signin import sign_in
from loopback_login.store.file_store import (
    FileTokenStore,
    TokenStore,
    default_store_dir,
    validate_profile_name,
)
from loopback_login.store.keyring_store import keyring_aware

__all__ = ["LoginSession"]


class LoginSession:
    """One profile's session with one authorization server.

    ``provider`` is needed to log in; afterwards the profile remembers it, so
    ``get_token`` and ``logout`` need only the profile (and the client secret, which
    is never stored: pass it as ``client_secret``). ``pasted`` yields lines a person
    types while the login waits: the URL the browser ended on, for logins whose
    browser runs on another machine, or when no browser could be opened.
    ``network`` is the proxy and trust to use; without it, those the profile
    remembers (and the environment). ``clock`` and ``sleep`` are the time seams
    (:class:`~loopback_login.clock.FrozenClock` provides both for tests). ``jwt`` is
    the user's JWT credential, for a provider (or profile) whose ``grant`` is
    ``jwt``: it starts sessions with no browser, and starts a new one when the
    refresh token is dead. It is never stored either.
    ``storage`` is where a login keeps the refresh token: ``file`` (the entry) or
    ``keyring`` (the OS keyring); by default, where the profile's last login kept
    it, else ``file``.
    """

    def __init__(
        self,
        provider: ProviderConfig | None = None,
        *,
        profile: str = "default",
        loopback: LoopbackConfig | None = None,
        store: TokenStore | None = None,
        opener: BrowserOpener | None = None,
        http: aiohttp.ClientSession | None = None,
        clock: Clock = system_clock,
        client_secret: str | None = None,
        http_timeout: float = DEFAULT_HTTP_TIMEOUT,
        notify: Notify | None = None,
        pasted: PastedLines | None = None,
        network: NetworkSettings | None = None,
        sleep: Sleep = system_sleep,
        jwt: str | None = None,
        storage: str | None = None,
    ) -> None:
        self.profile = validate_profile_name(profile)
        # The secret is folded into the provider here, once; a provider read back
        # from the profile gets it in _provider_for (the profile never holds it).
        if client_secret is None and provider is not None:
            client_secret = provider.client_secret
        self._secret = client_secret
        self._provider = provider.with_secret(client_secret) if provider else None
        self._loopback = loopback or LoopbackConfig()
        self._store = keyring_aware(
            store if store is not None else FileTokenStore(default_store_dir())
        )
        self._storage = storage
        self._opener = opener or SystemBrowser()
        self._network = network
        self._wiring = Wiring(
            http, clock=clock, timeout=http_timeout, notify=notify, sleep=sleep,
            network=network,
        )  # fmt: skip
        self._pasted = pasted
        self._jwt = jwt
        self._busy = asyncio.Lock()

    async def __aenter__(self) -> LoginSession:
        return self

    async def __aexit__(
        self,
        et: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session if we made it."""
        await self._wiring.aclose()

    # -- the three use cases -------------------------------------------------

    async def login(self, *, head_start: HeadStart | None = None) -> TokenSet:
        """Run the browser login (or exchange the JWT credential), cache the new
        session, then revoke the one it replaces.

        ``head_start``: the browser was sent off already, for this session's
        provider and loopback settings (the CLI does so before loading the rest).
        """
        # A keyring that cannot take the secret must fail before the browser opens.
        await check_storage(self._store, self.profile, self._storage)
        async with self._busy, self._locked():
            return await self._login_locked(head_start)

    async def get_token(
        self,
        *,
        min_valid: float | None = None,
        login: bool = False,
        rejected: str | None = None,
    ) -> TokenSet:
        """A token valid for at least ``min_valid`` seconds (default: a margin scaled
        to the token's lifetime), refreshing it once across processes if needed.

        Opens a browser only with ``login=True``, and then under the profile's lock,
        so parallel callers wait for one login instead of opening a tab each.
        A ``min_valid`` longer than the server's tokens live is met by a fresh token
        (see :meth:`TokenSet.needs_refresh`), with a warning through ``notify``.

        ``rejected`` is an access token the server refused (a 401). If the profile
        now holds another one (another process refreshed), that one comes back
        with no request; only if it still holds the refused one is it refreshed,
        once. A refresh that leaves the refused token in place raises.

        Raises:
            NotLoggedInError: nothing cached (or no refresh token) and ``login`` is off.
            SessionExpiredError: the server ended the session (exit code 2).
            NetworkError, TokenEndpointError: refresh failed and the cached token
                is expired.
        """
        tokens = await self._get_token(
            min_valid=min_valid, login=login, rejected=rejected
        )
        now = self._wiring.clock()
        left = tokens.expires_at - now
        # Fresh, and still short of min_valid: no token of this server can do better.
        if (
            min_valid is not None
            and left < min_valid
            and not self._stale_tokens(tokens, min_valid)
        ):
            self._wiring.notify(
                f"warning: the token is valid for {left:.0f} s only, not "
                f"{min_valid:g}: this server's tokens live {tokens.lifetime:.0f} s"
            )
        return tokens

    async def _get_token(
        self, *, min_valid: float | None, login: bool, rejected: str | None
    ) -> TokenSet:
        if usable := self._usable(self._load(), min_valid, rejected):
            return usable
        async with self._busy, self._locked():
            # Another process may have refreshed or logged in while we waited.
            entry = self._load()
            if usable := self._usable(entry, min_valid, rejected):
                return usable
            try:
                if entry is None:
                    raise NotLoggedInError(
                        f"profile {self.profile!r} is not logged in",
                        hint=login_hint(self.profile),
                    )
                tokens = await self._refresh_locked(entry)
                if rejected is not None and tokens.access_token == rejected:
                    raise still_rejected(self.profile)
                return tokens
            except NotLoggedInError:
                if not login:
                    raise
                return await self._login_locked()

    async def logout(self, *, local: bool = False) -> bool:
        """Revoke the session at the server, then forget it; False if none was cached.

        A failed revocation keeps the entry and raises, unless ``local``: then only
        the local copy goes, and the server session lives until it expires.
        """
        async with self._busy, self._locked():
            entry = self._load()
            if entry is None:
                return False
            # Before revoking: a session whose entry cannot be removed must stay live.
            self._store.check_writable(self.profile)
            if not local and not entry.dead:
                self._adopt_network(entry)
                tokens = (
                    await with_refresh_token(self._store, entry, lenient=True)
                ).tokens
                await TokenClient(self._provider_for(entry), self._wiring).revoke(
                    tokens.refresh_token or tokens.access_token
                )
            self._store.delete(self.profile)
            return True

    def entry(self) -> ProfileEntry | None:
        """The cached entry, dead or alive, without touching the network."""
        return self._load()

    # -- steps -----------------------------------------------------------------

    async def _login_locked(self, head_start: HeadStart | None = None) -> TokenSet:
        previous = self._load(quiet=True)
        provider, loopback = self._login_settings(previous)
        if previous is not None:
            self._adopt_network(previous)
        storage = storage_for(self._storage, previous)
        await check_storage(self._store, self.profile, storage)
        if previous is not None and not previous.dead:
            # Its refresh token revokes it after the login; the item goes then.
            previous = await with_refresh_token(
                self._store, previous, lenient=True, notify=self._wiring.notify
            )
        if provider.grant == "jwt":
            entry = await jwt_sign_in(
                provider,
                self._jwt,
                profile=self.profile,
                store=self._store,
                wiring=self._wiring,
                previous=previous,
                storage=storage,
            )
        else:
            # Before the browser opens: a sign-in whose session cannot be saved
            # would only have the person sign in for nothing. A head start
            # reserved it so.
            reserved = head_start.room if head_start is not None else None
            with reserved or self._store.reserve(self.profile) as room:
                entry = await sign_in(
                    provider,
                    loopback,
                    profile=self.profile,
                    room=room,
                    wiring=self._wiring,
                    opener=self._opener,
                    pasted=self._pasted,
                    head_start=head_start,
                    storage=storage,
                    kept=previous.kept_settings() if previous is not None else None,
                )
        if previous is not None and not previous.dead:
            await self._revoke_replaced(previous, provider)
        return entry.tokens

    async def _refresh_locked(self, entry: ProfileEntry) -> TokenSet:
        self._adopt_network(entry)
        provider = self._provider_for(entry)
        if provider.grant == "jwt":
            return await renew_jwt_session(
                await with_refresh_token(self._store, entry),
                provider=provider,
                jwt=self._jwt,
                store=self._store,
                wiring=self._wiring,
            )
        return await refresh_entry(
            await with_refresh_token(self._store, entry),
            provider=provider,
            store=self._store,
            wiring=self._wiring,
        )

    async def _revoke_replaced(
        self, old: ProfileEntry, provider: ProviderConfig
    ) -> None:
        token = old.tokens.refresh_token or old.tokens.access_token
        same = (old.settings.get("server"), old.settings.get("client_id"))
        # A secret belongs to one client at one server: never send it to another.
        secret = self._secret if same == (provider.server, provider.client_id) else None
        try:
            old_provider = ProviderConfig.from_profile(
                old.settings, client_secret=secret
            )
            await TokenClient(old_provider, self._wiring).revoke(token)
        except LoopbackLoginError as exc:
            self._wiring.notify(
                f"warning: the replaced session could not be revoked: {exc}"
            )

    # -- plumbing ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        lock = self._store.lock(self.profile)
        # Waiting for another process may take a whole browser login: keep the
        # event loop free meanwhile.
        await asyncio.to_thread(lock.__enter__)
        try:
            yield
        finally:
            lock.__exit__(None, None, None)

    def _load(self, *, quiet: bool = False) -> ProfileEntry | None:
        return load_entry(self._store, self.profile, quiet=quiet)

    def _usable(
        self, entry: ProfileEntry | None, min_valid: float | None, rejected: str | None
    ) -> TokenSet | None:
        """The entry's tokens if they can be handed out as they are."""
        if entry is None or entry.dead or entry.tokens.access_token == rejected:
            return None
        return None if self._stale(entry, min_valid) else entry.tokens

    def _stale(self, entry: ProfileEntry, min_valid: float | None) -> bool:
        return self._stale_tokens(entry.tokens, min_valid)

    def _stale_tokens(self, tokens: TokenSet, min_valid: float | None) -> bool:
        return tokens.needs_refresh(now=self._wiring.clock(), min_valid=min_valid)

    def _login_settings(
        self, previous: ProfileEntry | None
    ) -> tuple[ProviderConfig, LoopbackConfig]:
        """What to log in with: as given, else as the profile's last login was."""
        if self._provider is None and previous is None:
            raise ConfigError(
                f"profile {self.profile!r} has never logged in, so there is nothing "
                "to log in again with",
                hint=login_hint(self.profile, client_id_known=False),
            )
        provider = self._provider or self._provider_for(previous)  # type: ignore[arg-type]
        loopback = self._loopback
        if not loopback.redirect_uris and previous is not None:
            remembered = tuple(previous.settings.get("redirect_uris") or ())
            loopback = dataclasses.replace(loopback, redirect_uris=remembered)
        return provider, loopback

    def _adopt_network(self, entry: ProfileEntry) -> None:
        """The proxy and CA file the profile remembers, unless some were given."""
        if self._network is None:
            self._wiring.adopt(NetworkSettings.from_profile(entry.settings))

    def _provider_for(self, entry: ProfileEntry) -> ProviderConfig:
        """The settings given to this session, else those the profile remembers."""
        if self._provider is not None:
            return self._provider
        return ProviderConfig.from_profile(entry.settings, client_secret=self._secret)
