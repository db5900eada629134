"""The RingCentral SDK's Platform, signed in from a profile, against the emulator:
the SDK never spends the refresh token, a 401 costs at most one refresh, and its
errors carry no token."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp import web
from helpers import (
    ME,
    Cli,
    ThreadedEmulator,
    end_access_token_at_server,
    expire,
    login,
    refresh_elsewhere,
    refreshes,
)
from http_clients import SEEN, ThreadedApp
from ringcentral.http.api_exception import ApiException

from loopback_login.emulator import STATE
from loopback_login.emulator.handlers_api import PAGER_PATH
from loopback_login.errors import LoopbackLoginError, NotLoggedInError
from loopback_login.http.source import TokenSource
from loopback_login.ringcentral import ProfilePlatform, platform

EmulatorStarter = Callable[..., ThreadedEmulator]


@pytest.fixture
def emu(threaded_emulator: EmulatorStarter) -> ThreadedEmulator:
    return threaded_emulator()


@pytest.fixture
def rc(cli: Cli, emu: ThreadedEmulator) -> ProfilePlatform:
    login(cli, emu)
    return platform(cache_dir=str(cli.home))


def token_requests_by_basic_auth(emu: ThreadedEmulator) -> int:
    records = emu.call(lambda: list(emu.app[STATE].requests))  # type: ignore[index]
    return sum(1 for r in records if r.endpoint == "token" and r.auth_scheme == "Basic")


def test_signed_in_from_the_profile(
    rc: ProfilePlatform, cli: Cli, emu: ThreadedEmulator
) -> None:
    assert rc.logged_in()
    me = rc.get(ME).json_dict()
    assert me["name"] == "Dana Demo"
    assert rc.auth().refresh_token() == ""  # never the SDK's to spend
    assert rc.auth().access_token() == cli.entry()["tokens"]["access_token"]


def test_a_refresh_elsewhere_is_picked_up(
    rc: ProfilePlatform, cli: Cli, emu: ThreadedEmulator
) -> None:
    rc.get(ME)
    new = refresh_elsewhere(cli)
    assert rc.get(ME).json_dict()["name"] == "Dana Demo"
    assert rc.auth().access_token() == new
    assert refreshes(emu) == 1
    assert token_requests_by_basic_auth(emu) == 0


def test_a_due_token_is_refreshed_through_the_profile(
    rc: ProfilePlatform, cli: Cli, emu: ThreadedEmulator
) -> None:
    old = cli.entry()["tokens"]["access_token"]
    expire(cli)
    assert rc.get(ME).ok()
    rc.refresh()
    assert refreshes(emu) == 1
    assert rc.auth().access_token() == cli.entry()["tokens"]["access_token"] != old
    assert token_requests_by_basic_auth(emu) == 0


def test_a_401_costs_one_refresh(
    rc: ProfilePlatform, cli: Cli, emu: ThreadedEmulator
) -> None:
    end_access_token_at_server(emu)
    assert rc.get(ME).json_dict()["name"] == "Dana Demo"
    assert refreshes(emu) == 1
    # The profile's scope lacks InternalMessages: a 403, which no token changes.
    with pytest.raises(ApiException) as info:
        rc.post(PAGER_PATH, body={"text": "hi"})
    assert info.value.api_response().response().status_code == 403
    assert refreshes(emu) == 1


def test_errors_carry_no_token(cli: Cli, emu: ThreadedEmulator) -> None:
    """A server that refuses every token: one refresh, one retry, then the SDK's
    error, whose message names the request but not its token."""
    login(cli, emu)

    async def refuse(request: web.Request) -> web.Response:
        request.app[SEEN].append(request.headers.get("Authorization", ""))
        error = {"errorCode": "OAU-213", "message": "Token not found"}
        return web.json_response({**error, "errors": [error]}, status=401)

    app = web.Application()
    app[SEEN] = []
    app.router.add_get(ME, refuse)
    with ThreadedApp(app) as api:
        rc = ProfilePlatform(
            TokenSource(cache_dir=str(cli.home)), server=api.url, client_id="x"
        )
        with pytest.raises(ApiException) as info:
            rc.get(ME)
    seen = list(app[SEEN])
    assert len(seen) == 2
    assert "OAU-213" in str(info.value)
    for header in seen:
        assert header.split()[1] not in str(info.value)
    assert "[redacted]" in str(info.value)
    assert refreshes(emu) == 1


def test_logout_revokes_through_the_profile(
    rc: ProfilePlatform, cli: Cli, emu: ThreadedEmulator
) -> None:
    access = cli.entry()["tokens"]["access_token"]
    rc.logout()
    assert not (cli.home / "default.json").exists()
    assert not emu.call(lambda: emu.app[STATE].is_session_active(access))  # type: ignore[index]
    assert rc.auth().access_token() == ""
    with pytest.raises(LoopbackLoginError, match="signed in from a loopback-login"):
        rc.login(jwt="x")


def test_no_profile(tmp_path: Path) -> None:
    with pytest.raises(NotLoggedInError) as info:
        platform("work", cache_dir=str(tmp_path))
    assert "loopback-login login --profile work" in (info.value.hint or "")
