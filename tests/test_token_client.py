"""The token and revoke client against a misbehaving server: every fault is one
clear error, and a 429 is waited out once at most."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from helpers import Emulator

from loopback_login.clock import FrozenClock
from loopback_login.emulator import DEMO_CLIENT_ID, FAULTS, STATE
from loopback_login.emulator.config import DEMO_USER
from loopback_login.errors import (
    InvalidGrantError,
    NetworkError,
    RateLimitError,
    TokenEndpointError,
)
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.protocol.token_client import TokenClient
from loopback_login.protocol.wiring import Wiring


def client(
    url: str, http: aiohttp.ClientSession, *, timeout: float = 30.0
) -> TokenClient:
    return TokenClient(
        ProviderConfig(server=url, client_id=DEMO_CLIENT_ID),
        Wiring(http, timeout=timeout),
    )


async def test_ringcentral_error_body(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """RingCentral's body becomes error, description, errorCode and status."""
    with pytest.raises(InvalidGrantError) as info:
        await client(emulator.url, http).refresh("not-a-refresh-token")
    assert info.value.error == "invalid_grant"
    assert info.value.status in (400, 401, 403)
    assert info.value.error_code
    assert info.value.error_code.startswith("OAU-")
    assert "not-a-refresh-token" not in str(info.value)
    assert str(info.value).startswith("the token endpoint refused: HTTP ")


@pytest.mark.parametrize(
    ("arm", "error", "match"),
    [
        (lambda f: f.fail("token", status=503), TokenEndpointError, "server_error"),
        (
            lambda f: f.raw("token", status=502, body=b"<html>Bad gateway</html>"),
            TokenEndpointError,
            "HTML page",
        ),
        (
            lambda f: f.raw(
                "token", status=200, body=b"oops", content_type="text/plain"
            ),
            TokenEndpointError,
            "not a JSON object",
        ),
        (lambda f: f.truncate("token"), NetworkError, "broke mid-answer"),
        (
            lambda f: f.delay("token", 2.0),
            NetworkError,
            r"did not answer within 0\.5 s",
        ),
    ],
)
async def test_faults_are_one_clear_error(
    emulator: Emulator,
    http: aiohttp.ClientSession,
    arm: Callable[[object], None],
    error: type[Exception],
    match: str,
) -> None:
    """5xx, HTML, non-JSON, a torn answer and a timeout each raise one of our errors."""
    arm(emulator.app[FAULTS])
    with pytest.raises(error, match=match) as info:
        await client(emulator.url, http, timeout=0.5).refresh("rt")
    assert getattr(info.value, "hint", None)


async def test_connection_refused(http: aiohttp.ClientSession) -> None:
    """Nothing listening is a NetworkError naming the server."""
    with pytest.raises(NetworkError, match=r"cannot connect to http://127\.0\.0\.1:9"):
        await client("http://127.0.0.1:9", http).revoke("t")


class Seen:
    """One request as the scripted endpoint received it."""

    def __init__(self, headers: dict[str, str], form: dict[str, str]) -> None:
        self.headers = headers
        self.form = form


async def scripted(
    aiohttp_server: Callable[..., Awaitable[TestServer]], answers: list[web.Response]
) -> tuple[str, list[Seen]]:
    """A tiny token endpoint that answers from a script, for what the emulator lacks."""
    seen: list[Seen] = []

    async def token(request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        seen.append(Seen(dict(request.headers), form))
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/restapi/oauth/token", token)
    server = await aiohttp_server(app, host="127.0.0.1")
    return str(server.make_url("")).rstrip("/"), seen


async def test_short_retry_after_is_waited_once(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """A 429 with a short Retry-After is retried once, then succeeds."""
    url, seen = await scripted(
        aiohttp_server,
        [
            web.json_response(
                {"error": "rate_limited"}, status=429, headers={"Retry-After": "0"}
            ),
            web.json_response({"access_token": "new", "expires_in": 60}),
        ],
    )
    tokens = await client(url, http).refresh("rt")
    assert tokens.access_token == "new"
    assert len(seen) == 2


async def test_long_retry_after_is_not_waited(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """RingCentral's 60 s penalty is reported at once; no request is repeated."""
    url, seen = await scripted(
        aiohttp_server,
        [
            web.json_response(
                {
                    "errorCode": "CMN-301",
                    "error": "rate_limited",
                    "errors": [{"errorCode": "CMN-301"}],
                },
                status=429,
                headers={"Retry-After": "60"},
            )
        ],
    )
    with pytest.raises(RateLimitError) as info:
        await client(url, http).refresh("rt")
    assert info.value.retry_after == 60
    assert "wait 60 seconds" in (info.value.hint or "")
    assert len(seen) == 1


async def test_emulator_rate_limit(
    start_emulator: Callable[..., Awaitable[Emulator]], http: aiohttp.ClientSession
) -> None:
    """Past RingCentral's 5 auth requests a minute the emulator answers 429, once each."""
    emu = await start_emulator(rate_limit=5)
    token_client = client(emu.url, http)
    for _ in range(5):
        with pytest.raises(InvalidGrantError):
            await token_client.refresh("rt")
    with pytest.raises(RateLimitError) as info:
        await token_client.refresh("rt")
    assert info.value.status == 429
    assert info.value.retry_after
    assert info.value.retry_after > 10


async def test_retry_after_is_waited_on_the_wirings_timer(
    start_emulator: Callable[..., Awaitable[Emulator]],
    http: aiohttp.ClientSession,
    clock: FrozenClock,
) -> None:
    """The emulator's 429 asks for 60 s: the client waits them on Wiring.sleep, so
    with the frozen clock (the emulator's too) they pass when the test moves time
    on, and the retry redeems the refresh token at once."""
    emu = await start_emulator(rate_limit=1)
    state = emu.app[STATE]
    session = state.start_session(
        client_id=DEMO_CLIENT_ID, user=DEMO_USER, scope="ReadAccounts",
        auth_time=int(clock()), endpoint_id=None,
    )  # fmt: skip
    state.issue_tokens(session, access_ttl=3600, refresh_ttl=7 * 86400)
    wiring = Wiring(http, clock=clock, sleep=clock.sleep)
    provider = ProviderConfig(server=emu.url, client_id=DEMO_CLIENT_ID)
    token_client = TokenClient(provider, wiring, max_retry_after=60)
    with pytest.raises(InvalidGrantError):  # the minute's one request
        await token_client.refresh("not-a-refresh-token")
    refreshing = asyncio.create_task(token_client.refresh(session.refresh_token))
    try:
        # Answered 429 with Retry-After: 60, the client now waits on the seam.
        await asyncio.wait_for(clock.until_sleepers(1), 10)
        assert state.count("token") == 2
        clock.advance(59)
        await asyncio.sleep(0.05)
        assert (clock.sleepers, refreshing.done()) == (1, False)
        clock.advance(1)
        tokens = await asyncio.wait_for(refreshing, 10)
    finally:
        refreshing.cancel()
    assert tokens.access_token == session.access_token
    assert state.count("token") == 3


async def test_public_client_sends_no_authorization_header(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """A public client puts client_id in the body and sends no Authorization header."""
    url, seen = await scripted(
        aiohttp_server, [web.json_response({"access_token": "a"})]
    )
    await client(url, http).refresh("rt")
    form = seen[0].form
    assert "Authorization" not in seen[0].headers
    assert form["client_id"] == DEMO_CLIENT_ID
    assert form["grant_type"] == "refresh_token"


async def test_basic_auth_is_form_encoded(
    aiohttp_server: Callable[..., Awaitable[TestServer]], http: aiohttp.ClientSession
) -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64."""
    import base64

    url, seen = await scripted(
        aiohttp_server, [web.json_response({"access_token": "a"})]
    )
    config = ProviderConfig(server=url, client_id="id:1", client_secret="s p&c")
    await TokenClient(config, Wiring(http)).refresh("rt")
    header = seen[0].headers["Authorization"]
    assert base64.b64decode(header.removeprefix("Basic ")).decode() == "id%3A1:s+p%26c"
    assert "client_id" not in seen[0].form
