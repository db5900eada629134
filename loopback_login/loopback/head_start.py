"""A sign-in whose browser was sent off before the rest of the package loaded.

What sending the browser needs is small: listening sockets, ``state``, ``nonce``, a
PKCE pair and a URL. A login that makes these first (``loopback-login login``) asks
the browser at once and loads the HTTP server and client while the browser starts;
connections that arrive meanwhile wait in the listen backlog. This module holds
what such a login hands on, and the URL rules both kinds of login share. Light on
purpose: the standard library and the layers below.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from loopback_login.loopback.browser import Verdict
from loopback_login.loopback.config import RedirectTarget
from loopback_login.protocol.authorize import build_authorization_url
from loopback_login.protocol.pkce import PkcePair
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.store.file_store import EntryReservation

__all__ = ["HeadStart", "Launched", "SignInUrls", "local_start_url", "sign_in_urls"]


def local_start_url(target: RedirectTarget, port: int) -> str:
    """The short local URL that sends the browser on to the authorization server."""
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"http://{host}:{port}/"


@dataclass(frozen=True)
class SignInUrls:
    """``url`` to open here (and print), ``remote_url`` to open on another machine,
    ``authorize_url``: the full GET URL the local one redirects to (None for POST)."""

    url: str
    remote_url: str
    authorize_url: str | None


def sign_in_urls(
    provider: ProviderConfig,
    params: Mapping[str, str],
    start_url: str,
    *,
    no_browser: bool,
) -> SignInUrls:
    """The browser goes to the short local URL, which redirects (GET) or posts the
    form (POST); it can only arrive once the server listens. Without a browser here,
    the GET URL is shown whole: a browser elsewhere cannot reach 127.0.0.1."""
    if provider.method != "get":
        return SignInUrls(start_url, start_url, None)
    full = build_authorization_url(provider.authorization_endpoint, params)
    return SignInUrls(full if no_browser else start_url, full, full)


class Launched:
    """A :class:`~loopback_login.loopback.browser.BrowserOpener` for a browser
    already asked: ``open`` answers with that request's verdict."""

    def __init__(self, verdict: Verdict) -> None:
        self._verdict = verdict

    async def open(self, url: str) -> bool:
        return await self._verdict.wait()


@dataclass
class HeadStart:
    """A sign-in under way: the sockets listen, the server was checked and the
    browser asked (``opener`` answers for it); the URL opened was made from these
    ``state``, ``nonce`` and ``pkce``."""

    target: RedirectTarget
    sockets: list[socket.socket] = field(repr=False)
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    pkce: PkcePair
    opener: Launched
    urls: SignInUrls = field(repr=False)
    # The room for the new entry, set aside before the browser was asked.
    room: EntryReservation | None = field(default=None, repr=False)

    @property
    def port(self) -> int:
        return int(self.sockets[0].getsockname()[1])

    @property
    def redirect_uri(self) -> str:
        return self.target.with_port(self.port)

    def close(self) -> None:
        """Close sockets no server took over (the login ended before it started)."""
        for sock in self.sockets:
            sock.close()
