"""A wrong --server fails before any browser opens, in one line, within the HTTP
timeout: nothing listening, TLS to a plain port, a 404 site, an HTML page, silence.
A server without discovery passes by its token endpoint's OAuth error."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

from aiohttp import web
from helpers import Cli, ThreadedEmulator

from loopback_login.emulator import DEMO_CLIENT_ID

HTTP_TIMEOUT = 3.0


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
