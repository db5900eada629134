"""Log in to RingCentral once, in your own browser, and hand valid user tokens to
any program that asks.

Names are imported on first use: ``loopback-login token`` runs in shell prompts and
loops, and must not pay for aiohttp or authlib when a cached token will do.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from loopback_login.api import aget_token, get_token
    from loopback_login.emulator import create_app
    from loopback_login.errors import (
        AuthorizationError,
        AuthorizationTimeoutError,
        ConfigError,
        CorruptEntryError,
        DiscoveryError,
        IDTokenError,
        InvalidGrantError,
        IssuerMismatchError,
        LoopbackBindError,
        LoopbackLoginError,
        NetworkError,
        NewerEntryError,
        NonceMismatchError,
        NotLoggedInError,
        RateLimitError,
        SessionExpiredError,
        StateMismatchError,
        TokenEndpointError,
        TokenStoreError,
    )
    from loopback_login.http.aiohttp_auth import AiohttpAuth, aiohttp_session
    from loopback_login.http.httpx_auth import HttpxAuth
    from loopback_login.http.requests_auth import RequestsAuth, requests_session
    from loopback_login.http.source import TokenSource
    from loopback_login.loopback.browser import BrowserOpener, NoBrowser, SystemBrowser
    from loopback_login.loopback.config import LoopbackConfig
    from loopback_login.protocol.network import NetworkSettings
    from loopback_login.protocol.provider import ProviderConfig
    from loopback_login.protocol.tokens import TokenSet
    from loopback_login.session.orchestrator import LoginSession
    from loopback_login.store.file_store import FileTokenStore, TokenStore
    from loopback_login.store.memory_store import MemoryTokenStore

__all__ = [
    "AiohttpAuth",
    "AuthorizationError",
    "AuthorizationTimeoutError",
    "BrowserOpener",
    "ConfigError",
    "CorruptEntryError",
    "DiscoveryError",
    "FileTokenStore",
    "HttpxAuth",
    "IDTokenError",
    "InvalidGrantError",
    "IssuerMismatchError",
    "LoginSession",
    "LoopbackBindError",
    "LoopbackConfig",
    "LoopbackLoginError",
    "MemoryTokenStore",
    "NetworkError",
    "NetworkSettings",
    "NewerEntryError",
    "NoBrowser",
    "NonceMismatchError",
    "NotLoggedInError",
    "ProviderConfig",
    "RateLimitError",
    "RequestsAuth",
    "SessionExpiredError",
    "StateMismatchError",
    "SystemBrowser",
    "TokenEndpointError",
    "TokenSet",
    "TokenSource",
    "TokenStore",
    "TokenStoreError",
    "aget_token",
    "aiohttp_session",
    "create_app",
    "get_token",
    "requests_session",
]

_HOMES = {
    "aget_token": "api",
    "get_token": "api",
    "BrowserOpener": "loopback.browser",
    "NoBrowser": "loopback.browser",
    "SystemBrowser": "loopback.browser",
    "LoopbackConfig": "loopback.config",
    "NetworkSettings": "protocol.network",
    "ProviderConfig": "protocol.provider",
    "create_app": "emulator",
    "LoginSession": "session.orchestrator",
    "FileTokenStore": "store.file_store",
    "MemoryTokenStore": "store.memory_store",
    "TokenStore": "store.file_store",
    "TokenSet": "protocol.tokens",
    # Each adapter imports its HTTP library: only when asked for by name.
    "AiohttpAuth": "http.aiohttp_auth",
    "aiohttp_session": "http.aiohttp_auth",
    "HttpxAuth": "http.httpx_auth",
    "RequestsAuth": "http.requests_auth",
    "requests_session": "http.requests_auth",
    "TokenSource": "http.source",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("loopback-login")
    if name in __all__:
        from importlib import import_module

        module = import_module(f".{_HOMES.get(name, 'errors')}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
