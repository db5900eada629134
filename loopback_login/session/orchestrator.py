"""The orchestrator: log in, hand out valid tokens, log out.

Every adapter comes in by keyword (store, browser opener, HTTP session, clock), with
the production one as default, so tests swap in real local parts and never patch.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import AsyncIterator
from types import TracebackType

import aiohttp

from loopback_login.clock import Clock, system_clock
from loopback_login.errors import (
    ConfigError,
    CorruptEntryError,
    LoopbackLoginError,
    NotLoggedInError,
    login_hint,
)
from loopback_login.loopback.browser import BrowserOpener, SystemBrowser
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.roundtrip import Notify
from loopback_login.protocol.oidc import IdentityCheck, check_id_token
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import DEFAULT_HTTP_TIMEOUT, TokenClient
from loopback_login.protocol.tokens import TokenSet
from loopback_login.session.entry import ProfileEntry
from loopback_login.session.refresh import refresh_entry
from loopback_login.session.rejected import still_rejected
from loopback_login.session.signin import sign_in
from loopback_login.store.file_store import (
    FileTokenStore,
    TokenStore,
    default_store_dir,
    validate_profile_name,
)

__all__ = ["LoginSession"]

logger = logging.getLogger(__name__)


class LoginSession:
    """One profile's session with one authorization server.

    ``provider`` is needed to log in; afterwards the profile remembers it, so
    ``get_token`` and ``logout`` need only the profile (and the client secret, which
    is never stored: pass it as ``client_secret``). ``pasted`` yields lines a person
    types while the login waits: the URL the browser ended on, for logins whose
    browser runs on another machine.
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
        pasted: AsyncIterator[str] | None = None,
    ) -> None:
        self.profile = validate_profile_name(profile)
        self._provider = provider
        self._loopback = loopback or LoopbackConfig()
        self._store = (
            store if store is not None else FileTokenStore(default_store_dir())
        )
        self._opener = opener or SystemBrowser()
        self._http = http
        self._own_http = http is None
        self._clock = clock
        self._secret = (
            client_secret
            if client_secret is not None
            else (provider.client_secret if provider else None)
        )
        self._http_timeout = http_timeout
        self._notify = notify or _to_stderr
        self._pasted = pasted
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
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    # -- the three use cases -------------------------------------------------

    async def login(self) -> TokenSet:
        """Run the browser login, cache the new session, then revoke the one it replaces."""
        async with self._busy, self._locked():
            return await self._login_locked()

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
            if not local and not entry.dead:
                tokens = entry.tokens
                client = self._client(self._provider_for(entry))
                await client.revoke(tokens.refresh_token or tokens.access_token)
            self._store.delete(self.profile)
            return True

    def entry(self) -> ProfileEntry | None:
        """The cached entry, dead or alive, without touching the network."""
        return self._load()

    # -- steps -----------------------------------------------------------------

    async def _login_locked(self) -> TokenSet:
        previous = self._load(quiet=True)
        provider, loopback = self._login_settings(previous)

        def keep(tokens: TokenSet, check: IdentityCheck) -> str | None:
            entry = self._new_entry(provider, loopback, tokens, check)
            self._store.save(self.profile, entry.to_json())
            return _account(entry)

        tokens = await sign_in(
            self._with_secret(provider),
            loopback,
            keep=keep,
            http=self._session(),
            opener=self._opener,
            notify=self._notify,
            clock=self._clock,
            http_timeout=self._http_timeout,
            client_secret=self._secret,
            pasted=self._pasted,
        )
        if previous is not None and not previous.dead:
            await self._revoke_replaced(previous, provider)
        return tokens

    async def _refresh_locked(self, entry: ProfileEntry) -> TokenSet:
        provider = self._provider_for(entry)

        async def check(tokens: TokenSet) -> IdentityCheck:
            return await check_id_token(
                tokens.id_token,
                provider=provider,
                http=self._session(),
                cached=entry.provider_keys,
                nonce=None,
                client_secret=self._secret,
                now=self._clock(),
                http_timeout=self._http_timeout,
            )

        return await refresh_entry(
            entry,
            profile=self.profile,
            store=self._store,
            client=self._client(provider),
            check=check,
            clock=self._clock,
            notify=self._notify,
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
            await TokenClient(
                old_provider,
                self._session(),
                clock=self._clock,
                timeout=self._http_timeout,
            ).revoke(token)
        except LoopbackLoginError as exc:
            self._notify(f"warning: the replaced session could not be revoked: {exc}")

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
        try:
            raw = self._store.load(self.profile)
        except CorruptEntryError:
            if quiet:  # moved aside already; a new login is the cure
                return None
            raise
        if raw is None:
            return None
        try:
            return ProfileEntry.from_json(raw, self.profile)
        except CorruptEntryError as exc:
            if quiet:
                self._store.set_aside(self.profile, str(exc))
                return None
            raise self._store.set_aside(self.profile, str(exc)) from exc

    def _usable(
        self, entry: ProfileEntry | None, min_valid: float | None, rejected: str | None
    ) -> TokenSet | None:
        """The entry's tokens if they can be handed out as they are."""
        if entry is None or entry.dead or entry.tokens.access_token == rejected:
            return None
        return None if self._stale(entry, min_valid) else entry.tokens

    def _stale(self, entry: ProfileEntry, min_valid: float | None) -> bool:
        return entry.tokens.needs_refresh(now=self._clock(), min_valid=min_valid)

    def _login_settings(
        self, previous: ProfileEntry | None
    ) -> tuple[ProviderConfig, LoopbackConfig]:
        """What to log in with: as given, else as the profile's last login was."""
        if self._provider is None and previous is None:
            raise ConfigError(
                f"profile {self.profile!r} has never logged in, so there is nothing "
                "to log in again with",
                hint=f"run: loopback-login login --profile {self.profile} --client-id ID",
            )
        provider = self._provider or self._provider_for(previous)  # type: ignore[arg-type]
        loopback = self._loopback
        if not loopback.redirect_uris and previous is not None:
            remembered = tuple(previous.settings.get("redirect_uris") or ())
            loopback = dataclasses.replace(loopback, redirect_uris=remembered)
        return provider, loopback

    def _provider_for(self, entry: ProfileEntry) -> ProviderConfig:
        """The settings given to this session, else those the profile remembers."""
        if self._provider is not None:
            return self._provider
        return ProviderConfig.from_profile(entry.settings, client_secret=self._secret)

    def _new_entry(
        self,
        provider: ProviderConfig,
        loopback: LoopbackConfig,
        tokens: TokenSet,
        check: IdentityCheck,
    ) -> ProfileEntry:
        settings = provider.to_profile()
        settings["redirect_uris"] = list(loopback.redirect_uris)
        return ProfileEntry(
            profile=self.profile,
            settings=settings,
            tokens=tokens,
            saved_at=self._clock(),
            identity=check.identity,
            provider_keys=check.keys,
        )

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self._http

    def _with_secret(self, provider: ProviderConfig) -> ProviderConfig:
        if self._secret and not provider.client_secret:
            return provider.with_secret(self._secret)
        return provider

    def _client(self, provider: ProviderConfig) -> TokenClient:
        provider = self._with_secret(provider)
        return TokenClient(
            provider, self._session(), clock=self._clock, timeout=self._http_timeout
        )


def _to_stderr(message: str) -> None:
    """By default a program's user sees the sign-in URL and what is awaited, as the
    CLI's does: a login that waits in silence looks hung."""
    print(message, file=sys.stderr, flush=True)


def _account(entry: ProfileEntry) -> str | None:
    if entry.identity:
        return str(entry.identity.get("name"))
    if entry.tokens.owner_id:
        return f"extension {entry.tokens.owner_id}"
    return None
