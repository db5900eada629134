"""The loopback redirect server, over real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from loopback_login.clock import FrozenClock
from loopback_login.errors import (
    AuthorizationError,
    AuthorizationTimeoutError,
    LoopbackBindError,
)
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.server import LoopbackServer, Outcome

STATE = "the-state"


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer(LoopbackConfig(timeout=5), expected_state=STATE) as srv:
        yield srv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_binds_loopback_with_a_free_port(server: LoopbackServer) -> None:
    """The default redirect URI is 127.0.0.1 on the port actually bound."""
    assert server.redirect_uri.startswith("http://127.0.0.1:")
    assert server.redirect_uri.endswith("/callback")
    port = int(server.redirect_uri.split(":")[2].split("/")[0])
    assert port > 0


async def test_stray_requests_do_not_end_the_login(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """A favicon fetch is a 404, a forged callback a 400; then the real one wins."""
    base = server.redirect_uri.rsplit("/", 1)[0]
    async with http.get(f"{base}/favicon.ico") as resp:
        assert resp.status == 404
    async with http.get(
        server.redirect_uri, params={"state": "forged", "code": "x"}
    ) as resp:
        assert resp.status == 400
        assert "not part of the sign-in" in await resp.text()
    async with http.get(server.redirect_uri, params={"error": "access_denied"}) as resp:
        assert resp.status == 400

    async def callback() -> str:
        async with http.get(
            server.redirect_uri, params={"state": STATE, "code": "good"}
        ) as resp:
            return await resp.text()

    page = asyncio.create_task(callback())
    assert await server.wait_for_code() == "good"
    server.finish(Outcome(account="Dana <d@example.com>"))
    text = await page
    assert "Dana &lt;d@example.com&gt;" in text
    async with http.get(
        server.redirect_uri, params={"state": STATE, "code": "again"}
    ) as resp:
        assert "already finished" in await resp.text()


async def test_error_callback_fails_the_login_and_escapes(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """error= with our state fails the login; its description is HTML-escaped."""
    evil = "<script>alert(1)</script>"
    async with http.get(
        server.redirect_uri,
        params={"state": STATE, "error": "access_denied", "error_description": evil},
    ) as resp:
        text = await resp.text()
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert evil not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    with pytest.raises(AuthorizationError) as info:
        await server.wait_for_code()
    assert info.value.error == "access_denied"


async def test_timeout_then_port_released() -> None:
    """No callback in time is a timeout, not a moment before; the port is free
    again afterwards. Time moves by hand: no test waits on the wall clock."""
    clock = FrozenClock()
    port = free_port()
    config = LoopbackConfig(redirect_uris=(f"http://127.0.0.1:{port}/cb",), timeout=300)
    async with LoopbackServer(config, expected_state=STATE, sleep=clock.sleep) as srv:
        waiting = asyncio.create_task(srv.wait_for_code())
        await clock.until_sleepers()
        clock.advance(299.9)
        await asyncio.sleep(0)
        assert not waiting.done()
        clock.advance(0.1)
        with pytest.raises(AuthorizationTimeoutError):
            await waiting
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_reminder_fires_while_waiting() -> None:
    """At the reminder's time the reminder runs once, and the wait goes on."""
    clock = FrozenClock()
    calls: list[int] = []
    config = LoopbackConfig(timeout=300)
    async with LoopbackServer(config, expected_state=STATE, sleep=clock.sleep) as srv:
        waiting = asyncio.create_task(
            srv.wait_for_code(reminder_after=30, reminder=lambda: calls.append(1))
        )
        await clock.until_sleepers()
        clock.advance(30)
        await clock.until_sleepers()
        assert calls == [1]
        assert not waiting.done()
        clock.advance(270)
        with pytest.raises(AuthorizationTimeoutError):
            await waiting
    assert calls == [1]


async def test_busy_pinned_port_is_named() -> None:
    """A busy pinned port fails with its number and a suggestion."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        config = LoopbackConfig(redirect_uris=(f"http://127.0.0.1:{port}/cb",))
        with pytest.raises(LoopbackBindError) as info:
            async with LoopbackServer(config, expected_state=STATE):
                pass
    assert str(port) in str(info.value)
    assert info.value.hint
    assert str(port + 1) in info.value.hint


async def test_fallback_uris_tried_in_order() -> None:
    """When the first registered port is busy, the next one is used."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        busy = blocker.getsockname()[1]
        spare = free_port()
        config = LoopbackConfig(
            redirect_uris=(
                f"http://127.0.0.1:{busy}/cb",
                f"http://127.0.0.1:{spare}/cb",
            )
        )
        async with LoopbackServer(config, expected_state=STATE) as srv:
            assert srv.redirect_uri == f"http://127.0.0.1:{spare}/cb"


async def test_localhost_listens_on_both_families(http: aiohttp.ClientSession) -> None:
    """A localhost redirect URI is served on 127.0.0.1 and, where there is IPv6, ::1."""
    port = free_port()
    config = LoopbackConfig(redirect_uris=(f"http://localhost:{port}/cb",))
    async with LoopbackServer(config, expected_state=STATE) as srv:
        assert srv.redirect_uri == f"http://localhost:{port}/cb"
        async with http.get(f"http://127.0.0.1:{port}/nothing") as resp:
            assert resp.status == 404
        if socket.has_ipv6:
            try:
                with socket.socket(socket.AF_INET6) as probe:
                    probe.connect(("::1", port))
            except OSError as exc:  # no IPv6 loopback on this machine
                pytest.skip(f"::1 is not available here: {exc}")


async def test_not_reachable_on_other_addresses(server: LoopbackServer) -> None:
    """The server answers on 127.0.0.1 only, not on this machine's other addresses.

    127.0.0.2 reaches this machine too (all of 127/8 is loopback on Linux), so a
    listener on 0.0.0.0 would answer there; ours must not.
    """
    port = int(server.redirect_uri.split(":")[2].split("/")[0])
    others = {
        str(info[4][0])
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        if info[4][0] != "127.0.0.1"
    } | {"127.0.0.2"}
    with socket.socket() as probe:
        probe.connect(("127.0.0.1", port))  # the probe itself works
    for address in others:
        with socket.socket() as probe:
            probe.settimeout(1)
            with pytest.raises((ConnectionRefusedError, TimeoutError, OSError)):
                probe.connect((address, port))


async def test_host_header_checked(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """A request naming another host (DNS rebinding) is refused."""
    async with http.get(
        server.redirect_uri,
        params={"state": STATE, "code": "c"},
        headers={"Host": "evil.example"},
    ) as resp:
        assert resp.status == 421
    assert not server._code.done()  # type: ignore[union-attr]


async def test_index_redirects_to_authorize(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """The short URL sends the browser to the authorization URL."""
    server.authorize_with_get(
        "https://platform.ringcentral.com/restapi/oauth/authorize?x=1"
    )
    async with http.get(server.start_url, allow_redirects=False) as resp:
        assert resp.status == 302
        assert resp.headers["Location"].endswith("/authorize?x=1")


async def test_post_page_escapes_fields(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """The POST page carries the fields escaped, and a CSP allowing only its script."""
    server.authorize_with_post(
        "https://platform.ringcentral.com/restapi/oauth/authorize",
        {"state": STATE, "login_hint": '"><script>x()</script>'},
    )
    async with http.get(server.start_url) as resp:
        text = await resp.text()
        csp = resp.headers["Content-Security-Policy"]
    assert (
        '<form id="authorize" method="post" action="https://platform.ringcentral.com/restapi/oauth/authorize">'
        in text
    )
    assert "&quot;&gt;&lt;script&gt;x()&lt;/script&gt;" in text
    assert "<script>x()" not in text
    assert "script-src 'sha256-" in csp


SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def assert_secured(headers: Mapping[str, str], status: int) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (status, name, dict(headers))
    assert "default-src 'none'" in headers.get("Content-Security-Policy", ""), status
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], status


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection; everything the server answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()


def port_of(server: LoopbackServer) -> int:
    return int(server.redirect_uri.split(":")[2].split("/")[0])


async def test_head_is_refused(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """Only GET is served: HEAD on the callback or the start URL is a 405."""
    server.authorize_with_get(
        "https://platform.ringcentral.com/restapi/oauth/authorize"
    )
    for url in (server.redirect_uri, server.start_url):
        async with http.head(url, params={"state": STATE, "code": "c"}) as resp:
            assert resp.status == 405, url
            assert_secured(resp.headers, 405)
    assert not server._code.done()  # type: ignore[union-attr]


async def test_every_reply_carries_the_security_headers(
    server: LoopbackServer, http: aiohttp.ClientSession
) -> None:
    """404, 405, 421 and aiohttp's own 400 for an unreadable request carry the
    pages' headers, as the pages do."""
    base = server.redirect_uri.rsplit("/", 1)[0]
    async with http.get(f"{base}/favicon.ico") as resp:
        assert resp.status == 404
        assert_secured(resp.headers, 404)
    async with http.post(server.redirect_uri) as resp:
        assert resp.status == 405
        assert_secured(resp.headers, 405)
    async with http.get(server.redirect_uri, headers={"Host": "evil.example"}) as resp:
        assert resp.status == 421
        assert_secured(resp.headers, 421)
    async with http.get(server.redirect_uri, params={"state": "forged"}) as resp:
        assert resp.status == 400
        assert_secured(resp.headers, 400)
    answer = await raw_exchange(port_of(server), b"GET / HTTP/9.9\r\n\r\n")
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.split(" ")[1] == "400", head
    headers = dict(
        line.split(": ", 1) for line in head.splitlines()[1:] if ": " in line
    )
    assert_secured(headers, 400)


async def test_idle_and_slow_connections_are_closed() -> None:
    """A connection that sends nothing, or a request that never ends, is closed
    after the idle timeout although bytes keep coming."""
    config = LoopbackConfig(timeout=5)
    async with LoopbackServer(config, expected_state=STATE, idle_timeout=0.5) as srv:
        port = port_of(srv)
        silent = await asyncio.open_connection("127.0.0.1", port)
        slow = await asyncio.open_connection("127.0.0.1", port)
        slow[1].write(b"GET /callback?state=")
        for _ in range(3):  # a byte at a time does not keep it open
            await asyncio.sleep(0.1)
            slow[1].write(b"x")
        for reader, writer in (silent, slow):
            assert await asyncio.wait_for(reader.read(), 3) == b""
            writer.close()


async def test_connections_are_bounded_and_the_callback_gets_in(
    http: aiohttp.ClientSession,
) -> None:
    """Over the bound, the oldest idle connection is dropped: 40 squatters on a
    bound of 8 leave at most 8 open, and the real callback is answered."""
    config = LoopbackConfig(timeout=5)
    async with LoopbackServer(config, expected_state=STATE, max_connections=8) as srv:
        port = port_of(srv)
        squatters = [
            await asyncio.open_connection("127.0.0.1", port) for _ in range(40)
        ]
        await asyncio.sleep(0.2)
        still_open = 0
        for reader, _ in squatters:
            try:
                await asyncio.wait_for(reader.read(), 0.05)
            except TimeoutError:
                still_open += 1
        assert still_open <= 8

        async def callback() -> int:
            async with http.get(
                srv.redirect_uri, params={"state": STATE, "code": "c"}
            ) as resp:
                return resp.status

        task = asyncio.create_task(callback())
        assert await srv.wait_for_code() == "c"
        srv.finish(Outcome(account="A"))
        assert await task == 200
        for _, writer in squatters:
            writer.close()
