"""Before the browser opens: does ``--server`` answer like an OAuth server?

One short request, bounded by the HTTP timeout: the discovery document, and only if
the server publishes none, the token endpoint's error for an empty request. A server
that cannot be reached, fails TLS, answers 404 or an HTML page is named in one line
instead of a browser tab that leads nowhere and a wait of the whole ``--timeout``.
"""

from __future__ import annotations

import json
import logging
import os

import aiohttp

from loopback_login.errors import DiscoveryError, NetworkError, printable
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.wiring import Wiring

__all__ = ["check_server"]

logger = logging.getLogger(__name__)

_MAX_BODY = 256 * 1024
_HINT = (
    "check --server: it should be https://platform.ringcentral.com, "
    "https://platform.ringcentral.biz or your emulator's URL"
)


async def check_server(provider: ProviderConfig, wiring: Wiring) -> None:
    """Raise :class:`NetworkError` or :class:`DiscoveryError` unless the server
    answers as an OAuth server does."""
    status, kind, body = await _ask(wiring, "GET", provider.discovery_url, provider)
    if status == 200 and isinstance(body, dict) and body.get("issuer"):
        logger.debug("%s publishes OpenID discovery", provider.server)
        return
    if status == 404:
        # No discovery document: a token endpoint still answers an empty request
        # with an OAuth error (RFC 6749 §5.2).
        status, kind, body = await _ask(
            wiring, "POST", provider.token_endpoint, provider
        )
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            logger.debug("%s has a token endpoint", provider.server)
            return
        raise DiscoveryError(
            f"{provider.server} does not look like an OAuth server: no discovery "
            f"document (HTTP 404), and its token endpoint answered HTTP {status} "
            f"with {kind}",
            hint=_HINT,
        )
    if status >= 500:
        raise NetworkError(
            f"{provider.server} is having trouble: HTTP {status}",
            hint="try again in a minute",
        )
    raise DiscoveryError(
        f"{provider.server} does not look like an OAuth server: "
        f"HTTP {status} with {kind}",
        hint=_HINT,
    )


async def _ask(
    wiring: Wiring, method: str, url: str, provider: ProviderConfig
) -> tuple[int, str, object]:
    """The status, a word on what came back, and the JSON body (None if not JSON)."""
    try:
        async with wiring.http.request(
            method,
            url,
            headers={"Accept": "application/json"},
            allow_redirects=False,
            timeout=wiring.request_timeout(),
            data={} if method == "POST" else None,
        ) as response:
            raw = await response.content.read(_MAX_BODY)
            status = response.status
            content_type = response.content_type
    except NetworkError:
        raise  # a TLS or proxy failure, already named with its fix
    except TimeoutError as exc:
        raise NetworkError(
            f"{provider.server} did not answer within {wiring.timeout:g} s",
            hint="check --server and the network (behind a proxy? set HTTPS_PROXY or "
            "--proxy), or allow more time with --http-timeout",
        ) from exc
    except aiohttp.ClientConnectorError as exc:
        errno = getattr(exc.os_error, "errno", None)
        reason = (
            os.strerror(errno).lower()
            if errno
            else getattr(exc.os_error, "strerror", None) or type(exc).__name__
        )
        raise NetworkError(
            f"cannot reach {provider.server}: {printable(reason, 120)}",
            hint="check --server and the network (behind a proxy? set HTTPS_PROXY or "
            "--proxy)",
        ) from exc
    except aiohttp.ClientError as exc:
        raise NetworkError(
            f"cannot talk to {provider.server}: {type(exc).__name__}",
            hint="check --server and the network",
        ) from exc
    body: object = None
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError):
        body = None
    if "html" in content_type:
        kind = "an HTML page"
    elif body is not None:
        kind = "JSON"
    else:
        kind = content_type or "no body"
    return status, kind, body
