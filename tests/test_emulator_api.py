"""The emulator's API as clients of a refreshed session meet it: a replaced token
is "corrupted" for about 10 s, then "not found"; a call with a body, and a 403."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import EmulatorDriver

from loopback_login.clock import FrozenClock
from loopback_login.emulator import EmulatorConfig, create_app
from loopback_login.emulator.handlers_api import PAGER_PATH


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def emu(aiohttp_client: Any, frozen: FrozenClock) -> EmulatorDriver:
    app = create_app(EmulatorConfig(auto_approve=True), clock=frozen)
    return EmulatorDriver(await aiohttp_client(app), app)


async def error_of(response: Any) -> tuple[int, str, str]:
    body = await response.json()
    assert body["errors"][0]["errorCode"] == body["errorCode"]
    return response.status, body["errorCode"], body["message"]


async def test_a_replaced_token_is_corrupted_then_not_found(
    emu: EmulatorDriver, frozen: FrozenClock
) -> None:
    tokens = await emu.login()
    refreshed = await (await emu.refresh(tokens["refresh_token"])).json()
    assert (await emu.me(refreshed["access_token"])).status == 200
    first = await emu.me(tokens["access_token"])
    assert await error_of(first) == (401, "TokenInvalid", "Access token corrupted")
    assert 'error="invalid_token"' in first.headers["WWW-Authenticate"]
    frozen.advance(10)
    later = await emu.me(tokens["access_token"])
    assert await error_of(later) == (401, "OAU-213", "Token not found")


async def test_pager_takes_a_body_and_needs_its_permission(emu: EmulatorDriver) -> None:
    allowed = await emu.login(scope="ReadAccounts InternalMessages")
    bearer = {"Authorization": f"Bearer {allowed['access_token']}"}
    sent = await emu.client.post(PAGER_PATH, json={"text": "hello"}, headers=bearer)
    assert sent.status == 200
    assert (await sent.json())["subject"] == "hello"
    bad = await emu.client.post(PAGER_PATH, data=b"{", headers=bearer)
    assert await error_of(bad) == (400, "CMN-101", "Parameter [text] value is invalid")
    plain = await emu.login(scope="ReadAccounts")
    refused = await emu.client.post(
        PAGER_PATH,
        json={"text": "hello"},
        headers={"Authorization": f"Bearer {plain['access_token']}"},
    )
    status, code, _ = await error_of(refused)
    assert (status, code) == (403, "CMN-401")
    nobody = await emu.client.post(PAGER_PATH, json={"text": "hello"})
    assert nobody.status == 401
