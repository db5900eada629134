"""The HTTP adapters against the real emulator, with real processes refreshing the
profile meanwhile: a 401 costs at most one refresh across processes, never a loop."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable

import pytest
from aiohttp import web
from helpers import (
    ME,
    Cli,
    ThreadedEmulator,
    api_count,
    end_access_token_at_server,
    login,
    refresh_elsewhere,
    refreshes,
)
from http_clients import CLIENTS, SEEN, ThreadedApp, forwarding_app, send

from loopback_login.emulator import FAULTS
from loopback_login.emulator.handlers_api import PAGER_PATH
from loopback_login.errors import SessionExpiredError
from loopback_login.http.source import TokenSource

EmulatorStarter = Callable[..., ThreadedEmulator]
PAGER_SCOPE = "openid profile email ReadAccounts InternalMessages"


@pytest.fixture
def emu(threaded_emulator: EmulatorStarter) -> ThreadedEmulator:
    return threaded_emulator()


def source(cli: Cli) -> TokenSource:
    return TokenSource(cache_dir=str(cli.home))


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_refresh_by_another_process_while_in_flight_costs_no_refresh(
    kind: str, cli: Cli, emu: ThreadedEmulator
) -> None:
    """The request leaves with the old token; another process refreshes before it
    arrives; the 401 is answered with the other process's token, no request of
    our own at the token endpoint."""
    login(cli, emu)
    old = cli.entry()["tokens"]["access_token"]
    new: list[str] = []

    def race(number: int) -> None:
        if number == 1:
            new.append(refresh_elsewhere(cli))

    with ThreadedApp(forwarding_app(emu.url, race)) as proxy:
        status, body = send(kind, source(cli), "GET", proxy.url + ME)
        seen = proxy.app[SEEN]
    assert (status, body["name"]) == (200, "Dana Demo")
    assert seen == [f"Bearer {old}", f"Bearer {new[0]}"]
    assert refreshes(emu) == 1  # the other process's


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_refused_token_still_cached_is_refreshed_once(
    kind: str, cli: Cli, emu: ThreadedEmulator
) -> None:
    login(cli, emu)
    old = cli.entry()["tokens"]["access_token"]
    end_access_token_at_server(emu)
    status, body = send(kind, source(cli), "GET", emu.url + ME)
    assert (status, body["name"]) == (200, "Dana Demo")
    assert refreshes(emu) == 1
    assert cli.entry()["tokens"]["access_token"] != old
    assert api_count(emu, "extension") == 2


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_second_401_is_the_answer(kind: str, cli: Cli, emu: ThreadedEmulator) -> None:
    """A server that refuses every token: one refresh, one retry, then its 401."""
    login(cli, emu)

    async def refuse(request: web.Request) -> web.Response:
        request.app[SEEN].append(request.headers.get("Authorization", ""))
        error = {"errorCode": "OAU-213", "message": "Token not found"}
        return web.json_response({**error, "errors": [error]}, status=401)

    app = web.Application()
    app[SEEN] = []
    app.router.add_get(ME, refuse)
    with ThreadedApp(app) as api:
        status, body = send(kind, source(cli), "GET", api.url + ME)
        seen = list(app[SEEN])
    assert (status, body["errorCode"]) == (401, "OAU-213")
    assert len(seen) == 2
    assert seen[0] != seen[1]
    assert refreshes(emu) == 1


@pytest.mark.parametrize("kind", CLIENTS)
def test_403_never_refreshes(kind: str, cli: Cli, emu: ThreadedEmulator) -> None:
    login(cli, emu)  # without InternalMessages
    status, body = send(
        kind, source(cli), "POST", emu.url + PAGER_PATH, body={"text": "hi"}
    )
    assert (status, body["errorCode"]) == (403, "CMN-401")
    assert refreshes(emu) == 0


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_body_sent_twice(kind: str, cli: Cli, emu: ThreadedEmulator) -> None:
    login(cli, emu, "--scope", PAGER_SCOPE)
    end_access_token_at_server(emu)
    status, body = send(
        kind, source(cli), "POST", emu.url + PAGER_PATH, body={"text": "hello"}
    )
    assert (status, body["subject"]) == (200, "hello")
    assert refreshes(emu) == 1


@pytest.mark.parametrize("kind", CLIENTS)
def test_a_streamed_body_is_not_sent_twice(
    kind: str, cli: Cli, emu: ThreadedEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The 401 comes back with a note that names no token; the refresh is done
    once, so the next request goes through."""
    login(cli, emu, "--scope", PAGER_SCOPE)
    old = cli.entry()["tokens"]["access_token"]
    end_access_token_at_server(emu)
    shared = source(cli)
    with caplog.at_level(logging.DEBUG):
        status, body = send(
            kind, shared, "POST", emu.url + PAGER_PATH, body={"text": "x"}, stream=True
        )
    assert (status, body["errorCode"]) == (401, "OAU-128")
    assert "not sent again" in caplog.text
    new = cli.entry()["tokens"]["access_token"]
    for token in (old, new):
        assert token not in caplog.text
    assert refreshes(emu) == 1
    status, body = send(
        kind, shared, "POST", emu.url + PAGER_PATH, body={"text": "y"}, stream=True
    )
    assert (status, body["subject"]) == (200, "y")
    assert refreshes(emu) == 1


def test_the_kept_token_follows_the_entry_file(cli: Cli, emu: ThreadedEmulator) -> None:
    """No read while the file is unchanged; a write by another process is seen on
    the next call, without a 401."""
    login(cli, emu)
    kept = source(cli)
    first = kept.token()
    assert kept.token() == first
    new = refresh_elsewhere(cli)
    assert new != first
    assert kept.token() == new


def test_importing_the_package_imports_no_http_library() -> None:
    code = (
        "import sys, loopback_login\n"
        "loopback_login.TokenSource\n"
        "print(sorted(m for m in ('requests', 'httpx', 'ringcentral') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kind", CLIENTS)
def test_an_ended_session_is_an_error_not_a_401(
    kind: str, cli: Cli, emu: ThreadedEmulator
) -> None:
    """The refresh a 401 calls for is refused (invalid_grant): the caller gets
    SessionExpiredError, which says to log in again."""
    login(cli, emu)
    end_access_token_at_server(emu)
    emu.call(lambda: emu.app[FAULTS].invalid_grant())  # type: ignore[index]
    with pytest.raises(SessionExpiredError) as info:
        send(kind, source(cli), "GET", emu.url + ME)
    assert "loopback-login login --profile default" in (info.value.hint or "")
    assert refreshes(emu) == 1
