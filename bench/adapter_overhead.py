"""adapter_overhead: what an auth adapter adds to each request.

2,000 GETs against a small aiohttp API on 127.0.0.1 (its own process), through
each client with the adapter and with the same token as a fixed header, in one
run: blocks of 100 alternate between the two, so drift in the machine's load
falls on both. The adapter's cost per request is one ``stat`` of the entry file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

from common import (
    BENCH,
    PY,
    TIMES,
    Emulator,
    Section,
    child_env,
    log,
    login_into,
    scratch,
    standalone,
    verdict,
)

GETS = 2000
BLOCK = 10
PATH = "/restapi/v1.0/account/~/extension/~"
GOAL = 1.05


@contextlib.contextmanager
def plain_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [PY, str(BENCH / "plain_server.py")],
        env=child_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the API server did not start (said {url!r})")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def alternate(
    adapter: Callable[[], None], fixed: Callable[[], None], gets: int
) -> tuple[list[float], list[float]]:
    """Per-request seconds of each, in alternating blocks."""
    timings: tuple[list[float], list[float]] = ([], [])
    for block in range(gets // BLOCK * 2):
        call, into = (adapter, timings[0]) if block % 2 == 0 else (fixed, timings[1])
        for _ in range(BLOCK):
            start = time.perf_counter()
            call()
            into.append(time.perf_counter() - start)
    return timings


async def alternate_async(
    adapter: Callable[[], Any], fixed: Callable[[], Any], gets: int
) -> tuple[list[float], list[float]]:
    timings: tuple[list[float], list[float]] = ([], [])
    for block in range(gets // BLOCK * 2):
        call, into = (adapter, timings[0]) if block % 2 == 0 else (fixed, timings[1])
        for _ in range(BLOCK):
            start = time.perf_counter()
            await call()
            into.append(time.perf_counter() - start)
    return timings


def with_requests(url: str, home: str, token: str, gets: int) -> Any:
    import requests

    from loopback_login.http.requests_auth import RequestsAuth

    with requests.Session() as a, requests.Session() as f:
        a.auth = RequestsAuth(cache_dir=home)
        f.headers["Authorization"] = f"Bearer {token}"

        def adapter() -> None:
            a.get(url).raise_for_status()

        def fixed() -> None:
            f.get(url).raise_for_status()

        adapter()
        fixed()  # connections open before timing
        return alternate(adapter, fixed, gets)


def with_httpx(url: str, home: str, token: str, gets: int) -> Any:
    import httpx

    from loopback_login.http.httpx_auth import HttpxAuth

    with (
        httpx.Client(auth=HttpxAuth(cache_dir=home)) as a,
        httpx.Client(headers={"Authorization": f"Bearer {token}"}) as f,
    ):

        def adapter() -> None:
            a.get(url).raise_for_status()

        def fixed() -> None:
            f.get(url).raise_for_status()

        adapter()
        fixed()
        return alternate(adapter, fixed, gets)


def with_httpx_async(url: str, home: str, token: str, gets: int) -> Any:
    import httpx

    from loopback_login.http.httpx_auth import HttpxAuth

    async def go() -> Any:
        async with (
            httpx.AsyncClient(auth=HttpxAuth(cache_dir=home)) as a,
            httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as f,
        ):

            async def adapter() -> None:
                (await a.get(url)).raise_for_status()

            async def fixed() -> None:
                (await f.get(url)).raise_for_status()

            await adapter()
            await fixed()
            return await alternate_async(adapter, fixed, gets)

    return asyncio.run(go())


def with_aiohttp(url: str, home: str, token: str, gets: int) -> Any:
    import aiohttp

    from loopback_login.http.aiohttp_auth import aiohttp_session

    async def go() -> Any:
        async with (
            aiohttp_session(cache_dir=home) as a,
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as f,
        ):

            async def adapter() -> None:
                async with a.get(url) as answer:
                    answer.raise_for_status()
                    await answer.read()

            async def fixed() -> None:
                async with f.get(url) as answer:
                    answer.raise_for_status()
                    await answer.read()

            await adapter()
            await fixed()
            return await alternate_async(adapter, fixed, gets)

    return asyncio.run(go())


def kept_token_cost(home: str) -> list[float]:
    """Microseconds per call, in blocks of 1,000: one ``stat`` and a comparison."""
    from loopback_login.http.source import TokenSource

    source = TokenSource(cache_dir=home)
    source.token()
    blocks = []
    for _ in range(20):
        start = time.perf_counter()
        for _ in range(1000):
            source.token()
        blocks.append(round((time.perf_counter() - start) * 1000, 1))
    return blocks


CLIENTS = {
    "requests `Session`": with_requests,
    "httpx `Client`": with_httpx,
    "httpx `AsyncClient`": with_httpx_async,
    "aiohttp `ClientSession`": with_aiohttp,
}


def run(quick: bool) -> Section:
    section = Section("adapter_overhead")
    gets = 400 if quick else GETS
    with Emulator.running() as emu, scratch("adapter") as work, plain_server() as api:
        home = work / "home"
        token = login_into(home, emu.url)
        url = api + PATH
        section.row(
            "`TokenSource.token()` with the token kept, µs per call",
            kept_token_cost(str(home)),
            unit="n",
        )
        for name, measure in CLIENTS.items():
            log(f"adapter_overhead: {name}, {gets} GETs each way")
            adapter, fixed = measure(url, str(home), token, gets)
            ratio = statistics.median(adapter) / statistics.median(fixed)
            section.row(
                f"{name}: one GET, with the adapter",
                adapter,
                goal=f"{TIMES}{ratio:.3f} of a fixed header (≤ {GOAL}{TIMES}): "
                + verdict(ratio <= GOAL),
            )
            section.row("… with a fixed `Authorization` header", fixed)
    section.notes.append(
        f"{gets} GETs per client and way, one process, keep-alive connections, "
        f"alternating blocks of {BLOCK}; Min/Max are single requests. The API is "
        "a separate aiohttp process on 127.0.0.1 answering a small JSON body; the "
        "adapter reads the token from a real profile (one `stat` of its file per "
        f"request). Load average at the end: {os.getloadavg()[0]:.1f}."
    )
    return section


if __name__ == "__main__":
    standalone(run)
