"""Log in to RingCentral once, in your own browser, and hand valid user tokens to
any program that asks.

Names are imported on first use: ``loopback-login token`` runs in shell prompts and
loops, and must not pay for aiohttp or authlib when a cached token will do.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from .api import aget_token, get_token
    from .browser import BrowserOpener, NoBrowser, SystemBrowser
    from .config import LoopbackConfig, ProviderConfig
    from .emulator import create_app
    from .errors import (
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
    from .memory_store import MemoryTokenStore
    from .session import LoginSession
    from .store import FileTokenStore, TokenStore
    from .tokens import TokenSet

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
    "BrowserOpener": "browser",
    "NoBrowser": "browser",
    "SystemBrowser": "browser",
    "LoopbackConfig": "config",
    "ProviderConfig": "config",
    "create_app": "emulator",
    "LoginSession": "session",
    "FileTokenStore": "store",
    "MemoryTokenStore": "memory_store",
    "TokenStore": "store",
    "TokenSet": "tokens",
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
