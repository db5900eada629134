"""A token the server refused: pick up another process's refresh for free, else
refresh once, and never loop."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Cli, Emulator, SessionFactory, ThreadedEmulator, login

from loopback_login.api import get_token
from loopback_login.clock import FrozenClock
from loopback_login.emulator import FAULTS, STATE
from loopback_login.errors import LoopbackLoginError, SessionExpiredError
from loopback_login.loopback.browser import FailingBrowser
from loopback_login.store.file_store import FileTokenStore
from loopback_login.store.memory_store import MemoryTokenStore


def refreshes(emulator: Emulator) -> int:
    return emulator.app[STATE].count("token", grant_type="refresh_token")


async def test_a_token_refreshed_elsewhere_costs_no_request(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock
) -> None:
    first = await make_session().login()
    clock.advance(3500)  # inside the refresh margin: the next caller refreshes
    other = await make_session(with_provider=False).get_token()
    assert other.access_token != first.access_token
    assert refreshes(emulator) == 1
    again = make_session(with_provider=False, opener=FailingBrowser())
    got = await again.get_token(rejected=first.access_token)
    assert got.access_token == other.access_token
    assert refreshes(emulator) == 1


async def test_a_refused_token_still_cached_is_refreshed_once(
    make_session: SessionFactory, emulator: Emulator, store: MemoryTokenStore
) -> None:
    """The cached token is fresh by the clock, yet refused: one refresh, and the
    same refused token reported again (by a second program) costs nothing."""
    first = await make_session().login()
    session = make_session(with_provider=False, opener=FailingBrowser())
    fresh = await session.get_token(rejected=first.access_token)
    assert fresh.access_token != first.access_token
    assert refreshes(emulator) == 1
    assert (store.load("default") or {})["tokens"]["access_token"] == fresh.access_token
    late = await make_session(with_provider=False).get_token(
        rejected=first.access_token
    )
    assert late.access_token == fresh.access_token
    assert refreshes(emulator) == 1


async def test_parallel_reports_of_one_refused_token_refresh_once(
    make_session: SessionFactory, emulator: Emulator
) -> None:
    first = await make_session().login()
    sessions = [make_session(with_provider=False) for _ in range(6)]
    got = await asyncio.gather(
        *(s.get_token(rejected=first.access_token) for s in sessions)
    )
    assert len({t.access_token for t in got}) == 1
    assert refreshes(emulator) == 1


async def test_a_refused_token_that_cannot_be_refreshed_is_an_error(
    make_session: SessionFactory, emulator: Emulator, clock: FrozenClock
) -> None:
    """Inside the margin a failed refresh hands out the cached token, but a
    refused one is never handed back: it would only be refused again."""
    first = await make_session().login()
    emulator.app[FAULTS].fail("token", status=503, error="server_error")
    warnings: list[str] = []
    session = make_session(with_provider=False, notify=warnings.append)
    with pytest.raises(LoopbackLoginError) as info:
        await session.get_token(rejected=first.access_token)
    assert "refused the access token" in str(info.value)
    assert first.access_token not in str(info.value)
    assert any("could not refresh" in w for w in warnings)


async def test_a_refused_token_of_an_ended_session(
    make_session: SessionFactory, emulator: Emulator
) -> None:
    first = await make_session().login()
    emulator.app[FAULTS].invalid_grant()
    with pytest.raises(SessionExpiredError):
        await make_session(with_provider=False).get_token(rejected=first.access_token)


async def test_sync_get_token_in_a_loop_fails_even_with_a_valid_cache(
    make_session: SessionFactory, tmp_path: Path
) -> None:
    """The mistake shows on the first call, not only once a refresh is due."""
    await make_session(store=FileTokenStore(tmp_path)).login()
    for _ in range(2):
        with pytest.raises(RuntimeError, match="await aget_token"):
            get_token("default", cache_dir=str(tmp_path))


async def test_login_shows_its_url_on_stderr_by_default(
    make_session: SessionFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    await make_session(notify=None).login()
    err = capsys.readouterr().err
    assert "To sign in, open this URL in your browser" in err


# -- from a shell ---------------------------------------------------------------


def cli_refreshes(emu: ThreadedEmulator) -> int:
    return int(
        emu.call(lambda: emu.app[STATE].count("token", grant_type="refresh_token"))  # type: ignore[index]
    )


def test_token_rejected_from_a_shell(cli: Cli, emu: ThreadedEmulator) -> None:
    """`token --rejected` refreshes only when the refused token is the cached one."""
    login(cli, emu)
    before = cli_refreshes(emu)
    old = cli.entry()["tokens"]["access_token"]
    same = cli("token")
    assert same.stdout == f"{old}\n"
    fresh = cli("token", "--rejected", old)
    assert fresh.returncode == 0, fresh.stderr
    new = fresh.stdout.strip()
    assert new not in ("", old)
    assert cli_refreshes(emu) == before + 1
    # Reported again by a slower script: the cached successor, no request.
    for args in (["--rejected", old], [f"--rejected={old}"], ["--rejected", "-"]):
        again = subprocess.run(
            [sys.executable, "-m", "loopback_login", "token", *args],
            env=cli.env,
            input=f"{old}\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert (again.returncode, again.stdout) == (0, f"{new}\n"), again.stderr
    assert cli_refreshes(emu) == before + 1
    assert old not in fresh.stderr


@pytest.mark.parametrize("args", [["--rejected", "-"], ["--rejected=-"]])
def test_token_rejected_from_stdin_refreshes(
    cli: Cli, emu: ThreadedEmulator, args: list[str]
) -> None:
    login(cli, emu)
    before = cli_refreshes(emu)
    old = cli.entry()["tokens"]["access_token"]
    fresh = subprocess.run(
        [sys.executable, "-m", "loopback_login", "token", *args],
        env=cli.env,
        input=f"{old}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.strip() not in ("", old)
    assert cli_refreshes(emu) == before + 1


def test_a_token_refused_earlier_is_answered_on_the_light_path(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    """When the cache already holds another token, `token --rejected` needs neither
    click nor aiohttp: the cached path prints it."""
    login(cli, emu)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "loopback_login", "token",
         "--rejected", "an-older-token"],
        env=cli.env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{cli.entry()['tokens']['access_token']}\n"
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert "loopback_login.cli.fast" in imported
    for heavy in ("aiohttp", "click", "json"):
        assert heavy not in imported, f"{heavy} imported on the cached path"
