"""Before the browser opens: does ``--server`` answer like an OAuth server?

One short request, bounded by the HTTP timeout: the discovery document, and only if
the server publishes none, the token endpoint's error for an empty request. A server
that cannot be reached, fails TLS, answers 404 or an HTML page is named in one line
instead of a browser tab that leads nowhere and a wait of the whole ``--timeout``.
The verdict is :mod:`.server_check`'s, which also asks without aiohttp.
"""

from __future__ import annotations

import aiohttp

from loopback_login.errors import NetworkError
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.server_check import (
    MAX_BODY,
    judge_discovery,
    judge_token_endpoint,
    read_body,
    timed_out,
    unreachable,
)
from loopback_login.protocol.wiring import Wiring

__all__ = ["check_server"]


async def check_server(provider: ProviderConfig, wiring: Wiring) -> None:
    """Raise :class:`NetworkError` or :class:`DiscoveryError` unless the server
    answers as an OAuth server does."""
    answer = await _ask(wiring, "GET", provider.discovery_url, provider)
    if not judge_discovery(provider, *answer):
        answer = await _ask(wiring, "POST", provider.token_endpoint, provider)
        judge_token_endpoint(provider, *answer)


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
            raw = await response.content.read(MAX_BODY)
            status = response.status
            content_type = response.content_type
    except NetworkError:
        raise  # a TLS or proxy failure, already named with its fix
    except TimeoutError as exc:
        raise timed_out(provider.server, wiring.timeout) from exc
    except aiohttp.ClientConnectorError as exc:
        raise unreachable(provider.server, exc.os_error) from exc
    except aiohttp.ClientError as exc:
        raise NetworkError(
            f"cannot talk to {provider.server}: {type(exc).__name__}",
            hint="check --server and the network",
        ) from exc
    return (status, *read_body(raw, content_type))
