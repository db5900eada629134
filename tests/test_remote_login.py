"""Remote and headless logins: `login --no-browser` takes the redirect URL pasted on
stdin, with the same checks as a callback over HTTP; Ctrl-C frees the port; a busy
pinned port is named; the reminder repeats the URL while the login keeps waiting."""

from __future__ import annotations

import asyncio
import http.client
import shutil
import signal
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import aiohttp
import pytest
from helpers import (
    WAIT,
    Cli,
    Emulator,
    LoginProcess,
    SessionFactory,
    ThreadedEmulator,
    query_of,
    redirect_of,
)

from loopback_login.clock import FrozenClock
from loopback_login.emulator import DEMO_CLIENT_ID, FAULTS, STATE
from loopback_login.loopback.config import LoopbackConfig


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    made = Cli(tmp_path / "home")
    # --no-browser must not use $BROWSER; if it did, this one fails at once.
    made.env["BROWSER"] = f"{shutil.which('false') or '/bin/false'} %s"
    return made


def count(emu: ThreadedEmulator, endpoint: str, **filters: str) -> int:
    return int(emu.call(lambda: emu.app[STATE].count(endpoint, **filters)))  # type: ignore[index]


StartLogin = Callable[..., LoginProcess]


@pytest.fixture
def start_login(cli: Cli, emu: ThreadedEmulator) -> Iterator[StartLogin]:
    """Start `login --no-browser` processes; any still running at the end is killed."""
    started: list[LoginProcess] = []

    def start(*args: str) -> LoginProcess:
        process = LoginProcess(cli, emu, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def with_params(url: str, **params: str) -> str:
    """``url`` with ``params`` replacing or joining those in its query."""
    merged = {**query_of(url), **params}
    return url.split("?", 1)[0] + "?" + urlencode(merged)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_forged_paste_is_refused_then_the_real_one_signs_in(
    start_login: StartLogin, cli: Cli, emu: ThreadedEmulator
) -> None:
    """A pasted URL with another state is refused and the login waits; the real one wins."""
    login = start_login()
    location = redirect_of(login.authorize_url())
    assert query_of(location)["code"]
    login.paste(with_params(location, state="forged-state"))
    login.wait_for("not from this sign-in")
    login.paste(location)  # signs in only if the forgery left the login waiting
    assert login.finish() == 0, login.stderr
    assert "Signed in to" in login.stderr
    assert "paste the URL it ended on here" in login.stderr
    assert login.stdout == ""
    access = cli.entry()["tokens"]["access_token"]
    assert emu.call(lambda: emu.app[STATE].is_session_active(access))  # type: ignore[index]
    assert access not in login.stderr + login.stdout


def test_pasted_access_denied_fails_the_login(
    start_login: StartLogin, cli: Cli
) -> None:
    """error=access_denied with the right state ends the login with exit 1 and the error."""
    login = start_login()
    authorize = login.authorize_url()
    params = query_of(authorize)
    denied = params["redirect_uri"] + "?" + urlencode(
        {"error": "access_denied", "error_description": "The user said no",
         "state": params["state"]}
    )  # fmt: skip
    login.paste(denied)
    assert login.finish() == 1, login.stderr
    assert "error: access_denied: The user said no" in login.stderr
    assert "cancelled or denied" in login.stderr
    assert "Traceback" not in login.stderr
    assert not (cli.home / "default.json").exists()


def test_pasted_url_from_another_issuer_fails_the_login(
    start_login: StartLogin, cli: Cli, emu: ThreadedEmulator
) -> None:
    """A pasted URL with our state but a foreign iss fails the login; its code is never redeemed."""
    redeemed = count(emu, "token", grant_type="authorization_code")
    login = start_login()
    location = redirect_of(login.authorize_url())
    login.paste(with_params(location, iss="https://evil.example"))
    assert login.finish() == 1, login.stderr
    assert "https://evil.example" in login.stderr
    assert "issuer" in login.stderr
    assert count(emu, "token", grant_type="authorization_code") == redeemed
    assert not (cli.home / "default.json").exists()


def test_browser_callback_first_wins_without_a_paste(
    start_login: StartLogin, cli: Cli
) -> None:
    """When the browser reaches the loopback server first, the login ends with nothing pasted."""
    login = start_login()
    location = redirect_of(login.authorize_url())
    parts = urlsplit(location)
    conn = http.client.HTTPConnection(parts.netloc, timeout=WAIT)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        page = conn.getresponse().read().decode()
    finally:
        conn.close()
    assert "You are signed in" in page
    assert login.finish() == 0, login.stderr
    assert cli.entry()["tokens"]["access_token"]


async def test_paste_first_wins_over_a_late_browser(
    make_session: SessionFactory, emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    """A paste that arrives first wins: the browser's later callback gets "already finished"
    and the code is redeemed once."""
    seen: list[str] = []
    opened = asyncio.Event()
    late_pages: list[asyncio.Task[str]] = []

    class Recorder:
        async def open(self, url: str) -> bool:
            seen.append(url)
            opened.set()
            return False

    async def late_browser(location: str) -> str:
        await asyncio.sleep(0.1)  # the code exchange is still held up by the delay
        async with http.get(location) as response:
            return await response.text()

    async def pasted() -> AsyncIterator[str]:
        await opened.wait()
        # The opener got the short local URL: it redirects to the authorize URL,
        # which the auto-approving emulator redirects to the callback.
        location = seen[0]
        for _ in range(2):
            async with http.get(location, allow_redirects=False) as response:
                location = response.headers["Location"]
        late_pages.append(asyncio.create_task(late_browser(location)))
        yield location

    emulator.app[FAULTS].delay("token", 0.5)
    session = make_session(opener=Recorder(), pasted=pasted())
    tokens = await asyncio.wait_for(session.login(), WAIT)
    assert tokens.access_token
    page = await asyncio.wait_for(late_pages[0], WAIT)
    assert "already finished" in page
    assert emulator.app[STATE].count("token", grant_type="authorization_code") == 1


async def test_reminder_repeats_the_url_and_a_later_paste_still_signs_in(
    make_session: SessionFactory, http: aiohttp.ClientSession, clock: FrozenClock
) -> None:
    """After the reminder (30 s by default) the URL is shown again and the login keeps
    waiting, so a URL pasted after it still signs in."""
    assert LoopbackConfig().reminder_after == 30.0
    said: list[str] = []
    urls: list[str] = []
    reminded = asyncio.Event()

    def notify(message: str) -> None:
        said.append(message)
        if message.startswith("Still waiting"):
            reminded.set()

    class Recorder:
        async def open(self, url: str) -> bool:
            urls.append(url)
            return False

    async def pasted() -> AsyncIterator[str]:
        await reminded.wait()
        location = urls[0]  # the short local URL, then the authorize URL
        for _ in range(2):
            async with http.get(location, allow_redirects=False) as response:
                location = response.headers["Location"]
        yield location

    session = make_session(
        opener=Recorder(),
        notify=notify,
        pasted=pasted(),
        loopback=LoopbackConfig(timeout=300),
    )
    login = asyncio.create_task(session.login())
    await clock.until_sleepers()
    clock.advance(30)
    tokens = await asyncio.wait_for(login, WAIT)
    assert tokens.access_token
    reminders = [s for s in said if s.startswith("Still waiting")]
    assert len(reminders) == 1
    assert urls[0] in reminders[0]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_exits_130_and_frees_the_port(start_login: StartLogin, cli: Cli) -> None:
    """Ctrl-C while waiting exits 130 with no traceback, saves nothing, and the port is free at once."""
    port = free_port()
    login = start_login("--redirect-uri", f"http://127.0.0.1:{port}/callback")
    assert query_of(login.authorize_url())["redirect_uri"] == (
        f"http://127.0.0.1:{port}/callback"
    )
    login.proc.send_signal(signal.SIGINT)
    assert login.finish() == 130, login.stderr
    assert "Traceback" not in login.stderr
    with socket.socket() as sock:  # no SO_REUSEADDR: the listener must be gone
        sock.bind(("127.0.0.1", port))
    assert not (cli.home / "default.json").exists()


@pytest.mark.parametrize(
    ("family", "held", "uri_host"),
    [
        (socket.AF_INET, "127.0.0.1", "127.0.0.1"),
        (socket.AF_INET6, "::1", "localhost"),  # only localhost's IPv6 half is busy
    ],
    ids=["127.0.0.1", "localhost-ipv6-half"],
)
def test_busy_pinned_port_is_named_with_the_next(
    cli: Cli, emu: ThreadedEmulator, family: int, held: str, uri_host: str
) -> None:
    """A busy pinned port fails at once, naming the port and suggesting the next one."""
    before = count(emu, "authorize")
    with socket.socket(family) as blocker:
        try:
            blocker.bind((held, 0))
        except OSError as exc:
            pytest.skip(f"no {held} on this machine: {exc}")
        blocker.listen()
        port = blocker.getsockname()[1]
        result = cli(
            "login", "--server", emu.url, "--client-id", DEMO_CLIENT_ID,
            "--redirect-uri", f"http://{uri_host}:{port}/callback",
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"error: port {port} is in use")
    assert f"http://{uri_host}:{port + 1}/callback" in hint
    assert "--redirect-uri" in hint
    assert count(emu, "authorize") == before
    assert not (cli.home / "default.json").exists()
