"""A small JSON API on 127.0.0.1 for the adapter overhead section: it prints its
base URL on stdout and stops when its stdin closes. It checks nothing: the figure
is the client's own cost."""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web


async def me(request: web.Request) -> web.Response:
    return web.json_response({"id": 101, "name": "Dana Demo"})


async def main() -> None:
    app = web.Application()
    app.router.add_get("/restapi/v1.0/account/~/extension/~", me)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"http://127.0.0.1:{runner.addresses[0][1]}", flush=True)
    try:
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.buffer.read)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
