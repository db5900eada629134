"""Discovery and the JWKS against a hostile server on 127.0.0.1: no redirect is
followed, a published jwks_uri meets the URL policy, bodies are capped while they
stream, and no message quotes more than a couple of hundred characters of it."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from loopback_login.errors import DiscoveryError
from loopback_login.protocol.discovery import (
    MAX_DISCOVERY_BYTES,
    fetch_provider_keys,
)
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.wiring import Wiring

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
DISCOVERY = "/.well-known/openid-configuration"


async def serve(
    aiohttp_server: Callable[..., Awaitable[TestServer]], routes: dict[str, Handler]
) -> tuple[str, list[str]]:
    """A server answering ``routes``; returns its base URL and the paths it was asked."""
    asked: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        asked.append(request.path)
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in routes.items():
        app.router.add_get(path, handler)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/"), asked


async def fetch(http: aiohttp.ClientSession, base: str, **config: Any) -> Any:
    provider = ProviderConfig(server=base, client_id="c", **config)
    return await fetch_provider_keys(
        Wiring(http, clock=lambda: 0.0, timeout=10), provider
    )


def discovery(**fields: Any) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"issuer": f"http://{request.host}", **fields})

    return handle


async def keys(request: web.Request) -> web.Response:
    return web.json_response({"keys": []})


async def test_a_redirect_is_an_error_naming_the_url(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """A 302 from discovery is refused, and its target is never fetched."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    base, asked = await serve(aiohttp_server, {DISCOVERY: moved, "/elsewhere": keys})
    with pytest.raises(DiscoveryError) as caught:
        await fetch(http, base)
    assert "redirect" in str(caught.value)
    assert f"{base}{DISCOVERY}" in str(caught.value)
    assert asked == [DISCOVERY]


async def test_a_redirect_from_the_jwks_is_refused_too(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """--jwks-uri answering 307 is an error; the target is not fetched."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect("/real-keys")

    base, asked = await serve(aiohttp_server, {"/keys": moved, "/real-keys": keys})
    with pytest.raises(DiscoveryError, match="redirect"):
        await fetch(http, base, jwks_uri=f"{base}/keys")
    assert asked == ["/keys"]


@pytest.mark.parametrize(
    "published",
    [
        "http://keys.example/jwks",
        "https://evil.example\\@127.0.0.1/jwks",
        "https://user@keys.example/jwks",
        "file:///etc/passwd",
    ],
)
async def test_a_published_jwks_uri_must_meet_the_policy(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    http: aiohttp.ClientSession,
    published: str,
) -> None:
    """Discovery's jwks_uri over plain http, with userinfo or another scheme is
    refused before anything is fetched from it."""
    base, asked = await serve(
        aiohttp_server, {DISCOVERY: discovery(jwks_uri=published)}
    )
    with pytest.raises(DiscoveryError, match="not fetched: the JWKS URL"):
        await fetch(http, base)
    assert asked == [DISCOVERY]


async def test_a_huge_discovery_answer_is_cut_short(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """50 MB streamed without a length: refused after the cap, in one short line."""
    sent = 0

    async def flood(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        chunk = b'{"issuer": "' + b"x" * (1024 * 1024)
        try:
            for _ in range(50):
                await response.write(chunk)
                sent += len(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            pass
        return response

    base, _ = await serve(aiohttp_server, {DISCOVERY: flood})
    with pytest.raises(DiscoveryError) as caught:
        await fetch(http, base)
    message = str(caught.value)
    assert f"more than {MAX_DISCOVERY_BYTES // 1024} KiB" in message
    assert len(message) < 300
    assert sent < 50 * 1024 * 1024


async def test_a_declared_length_past_the_cap_is_refused_unread(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """A JWKS that says it is 2 MiB is refused on its Content-Length."""

    async def big(request: web.Request) -> web.Response:
        body = json.dumps({"keys": [], "pad": "x" * 2 * 1024 * 1024}).encode()
        return web.Response(body=io.BytesIO(body), content_type="application/json")

    base, _ = await serve(aiohttp_server, {"/keys": big})
    with pytest.raises(DiscoveryError, match="more than 1024 KiB"):
        await fetch(http, base, jwks_uri=f"{base}/keys")


async def test_a_long_hostile_issuer_is_quoted_short_and_inert(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """An issuer of 200 KB with escape sequences is quoted in at most ~200
    printable characters."""
    issuer = "\x1b]0;pwned\x07\x1b[2K\r\nerror: fake" + "y" * 200_000

    async def hostile(request: web.Request) -> web.Response:
        return web.json_response({"issuer": issuer})

    base, _ = await serve(aiohttp_server, {DISCOVERY: hostile})
    with pytest.raises(DiscoveryError) as caught:
        await fetch(http, base)
    message = str(caught.value)
    assert len(message) < 400
    assert message.isprintable()
