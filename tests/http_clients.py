"""One way to send a request through each adapter, and a real aiohttp server in a
thread for the sync clients to talk to."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import httpx
from aiohttp import web

from loopback_login.http.aiohttp_auth import aiohttp_session
from loopback_login.http.httpx_auth import HttpxAuth
from loopback_login.http.requests_auth import requests_session
from loopback_login.http.source import TokenSource

CLIENTS = ["requests", "httpx", "httpx-async", "aiohttp"]
SEEN = web.AppKey("seen", list[str])


def send(
    kind: str,
    source: TokenSource,
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    stream: bool = False,
) -> tuple[int, Any]:
    """Send one request through ``kind``'s adapter: (status, parsed JSON body).

    ``stream`` sends ``body`` from a generator, a body that cannot be sent twice.
    """
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}

    def chunks() -> Iterator[bytes]:
        assert data is not None
        yield data

    async def achunks() -> AsyncIterator[bytes]:
        assert data is not None
        yield data

    if kind == "requests":
        with requests_session(source=source) as session:
            r = session.request(
                method, url, data=chunks() if stream else data, headers=headers
            )
            return r.status_code, r.json()
    if kind == "httpx":
        with httpx.Client(auth=HttpxAuth(source=source)) as client:
            h = client.request(
                method, url, content=chunks() if stream else data, headers=headers
            )
            return h.status_code, h.json()

    async def go() -> tuple[int, Any]:
        if kind == "httpx-async":
            async with httpx.AsyncClient(auth=HttpxAuth(source=source)) as client:
                a = await client.request(
                    method, url, content=achunks() if stream else data, headers=headers
                )
                return a.status_code, a.json()
        assert kind == "aiohttp"
        async with (
            aiohttp_session(source=source) as session,
            session.request(
                method, url, data=achunks() if stream else data, headers=headers
            ) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    return asyncio.run(go())


class ThreadedApp:
    """An aiohttp app served on 127.0.0.1 from its own thread and loop."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.url = ""
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self._runner = web.AppRunner(self.app, access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = self._runner.addresses[0][1]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def __enter__(self) -> ThreadedApp:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._runner is not None
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


def forwarding_app(target: str, before: Any = None) -> web.Application:
    """Forwards every request to ``target``; ``before(request_number)`` runs first
    (in a worker thread), e.g. another process's refresh while a request is in
    flight. ``app[SEEN]`` lists the Authorization headers it received."""
    seen: list[str] = []

    async def forward(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Authorization", ""))
        if before is not None:
            await asyncio.to_thread(before, len(seen))
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                request.method,
                target + request.path_qs,
                data=await request.read(),
                headers=headers,
            ) as answer,
        ):
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )

    app = web.Application()
    app[SEEN] = seen
    app.router.add_route("*", "/{tail:.*}", forward)
    return app
