"""The emulator under a flood and a rebinding page, over a real socket: pending
authorizations stay bounded, and only a loopback Host is answered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from helpers import REDIRECT, inputs_of, pkce_pair, query_of
from multidict import CIMultiDictProxy

from loopback_login.clock import FrozenClock
from loopback_login.emulator import DEMO_CLIENT_ID, STATE, EmulatorConfig, serve
from loopback_login.emulator.state import EmulatorState

FLOOD = 20_000
Served = tuple[str, EmulatorState]
Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def served() -> AsyncIterator[Serve]:
    runners: list[Any] = []

    async def start(**options: Any) -> Served:
        runner, url = await serve(EmulatorConfig(**options), clock=FrozenClock())
        runners.append(runner)
        return url, runner.app[STATE]

    yield start
    for runner in runners:
        await runner.cleanup()


def authorize_params(i: int) -> dict[str, str]:
    _, challenge = pkce_pair()
    return {
        "response_type": "code",
        "client_id": DEMO_CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": f"s{i}",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


async def flood(url: str, count: int, state: EmulatorState) -> int:
    """``count`` authorize requests, pipelined on 4 connections at a time, 250 on
    each; the most pending authorizations seen between rounds."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    most = 0

    async def connection(first: int) -> int:
        reader, writer = await asyncio.open_connection(host, int(port))
        for i in range(first, first + 250):
            close = "Connection: close\r\n" if i == first + 249 else ""
            query = urlencode(authorize_params(i))
            writer.write(
                f"GET /restapi/oauth/authorize?{query} HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\n{close}\r\n".encode()
            )
        await writer.drain()
        answers = await reader.read(-1)
        writer.close()
        return answers.count(b"HTTP/1.1 200 OK\r\n")

    for first in range(0, count, 1000):
        rounds = [connection(first + k * 250) for k in range(4)]
        assert sum(await asyncio.gather(*rounds)) == 1000
        most = max(most, state.pending_authorizations)
    return most


async def test_pending_sign_ins_are_bounded(served: Serve) -> None:
    """20,000 authorize requests nobody finishes leave at most 1,000 pending, the
    newest; the oldest sign-in page then says it expired."""
    url, state = await served()
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{url}/restapi/oauth/authorize", params=authorize_params(-1)) as resp,
    ):
        first_txn = inputs_of(await resp.text())["txn"]
    started = time.monotonic()
    most = await flood(url, FLOOD, state)
    print(f"{FLOOD} authorize requests in {time.monotonic() - started:.1f} s")
    assert most <= 1000
    assert state.pending_authorizations == 1000
    assert len(state.requests) <= 10_000
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{url}/emulator/signin",
            data={"txn": first_txn, "username": "demo@example.com", "password": "demo"},
        ) as resp,
    ):
        assert "expired or was already used" in await resp.text()


async def test_unredeemed_codes_are_bounded(served: Serve) -> None:
    """Codes nobody redeems are bounded too: the oldest is refused like any
    unknown code, the newest still buys tokens."""
    url, state = await served(auto_approve=True, max_pending_authorizations=50)
    locations: list[str] = []
    async with aiohttp.ClientSession() as http:
        for i in range(120):
            async with http.get(
                f"{url}/restapi/oauth/authorize",
                params={**authorize_params(i), "code_challenge_method": "plain",
                        "code_challenge": "v" * 43},
                allow_redirects=False,
            ) as resp:  # fmt: skip
                locations.append(resp.headers["Location"])
        assert state.pending_authorizations == 50

        async def redeem(location: str) -> tuple[int, dict[str, Any]]:
            async with http.post(
                f"{url}/restapi/oauth/token",
                data={
                    "grant_type": "authorization_code",
                    "code": query_of(location)["code"],
                    "redirect_uri": REDIRECT,
                    "client_id": DEMO_CLIENT_ID,
                    "code_verifier": "v" * 43,
                },
            ) as resp:
                return resp.status, await resp.json()

        status, body = await redeem(locations[0])
        assert (status, body["errors"][0]["errorCode"]) == (403, "OAU-106")
        status, body = await redeem(locations[-1])
        assert status == 200, body


def secured(headers: CIMultiDictProxy[str]) -> bool:
    return (
        headers.get("X-Content-Type-Options") == "nosniff"
        and headers.get("X-Frame-Options") == "DENY"
        and headers.get("Cache-Control") == "no-store"
        and "default-src 'none'" in headers.get("Content-Security-Policy", "")
    )


@pytest.mark.parametrize(
    "host",
    ["evil.example", "evil.example:{port}", "127.0.0.1", "127.0.0.1:1", "localhost",
     "127.0.0.1.evil.example:{port}", ""],
)  # fmt: skip
async def test_other_hosts_are_misdirected(served: Serve, host: str) -> None:
    """A DNS-rebinding page reaches the emulator under its own name: 421, and
    nothing is recorded or parked."""
    url, state = await served()
    port = url.rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as http:
        for path in ("/.well-known/openid-configuration", "/restapi/oauth/authorize"):
            async with http.get(
                f"{url}{path}",
                params=authorize_params(0),
                headers={"Host": host.format(port=port)},
            ) as resp:
                assert resp.status == 421, (host, path)
                assert secured(resp.headers), resp.headers
    assert state.requests == type(state.requests)()
    assert state.pending_authorizations == 0


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST"])
async def test_loopback_hosts_are_served(served: Serve, name: str) -> None:
    url, _ = await served()
    port = url.rsplit(":", 1)[1]
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{url}/.well-known/openid-configuration",
            headers={"Host": f"{name}:{port}"},
        ) as resp:
            assert resp.status == 200
        async with http.get(f"{url}/nowhere") as resp:
            assert resp.status == 404
            assert secured(resp.headers), resp.headers


async def test_made_up_client_ids_share_one_rate_limit_count(served: Serve) -> None:
    """Unknown client ids are counted together (one count, however many ids), while
    a registered client keeps its own."""
    url, _ = await served(rate_limit=2)
    statuses = []
    async with aiohttp.ClientSession() as http:
        for client_id in ("made-up-1", "made-up-2", "made-up-3", DEMO_CLIENT_ID):
            params = {**authorize_params(0), "client_id": client_id}
            async with http.get(
                f"{url}/restapi/oauth/authorize", params=params, allow_redirects=False
            ) as resp:
                statuses.append(resp.status)
    assert statuses == [400, 400, 429, 200]
