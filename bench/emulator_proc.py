"""The package's emulator in a process of its own, timed from the outside.

Nothing is added to the emulator itself: this process builds its app with
``create_app``, wraps it in one more middleware that notes when each request
entered and left the app (``time.perf_counter``, which on Linux is the machine-wide
monotonic clock, so the bench process can line the spans up with its own), and
adds ``/_bench/*`` routes for the bench to read them. It prints its base URL on
stdout and stops when its stdin closes, so it never outlives the bench.

The demo clients also accept ``http://127.0.0.1/`` (any port), the redirect URI
google-auth-oauthlib's ``run_local_server`` sends; and the emulator approves on its
own (``auto_approve``), so no sign-in or consent page is involved.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from loopback_login.emulator import STATE, EmulatorConfig, create_app

# One app per process: the spans can live at module level.
SPANS: list[dict[str, object]] = []


@web.middleware
async def timing(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/_bench/"):
        return await handler(request)
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        end = time.perf_counter()
        grant = None
        if request.path.endswith("/token") and request.method == "POST":
            grant = (await request.post()).get("grant_type")
        SPANS.append(
            {
                "method": request.method,
                "path": request.path,
                "status": status,
                "start": start,
                "end": end,
                "grant_type": grant if isinstance(grant, str) else None,
            }
        )


async def spans(request: web.Request) -> web.Response:
    taken = list(SPANS)
    SPANS.clear()
    return web.json_response(taken)


async def count(request: web.Request) -> web.Response:
    filters = dict(request.query)
    endpoint = filters.pop("endpoint")
    return web.json_response({"count": request.app[STATE].count(endpoint, **filters)})


def config() -> EmulatorConfig:
    base = EmulatorConfig()
    clients = tuple(
        dataclasses.replace(c, redirect_uris=(*c.redirect_uris, "http://127.0.0.1/"))
        for c in base.clients
    )
    return EmulatorConfig(clients=clients, auto_approve=True)


async def main() -> None:
    app = create_app(config())
    # Outermost, so the emulator's own middlewares count as its handling time.
    app.middlewares.insert(0, timing)
    app.router.add_get("/_bench/spans", spans)
    app.router.add_get("/_bench/count", count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"http://127.0.0.1:{port}", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
