"""A way forward without a browser: when the browser cannot be opened, or over SSH
without a display, the URL the browser ended on is taken pasted; the demo goes on
headless when its browser fails; the waiting line is said once."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator

import aiohttp
import pytest
from helpers import Cli, LoginProcess, ThreadedEmulator, login, redirect_of

from loopback_login.emulator import STATE
from loopback_login.loopback.browser import BrowserOpener
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.roundtrip import await_callback
from loopback_login.loopback.server import LoopbackServer


@pytest.fixture
def start_login(
    cli: Cli, emu: ThreadedEmulator
) -> Iterator[Callable[..., LoginProcess]]:
    """`login` processes that use the browser the environment gives."""
    started: list[LoginProcess] = []

    def start(*args: str) -> LoginProcess:
        started.append(LoginProcess(cli, emu, *args, no_browser=False))
        return started[-1]

    yield start
    for process in started:
        process.close()


def callback_url(start: str) -> str:
    """What a browser elsewhere ends on: the short URL's redirect, then the
    auto-approving emulator's redirect to the callback (not followed)."""
    return redirect_of(redirect_of(start))


def test_a_paste_is_accepted_after_the_browser_failed(
    cli: Cli, emu: ThreadedEmulator, start_login: Callable[..., LoginProcess]
) -> None:
    """The browser command fails: one line says so, names --no-browser and asks for
    the URL; the pasted callback URL signs in."""
    exchanges = emu.call(lambda: emu.app[STATE].count("token"))  # type: ignore[index]
    login = start_login("--browser-command", "false")
    login.wait_for("paste the URL it ended on here")
    assert "No browser could be opened (--no-browser skips trying)" in login.stderr
    assert "paste the URL it ended on here" in login.stderr
    # The short URL was shown, and the full one for a browser on another machine.
    short = re.search(r"http://127\.0\.0\.1:\d+/\s", login.stderr)
    assert short is not None, login.stderr
    full = re.search(
        r"http://127\.0\.0\.1:\d+/restapi/oauth/authorize\?\S+", login.stderr
    )
    assert full is not None, login.stderr
    login.paste(callback_url(short.group(0).strip()))
    assert login.finish() == 0, login.stderr
    assert "Signed in to" in login.stderr
    assert login.stderr.count("Waiting for the sign-in") == 1
    assert cli.entry()["tokens"]["access_token"]
    # The check before the browser is a discovery GET, never an auth request
    # (RingCentral allows five a minute): one token request, the code's.
    assert emu.call(lambda: emu.app[STATE].count("token")) == exchanges + 1  # type: ignore[index]


def test_ssh_without_a_display_behaves_like_no_browser(
    cli: Cli, start_login: Callable[..., LoginProcess]
) -> None:
    """Over SSH with no display: no browser is tried (BROWSER unset), the full URL is
    printed for the person's own browser, and the pasted URL signs in."""
    env = {
        k: v
        for k, v in cli.env.items()
        if k not in ("BROWSER", "DISPLAY", "WAYLAND_DISPLAY")
    }
    cli.env = {**env, "SSH_CONNECTION": "10.0.0.2 50000 10.0.0.1 22"}
    login = start_login()
    login.wait_for("paste the URL it ended on here")
    assert "SSH session without a display" in login.stderr
    full = re.search(
        r"http://127\.0\.0\.1:\d+/restapi/oauth/authorize\?\S+", login.stderr
    )
    assert full is not None, login.stderr
    # What the person's browser ends on, from the full URL itself.
    login.paste(redirect_of(full.group(0)))
    assert login.finish() == 0, login.stderr


def test_demo_goes_on_headless_when_the_browser_fails(cli: Cli) -> None:
    result = cli("demo", BROWSER="false")
    assert result.returncode == 0, result.stderr
    assert "The browser could not be opened: going on headless" in result.stderr
    assert "6. Logged out" in result.stderr


async def test_the_waiting_line_is_said_once(http: aiohttp.ClientSession) -> None:
    """While the login waits, one line says so, after the browser was sent off."""
    said: list[str] = []

    class Late:
        async def open(self, url: str) -> bool:
            await asyncio.sleep(0.1)
            return True

    opener: BrowserOpener = Late()
    async with LoopbackServer(LoopbackConfig(timeout=5), expected_state="s") as server:

        async def come_back() -> None:
            await asyncio.sleep(1.2)
            async with http.get(f"{server.redirect_uri}?code=c&state=s"):
                pass

        returning = asyncio.create_task(come_back())
        code = await await_callback(
            server, server.start_url, opener=opener, notify=said.append
        )
        await returning
    assert code == "c"
    assert said == ["Waiting for the sign-in in the browser… Ctrl-C to cancel."]


def test_the_short_url_is_shown_and_verbose_adds_the_full_one(
    cli: Cli, emu: ThreadedEmulator
) -> None:
    plain = login(cli, emu)
    shown = re.search(r"open this URL in your browser:\n\n    (\S+)\n", plain.stderr)
    assert shown is not None, plain.stderr
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", shown.group(1))
    assert "/restapi/oauth/authorize?" not in plain.stderr

    verbose = login(cli, emu, "--verbose")
    assert re.search(
        r"the authorize URL: http://127\.0\.0\.1:\d+/restapi/oauth/authorize\?\S*"
        r"code_challenge=",
        verbose.stderr,
    ), verbose.stderr
