"""The emulator's JWT bearer grant: the credentials it issues, and how it refuses
them as RingCentral does, over real sockets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from helpers import EmulatorDriver, basic

from loopback_login.clock import FrozenClock
from loopback_login.emulator import (
    DEMO_CLIENT_ID,
    DEMO_CONFIDENTIAL_CLIENT_ID,
    DEMO_CONFIDENTIAL_SECRET,
    DEMO_JWT,
    JWT_BEARER,
    EmulatorClient,
    EmulatorConfig,
    create_app,
    issue_jwt,
)
from loopback_login.emulator.config import DEMO_USER
from loopback_login.errors import ConfigError

Start = Callable[..., Awaitable[EmulatorDriver]]
AUTH = basic(DEMO_CONFIDENTIAL_CLIENT_ID, DEMO_CONFIDENTIAL_SECRET)


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def emu(aiohttp_client: Any, frozen: FrozenClock) -> EmulatorDriver:
    app = create_app(EmulatorConfig(), clock=frozen)
    return EmulatorDriver(await aiohttp_client(app), app)


async def exchange(
    emu: EmulatorDriver, assertion: str, headers: dict[str, str] = AUTH
) -> Any:
    response = await emu.token(headers, grant_type=JWT_BEARER, assertion=assertion)
    return response.status, await response.json()


def refused(body: dict[str, Any]) -> tuple[str, str]:
    return body["error"], body["errors"][0]["errorCode"]


async def test_demo_credential_buys_a_session(emu: EmulatorDriver) -> None:
    """The documented demo credential, sent by the confidential demo app with its
    Basic credentials, buys the demo user's access and refresh tokens."""
    status, body = await exchange(emu, DEMO_JWT)
    assert status == 200, body
    assert body["owner_id"] == DEMO_USER.owner_id
    assert body["token_type"] == "bearer"
    assert body["refresh_token"]
    assert body["session_id"]
    assert emu.state.count("token", grant_type=JWT_BEARER) == 1
    me = await emu.me(body["access_token"])
    assert me.status == 200
    refreshed = await emu.token(
        AUTH, grant_type="refresh_token", refresh_token=body["refresh_token"]
    )
    assert refreshed.status == 200


async def test_a_public_app_may_not_use_the_grant(emu: EmulatorDriver) -> None:
    """A public client (no secret) is unauthorized for the grant: OAU-251."""
    response = await emu.token(
        grant_type=JWT_BEARER, assertion=DEMO_JWT, client_id=DEMO_CLIENT_ID
    )
    assert response.status == 400
    body = await response.json()
    assert refused(body) == ("unauthorized_client", "OAU-251")
    assert body["error_description"] == "Unauthorized for this grant type"


async def test_refused_credentials(emu: EmulatorDriver, frozen: FrozenClock) -> None:
    """Forged, expired, revoked and other apps' credentials are invalid_grant with
    an OAU code; a missing one is invalid_request."""
    forged = issue_jwt(DEMO_USER, key="another key entirely", now=frozen())
    expiring = emu.state.issue_jwt(ttl=60)
    foreign = emu.state.issue_jwt(client_ids=("some-other-app",))
    revoked = emu.state.issue_jwt()
    emu.state.revoke_jwt(revoked)
    frozen.advance(120)
    answers = [await exchange(emu, raw) for raw in (forged, expiring, foreign, revoked)]
    assert [(status, refused(body)) for status, body in answers] == [
        (400, ("invalid_grant", "OAU-213")),
        (400, ("invalid_grant", "OAU-210")),
        (400, ("invalid_grant", "OAU-213")),
        (400, ("invalid_grant", "OAU-213")),
    ]
    assert answers[1][1]["error_description"] == "JWT token is expired"
    response = await emu.token(AUTH, grant_type=JWT_BEARER)
    assert refused(await response.json()) == ("invalid_request", "OAU-101")
    assert emu.state.sessions == []


async def test_a_credential_for_the_app_is_accepted(emu: EmulatorDriver) -> None:
    """A credential restricted to the app that sends it is exchanged."""
    mine = emu.state.issue_jwt(client_ids=(DEMO_CONFIDENTIAL_CLIENT_ID,))
    status, body = await exchange(emu, mine)
    assert status == 200, body


async def test_discovery_lists_the_grant(emu: EmulatorDriver) -> None:
    meta = await (await emu.client.get("/.well-known/openid-configuration")).json()
    assert JWT_BEARER in meta["grant_types_supported"]


def test_a_public_client_cannot_be_given_the_grant() -> None:
    with pytest.raises(ConfigError, match="public client cannot use the JWT grant"):
        EmulatorClient(client_id="x", redirect_uris=(), jwt_grant=True)
