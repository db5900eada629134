"""The one URL policy: which server URLs the tool may talk to.

Only ``https`` is accepted, except on loopback (the emulator and the redirect URI):
tokens and client secrets must never cross a network in the clear. Pure; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from loopback_login.errors import ConfigError

__all__ = ["LOOPBACK_NAMES", "SERVER_ALIASES", "is_loopback_url", "resolve_server"]

SERVER_ALIASES: Mapping[str, str] = {
    "production": "https://platform.ringcentral.com",
    "prod": "https://platform.ringcentral.com",
    "partner": "https://platform.ringcentral.biz",
    "biz": "https://platform.ringcentral.biz",
}

# The names that never leave this machine; "localhost" resolves to both literals.
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine, so nothing it carries crosses a network."""
    return urlsplit(url).hostname in LOOPBACK_NAMES


def resolve_server(server: str) -> str:
    """Turn ``production``/``partner`` or a URL into a base URL without a trailing slash.

    Only ``https`` is accepted, except on loopback (the emulator): tokens and client
    secrets must never cross a network in the clear.
    """
    url = SERVER_ALIASES.get(server.strip().lower(), server.strip()).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"--server {server!r} is not a URL",
            hint="give a base URL such as https://platform.ringcentral.com, "
            "or one of: " + ", ".join(sorted(SERVER_ALIASES)),
        )
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_NAMES:
        raise ConfigError(
            f"--server {url} uses plain http off this machine",
            hint="use https; plain http is only allowed for a local emulator",
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"--server {url} must not carry a query or fragment")
    return url
