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
        KeyringError,
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
    from loopback_login.loopback.browser import BrowserOpener, NoBrowser, SystemBrowser
    from loopback_login.loopback.config import LoopbackConfig
    from loopback_login.protocol.provider import ProviderConfig
    from loopback_login.protocol.tokens import TokenSet
    from loopback_login.session.orchestrator import LoginSession
    from loopback_login.store.file_store import FileTokenStore, TokenStore
    from loopback_login.store.memory_store import MemoryTokenStore

__all__ = [
    "AuthorizationError",
    "AuthorizationTimeoutError",
    "BrowserOpener",
    "ConfigError",
    "CorruptEntryError",
    "DiscoveryError",
    "FileTokenStore",
    "IDTokenError",
    "InvalidGrantError",
    "IssuerMismatchError",
    "KeyringError",
    "LoginSession",
    "LoopbackBindError",
    "LoopbackConfig",
    "LoopbackLoginError",
    "MemoryTokenStore",
    "NetworkError",
    "NewerEntryError",
    "NoBrowser",
    "NonceMismatchError",
    "NotLoggedInError",
    "ProviderConfig",
    "RateLimitError",
    "SessionExpiredError",
    "StateMismatchError",
    "SystemBrowser",
    "TokenEndpointError",
    "TokenSet",
    "TokenStore",
    "TokenStoreError",
    "aget_token",
    "create_app",
    "get_token",
]

_HOMES = {
    "aget_token": "api",
    "get_token": "api",
    "BrowserOpener": "loopback.browser",
    "NoBrowser": "loopback.browser",
    "SystemBrowser": "loopback.browser",
    "LoopbackConfig": "loopback.config",
    "ProviderConfig": "protocol.provider",
    "create_app": "emulator",
    "LoginSession": "session.orchestrator",
    "FileTokenStore": "store.file_store",
    "MemoryTokenStore": "store.memory_store",
    "TokenStore": "store.file_store",
    "TokenSet": "protocol.tokens",
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
