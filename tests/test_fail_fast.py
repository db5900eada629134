"""A wrong --server fails before any browser opens, in one line, within the HTTP
timeout; a browser that cannot be opened leaves a way forward (a pasted URL); the
demo goes on headless when its browser fails."""

from __future__ import annotations

import asyncio
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from conftest import ThreadedEmulator
from test_cli import Cli

from loopback_login.emulator import DEMO_CLIENT_ID, STATE
from loopback_login.loopback.browser import BrowserOpener
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.roundtrip import await_callback
from loopback_login.loopback.server import LoopbackServer

HTTP_TIMEOUT = 3.0
WAIT = 15.0


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


class Site:
    """A plain web site on 127.0.0.1 that is not an OAuth server, in a thread."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def __enter__(self) -> Site:
        def run() -> None:
            asyncio.set_event_loop(self._loop)

            async def start() -> None:
                self._runner = web.AppRunner(self._app, shutdown_timeout=0.5)
                await self._runner.setup()
                site = web.TCPSite(self._runner, "127.0.0.1", 0)
                await site.start()
                self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
                self._ready.set()

            self._loop.run_until_complete(start())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def site_of(handler: object) -> Site:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
    return Site(app)


async def not_found(request: web.Request) -> web.Response:
    return web.Response(status=404, text="<h1>Not Found</h1>", content_type="text/html")


async def html_page(request: web.Request) -> web.Response:
    return web.Response(
        text="<html><body>Welcome</body></html>", content_type="text/html"
    )


async def silent(request: web.Request) -> web.Response:
    await asyncio.sleep(60)
    return web.Response()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def login_to(
    cli: Cli, server: str, marker: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = cli(
        "login", "--server", server, "--client-id", DEMO_CLIENT_ID,
        "--http-timeout", str(HTTP_TIMEOUT), "--browser-command", f"touch {marker}",
        *args,
    )  # fmt: skip
    return result, time.monotonic() - started


def assert_failed_fast(
    result: subprocess.CompletedProcess[str], took: float, marker: Path, first: str
) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), result.stderr
    assert re.search(first, lines[0]), lines[0]
    assert len(lines) == 2  # the error and its hint; no URL, no waiting line
    assert not marker.exists(), "a browser was opened"
    assert took < HTTP_TIMEOUT + 10  # process start-up included, never --timeout


def test_nothing_listening(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "opened"
    result, took = login_to(cli, f"http://127.0.0.1:{free_port()}", marker)
    assert_failed_fast(
        result,
        took,
        marker,
        r"cannot reach http://127\.0\.0\.1:\d+: connection refused$",
    )
    assert "--server" in result.stderr


def test_tls_to_a_plain_port(cli: Cli, emu: ThreadedEmulator, tmp_path: Path) -> None:
    marker = tmp_path / "opened"
    plain = emu.url.replace("http://", "https://")
    result, took = login_to(cli, plain, marker)
    assert_failed_fast(result, took, marker, r"does not speak TLS on that port")


def test_a_404_site(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "opened"
    with site_of(not_found) as site:
        result, took = login_to(cli, site.url, marker)
    assert_failed_fast(
        result, took, marker,
        r"does not look like an OAuth server: no discovery document \(HTTP 404\), "
        r"and its token endpoint answered HTTP 404 with an HTML page",
    )  # fmt: skip


def test_an_html_page(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "opened"
    with site_of(html_page) as site:
        result, took = login_to(cli, site.url, marker)
    assert_failed_fast(
        result, took, marker,
        r"does not look like an OAuth server: HTTP 200 with an HTML page",
    )  # fmt: skip


def test_a_server_that_never_answers(cli: Cli, tmp_path: Path) -> None:
    marker = tmp_path / "opened"
    with site_of(silent) as site:
        result, took = login_to(cli, site.url, marker)
    assert_failed_fast(
        result, took, marker, rf"did not answer within {HTTP_TIMEOUT:g} s"
    )


def test_a_server_without_discovery_passes_by_its_token_endpoint(
    cli: Cli, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    """Only the token endpoint's OAuth error for an empty request is needed."""

    async def token_only(request: web.Request) -> web.StreamResponse:
        if request.path == "/restapi/oauth/token":
            return web.json_response({"error": "invalid_request"}, status=400)
        return web.Response(status=404)

    marker = tmp_path / "opened"
    with site_of(token_only) as site:
        result, _ = login_to(cli, site.url, marker, "--timeout", "2", "--no-browser")
    # It got as far as waiting for the sign-in: the check passed.
    assert "Waiting for the sign-in" in result.stderr, result.stderr
    assert "no sign-in finished within 2 seconds" in result.stderr


# -- no browser: a way forward -------------------------------------------------------------


class Login:
    """`login` with a browser command that fails, stdin to paste into, and stderr
    read line by line in a thread so every wait has a deadline."""

    def __init__(self, cli: Cli, emu: ThreadedEmulator, *args: str, **env: str) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "loopback_login", "login",
                "--server", emu.url, "--client-id", DEMO_CLIENT_ID, "--timeout", "30",
                *args,
            ],
            env={**cli.env, **env}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.stderr = ""
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._lines.put(line)

    def wait_for(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while text not in self.stderr:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in: {self.stderr}"
            try:
                self.stderr += self._lines.get(timeout=left)
            except queue.Empty:
                continue

    def paste(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def finish(self) -> int:
        code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        while not self._lines.empty():
            self.stderr += self._lines.get()
        return code

    def close(self) -> None:
        """Kill the process if it still runs, and close its pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self._reader.join(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def start_login(cli: Cli, emu: ThreadedEmulator) -> Iterator[Callable[..., Login]]:
    started: list[Login] = []

    def start(*args: str) -> Login:
        started.append(Login(cli, emu, *args))
        return started[-1]

    yield start
    for login in started:
        login.close()


def callback_url(start: str) -> str:
    """What a browser elsewhere ends on: the short URL's redirect, then the
    auto-approving emulator's redirect to the callback (not followed)."""
    import http.client
    from urllib.parse import urlsplit

    location = start
    for _ in range(2):
        parts = urlsplit(location)
        conn_class = (
            http.client.HTTPSConnection
            if parts.scheme == "https"
            else http.client.HTTPConnection
        )
        conn = conn_class(parts.netloc, timeout=10)
        try:
            conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
            location = conn.getresponse().getheader("Location") or ""
        finally:
            conn.close()
    return location


def test_a_paste_is_accepted_after_the_browser_failed(
    cli: Cli, emu: ThreadedEmulator, start_login: Callable[..., Login]
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
    cli: Cli, start_login: Callable[..., Login]
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
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(full.group(0))
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    conn.request("GET", f"{parts.path}?{parts.query}")
    location = conn.getresponse().getheader("Location")
    conn.close()
    assert location is not None
    login.paste(location)
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
