"""Shared fixtures: the real emulator on 127.0.0.1, sessions wired to it, a frozen
clock, and a clean environment for every test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from helpers import (
    Cli,
    Emulator,
    EmulatorFactory,
    SessionFactory,
    ThreadedEmulator,
)

from loopback_login.clock import FrozenClock
from loopback_login.emulator import DEMO_CLIENT_ID, EmulatorConfig, create_app
from loopback_login.loopback.config import LoopbackConfig
from loopback_login.loopback.http_browser import HttpBrowser
from loopback_login.protocol.provider import ProviderConfig
from loopback_login.session.orchestrator import LoginSession
from loopback_login.store.file_store import TokenStore
from loopback_login.store.memory_store import MemoryTokenStore


@pytest.fixture(autouse=True)
def _clean_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test sees the developer's profile, secrets, cache folder, proxy or CA."""
    for name in (
        "LOOPBACK_LOGIN_PROFILE",
        "LOOPBACK_LOGIN_CLIENT_SECRET",
        "LOOPBACK_LOGIN_HOME",
        "LOOPBACK_LOGIN_JWT",
        "RC_USER_JWT",
        "LOOPBACK_LOGIN_CLIENT_ID",
        "LOOPBACK_LOGIN_SERVER",
        "LOOPBACK_LOGIN_CONFIG",
        "BROWSER",
        # A developer's proxy or CA must not change what a test reaches or trusts.
        *("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"),
        *("https_proxy", "http_proxy", "all_proxy", "no_proxy"),
        "SSL_CERT_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI as a real process, with a private cache folder."""
    return Cli(tmp_path / "home")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def start_emulator(
    aiohttp_server: Callable[..., Awaitable[TestServer]], clock: FrozenClock
) -> EmulatorFactory:
    """Start an emulator on a free port of 127.0.0.1, sharing the test's clock."""

    async def start(**options: Any) -> Emulator:
        options.setdefault("auto_approve", True)
        app = create_app(EmulatorConfig(**options), clock=clock)
        server = await aiohttp_server(app, host="127.0.0.1")
        return Emulator(url=str(server.make_url("")).rstrip("/"), app=app)

    return start


@pytest.fixture
async def emulator(start_emulator: EmulatorFactory) -> Emulator:
    return await start_emulator()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def store() -> MemoryTokenStore:
    return MemoryTokenStore()


@pytest.fixture
def make_session(
    emulator: Emulator,
    http: aiohttp.ClientSession,
    clock: FrozenClock,
    store: TokenStore,
) -> SessionFactory:
    """Sessions against the emulator; every adapter can be overridden by keyword."""

    def make(provider: ProviderConfig | None = None, **kwargs: Any) -> LoginSession:
        provider_options = {
            key: kwargs.pop(key)
            for key in list(kwargs)
            if key in ProviderConfig.__dataclass_fields__
        }
        if "client_secret" in provider_options:
            kwargs["client_secret"] = provider_options["client_secret"]
        if provider is None and kwargs.pop("with_provider", True):
            provider_options.setdefault("server", emulator.url)
            provider_options.setdefault("client_id", DEMO_CLIENT_ID)
            provider_options.setdefault("scope", "openid profile email ReadAccounts")
            provider = ProviderConfig(**provider_options)
        kwargs.setdefault("store", store)
        kwargs.setdefault("http", http)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", clock.sleep)
        kwargs.setdefault("opener", HttpBrowser(http))
        kwargs.setdefault("loopback", LoopbackConfig(timeout=10))
        return LoginSession(provider, **kwargs)

    return make


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadedEmulator]:
    """One auto-approving emulator for a module of CLI tests; each test signs in
    afresh. Modules that need other clients define their own."""
    with ThreadedEmulator(EmulatorConfig(auto_approve=True)) as started:
        yield started


@pytest.fixture
def threaded_emulator() -> Iterator[Callable[..., ThreadedEmulator]]:
    started: list[ThreadedEmulator] = []

    def start(**options: Any) -> ThreadedEmulator:
        options.setdefault("auto_approve", True)
        emu = ThreadedEmulator(EmulatorConfig(**options)).__enter__()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.__exit__(None, None, None)


# -- chromium: Debian's headless Chromium for tests/test_browser_e2e.py -------------------
# Launched once per session; tests that use it run on the session's event loop
# (``pytestmark = pytest.mark.asyncio(loop_scope="session")``), where Playwright lives.


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Any]:
    """Headless Chromium (``/usr/bin/chromium`` or ``$LOOPBACK_LOGIN_CHROMIUM``).

    Missing, it fails the tests under CI and skips them elsewhere, saying why.
    """
    import os

    from browser_driver import CHROMIUM_ARGS, chromium_executable
    from playwright.async_api import async_playwright

    executable = chromium_executable()
    if executable is None:
        wanted = os.environ.get("LOOPBACK_LOGIN_CHROMIUM") or "/usr/bin/chromium"
        reason = (
            f"no runnable Chromium at {wanted}: install Debian's "
            "(`apt-get install chromium`) or set LOOPBACK_LOGIN_CHROMIUM"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def chromium_context(
    chromium: Any,
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Fresh browser contexts (no cookies, no cache), closed after the test."""
    contexts: list[Any] = []

    async def make(**options: Any) -> Any:
        context = await chromium.new_context(**options)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()
