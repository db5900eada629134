"""The one URL policy: which URLs the tool may fetch, send a browser to, or listen on.

Every URL the tool fetches (the server's endpoints, discovery, the JWKS, whether given
on the command line, remembered in a profile or published by the server) passes
:func:`check_url`, and no fetch follows a redirect. Two rules:

- **https only**, except on loopback (the emulator and the redirect URI): tokens and
  client secrets must never cross a network in the clear;
- **one reading only**: a URL that browsers (the WHATWG URL Standard), urllib and
  yarl could read as different hosts, ports or schemes is refused rather than
  guessed at. So no user name or password (``http://evil\\@127.0.0.1`` is
  127.0.0.1 to urllib and ``evil`` to Chromium), no backslash, whitespace, control
  or non-ASCII character, no percent-escape in the host, no IPv4 address in a form
  other than four plain decimal numbers, no IPv6 zone, and a port of 1 to 65535.

Pure; no I/O.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from loopback_login.errors import ConfigError, printable

__all__ = [
    "LOOPBACK_NAMES",
    "MAX_URL_LENGTH",
    "SERVER_ALIASES",
    "CheckedUrl",
    "check_url",
    "resolve_server",
]

SERVER_ALIASES: Mapping[str, str] = {
    "production": "https://platform.ringcentral.com",
    "prod": "https://platform.ringcentral.com",
    "partner": "https://platform.ringcentral.biz",
    "biz": "https://platform.ringcentral.biz",
}

# The names that never leave this machine; "localhost" resolves to both literals.
LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
MAX_URL_LENGTH = 2048

# RFC 3986's characters: unreserved, reserved and "%". Everything else (space, "\",
# "{", "|", "^", "`", "<", ">", '"', controls, non-ASCII) is read differently by
# different parsers, or silently dropped by browsers.
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_NUMBERISH = re.compile(r"(0x[0-9a-f]*|[0-9]+)")
_DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)


@dataclass(frozen=True)
class CheckedUrl:
    """A URL that passed :func:`check_url`, with the one reading every parser shares."""

    url: str
    scheme: str
    host: str
    port: int
    path: str
    query: str

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_NAMES


def check_url(
    url: str,
    what: str,
    *,
    schemes: tuple[str, ...] = ("https", "http"),
    query: bool = True,
    any_port: bool = False,
    hint: str | None = None,
) -> CheckedUrl:
    """Check ``url`` against the policy; ``what`` names it in the error (``--server``).

    ``http`` is accepted only for loopback hosts even when listed in ``schemes``.
    ``any_port`` also accepts port 0 (a redirect URI's "any free port").

    Raises:
        ConfigError: the URL breaks the policy; the message says which rule.
    """
    shown = printable(url, 200)

    def refuse(reason: str) -> ConfigError:
        return ConfigError(f"{what} {shown!r} {reason}", hint=hint)

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"is longer than {MAX_URL_LENGTH} characters")
    if not _URL_CHARS.fullmatch(url):
        raise refuse(
            "holds a character that browsers and Python read differently "
            '(space, control, backslash, non-ASCII or one of {}|^`<>")'
        )
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in schemes:
        raise refuse(f"is not an absolute {' or '.join(schemes)} URL")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        raise refuse("carries a user name or password; give the server URL alone")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise refuse("has a malformed host or port") from None
    host = _check_host(authority, refuse)
    try:
        port = parts.port
    except ValueError:
        raise refuse("has a port outside 1-65535") from None
    if port is None:
        if authority.endswith(":"):
            raise refuse("has an empty port")
        port = 443 if parts.scheme == "https" else 80
    elif not (0 if any_port else 1) <= port <= 65535:
        raise refuse("has a port outside 1-65535")
    if parts.scheme == "http" and host not in LOOPBACK_NAMES:
        raise refuse("uses plain http off this machine; use https")
    if _DOT_SEGMENT.search(parts.path):
        raise refuse('has a "." or ".." path segment')
    if parts.fragment or url.endswith("#"):
        raise refuse("must not carry a fragment")
    if not query and (parts.query or "?" in url):
        raise refuse("must not carry a query")
    return CheckedUrl(url, parts.scheme, host, port, parts.path, parts.query)


def _check_host(authority: str, refuse: Callable[[str], ConfigError]) -> str:
    """The host as every parser reads it, lower-cased, IPv6 without brackets."""
    if authority.startswith("["):
        literal, _, after = authority[1:].partition("]")
        if after and not re.fullmatch(r":[0-9]*", after):
            raise refuse("has a malformed host or port")
        try:
            address = ipaddress.IPv6Address(literal)
        except ValueError:
            raise refuse("has a malformed IPv6 address") from None
        if literal.lower() != address.compressed:
            raise refuse(f"should write its IPv6 address as [{address.compressed}]")
        return address.compressed
    host, _, port = authority.partition(":")
    if port and not port.isdigit():
        raise refuse("has a port that is not a number")
    host = host.lower()
    labels = host.split(".")
    if _NUMBERISH.fullmatch(labels[-1] or (labels[-2] if len(labels) > 1 else "")):
        # WHATWG reads a host ending in a number as IPv4, in octal, hex or as one
        # 32-bit number ("127.1", "0x7f.0.0.1", "2130706433"); only the plain form
        # means the same to every parser.
        try:
            ipv4 = ipaddress.IPv4Address(host)
        except ValueError:
            raise refuse("has an IPv4 address in an unusual form") from None
        if str(ipv4) != host:
            raise refuse("has an IPv4 address in an unusual form")
        return host
    if not host or len(host) > 253 or not all(_LABEL.fullmatch(x) for x in labels):
        raise refuse("has a malformed host name")
    return host


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine, so nothing it carries crosses a network."""
    return urlsplit(url).hostname in LOOPBACK_NAMES


def resolve_server(server: str) -> str:
    """Turn ``production``/``partner`` or a URL into a base URL without a trailing slash.

    The URL must pass :func:`check_url` and carry no query or fragment.
    """
    name = server.strip().lower()
    url = SERVER_ALIASES.get(name, server).rstrip("/")
    check_url(
        url,
        "--server",
        query=False,
        hint="give a base URL such as https://platform.ringcentral.com, "
        "or one of: " + ", ".join(sorted(SERVER_ALIASES)),
    )
    return url
