"""A real headless Chromium as the person at the keyboard, for the end-to-end tests.

``ChromiumBrowser`` is a :class:`loopback_login.loopback.browser.BrowserOpener`: ``open(url)``
returns at once and a background task drives a new tab through whatever pages come
(the loopback POST page, the emulator's sign-in and consent pages) until the loopback
server's result page. It screenshots every page it acts on, so a failed run can be
looked at in ``test-artifacts/screenshots/<test>/``.

Chromium is Debian's (``/usr/bin/chromium``, or ``$LOOPBACK_LOGIN_CHROMIUM``):
Playwright's own browser download cannot run here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from playwright.async_api import BrowserContext, ConsoleMessage, Dialog, Page, Request

__all__ = [
    "CHROMIUM_ARGS",
    "ChromiumBrowser",
    "PageHook",
    "Visit",
    "chromium_executable",
    "screenshot_dir",
]

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

# Without the background-networking flags Chromium phones home at start-up, and this
# machine's closed network refuses it many times over; QUIC and sync likewise.
CHROMIUM_ARGS = (
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
)

# Each step of a login and what tells its page apart; the order is the order of a
# login. The loopback result pages (success, error, rejected, done) share #result;
# the emulator's own dead-end error page has a heading without one.
STEPS: dict[str, str] = {
    "authorize-post": "form#authorize",
    "signin": 'form[action="/emulator/signin"]',
    "consent": 'form[action="/emulator/consent"]',
    "result": "#result",
    "emulator-error": ".badge.bad + h1:not([id])",
}
FINAL = ("result", "emulator-error")

PageHook = Callable[[str, Page], Awaitable[None]]
T = TypeVar("T")


def chromium_executable() -> Path | None:
    """Debian's Chromium, or ``$LOOPBACK_LOGIN_CHROMIUM``; None if not runnable."""
    path = Path(os.environ.get("LOOPBACK_LOGIN_CHROMIUM") or DEFAULT_CHROMIUM)
    return path if path.is_file() and os.access(path, os.X_OK) else None


def screenshot_dir(test_name: str) -> Path:
    """An emptied ``test-artifacts/screenshots/<test name>/`` for one test."""
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9._-]+", "-", test_name).strip("-")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@dataclass
class Visit:
    """What the tab went through, and where it ended."""

    steps: list[str]
    url: str
    title: str
    text: str


@dataclass
class _Watch:
    """Everything a tab did that a test may want to assert on."""

    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)


class ChromiumBrowser:
    """Drives one login in a new tab of ``context``, as a person would.

    ``decision`` is the button pressed on the consent page. ``javascript`` must say
    whether ``context`` runs scripts (Playwright does not tell): without them the
    person presses Continue on the POST-method page. ``on_page(step, page)`` runs on
    every recognised page before the driver acts on it. Every wait is bounded by
    ``timeout`` seconds.
    """

    def __init__(
        self,
        context: BrowserContext,
        *,
        decision: Literal["allow", "deny"] = "allow",
        javascript: bool = True,
        username: str = "demo@example.com",
        password: str = "demo",
        screenshots: Path | None = None,
        on_page: PageHook | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._context = context
        self._decision = decision
        self._javascript = javascript
        self._username = username
        self._password = password
        self._screenshots = screenshots
        self._on_page = on_page
        self._timeout = timeout
        self.opened: list[str] = []
        self.page: Page | None = None
        self.watch = _Watch()
        self._task: asyncio.Task[Visit] | None = None
        self._opened = asyncio.Event()
        self._dismissing: set[asyncio.Task[None]] = set()
        self._shots = 0

    async def open(self, url: str) -> bool:
        """Start browsing ``url`` in the background; the login goes on meanwhile."""
        self.opened.append(url)
        # The result page answers only after the code is exchanged, which happens
        # after open() returns: so, as a real browser, browse on our own.
        self._task = asyncio.create_task(self._drive(url), name="chromium")
        self._opened.set()
        return True

    async def run(self, login: Awaitable[T]) -> T:
        """Await ``login`` while the tab drives it (bound it with ``asyncio.timeout``).

        A tab that fails first (a page it did not expect, an assertion in
        ``on_page``) ends the wait with its own error, instead of leaving the login
        to time out with nobody at the keyboard.
        """
        attempt = asyncio.ensure_future(login)
        try:
            opened = asyncio.ensure_future(self._opened.wait())
            try:
                await asyncio.wait(
                    {attempt, opened}, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                opened.cancel()
            tab = self._task
            if tab is not None:
                await asyncio.wait({attempt, tab}, return_when=asyncio.FIRST_EXCEPTION)
                if not attempt.done() and tab.done() and tab.exception():
                    raise AssertionError(
                        f"the browser tab failed at {self.page and self.page.url}"
                    ) from tab.exception()
            return await attempt
        finally:
            if not attempt.done():
                attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await attempt

    async def finished(self) -> Visit:
        """The finished visit; raises whatever stopped the tab."""
        assert self._task is not None, "the browser was never opened"
        return await asyncio.wait_for(asyncio.shield(self._task), self._timeout)

    async def new_page(self) -> Page:
        """A watched tab (requests, console, dialogs) of this browser's context."""
        page = await self._context.new_page()
        page.set_default_timeout(self._timeout * 1000)
        page.set_default_navigation_timeout(self._timeout * 1000)
        page.on("request", self._on_request)
        page.on("console", self._on_console)
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda exc: self.watch.page_errors.append(str(exc)))
        return page

    async def screenshot(self, page: Page, name: str) -> None:
        """Save ``NN-<name>.png`` if this browser keeps screenshots."""
        if self._screenshots is None:
            return
        self._shots += 1
        path = self._screenshots / f"{self._shots:02d}-{name}.png"
        await page.screenshot(path=str(path), full_page=True)

    async def aclose(self) -> None:
        """Stop browsing, if the test did not wait for the end."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._task is not None:
            # A failure the test did not wait for was reported by run() or finished().
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # -- the person -------------------------------------------------------------

    async def _drive(self, url: str) -> Visit:
        page = self.page = await self.new_page()
        # "commit": the POST-method page submits itself before its load event, so
        # waiting for that load could race the next navigation.
        await page.goto(url, wait_until="commit")
        steps: list[str] = []
        while True:
            # With scripts on, the POST page is gone before anyone could act on it.
            waiting = [
                name
                for name in STEPS
                if name not in steps
                and not (name == "authorize-post" and self._javascript)
            ]
            step = await self._next_step(page, waiting)
            steps.append(step)
            await self.screenshot(page, step)
            if self._on_page is not None:
                await self._on_page(step, page)
            if step in FINAL:
                return Visit(
                    steps=steps,
                    url=page.url,
                    title=await page.title(),
                    text=await page.locator("body").inner_text(),
                )
            await self._act(step, page)

    async def _next_step(self, page: Page, waiting: list[str]) -> str:
        """Wait for the first page that is one of ``waiting``, and say which."""
        anything = page.locator(", ".join(STEPS[name] for name in waiting)).first
        await anything.wait_for(state="attached")
        await page.wait_for_load_state("load")
        for name in waiting:
            if await page.locator(STEPS[name]).count():
                return name
        raise AssertionError(f"no known page at {page.url}")

    async def _act(self, step: str, page: Page) -> None:
        if step == "authorize-post":
            await page.click("#continue")
        elif step == "signin":
            await page.fill("#username", self._username)
            await page.fill("#password", self._password)
            await page.click('form[action="/emulator/signin"] button[type="submit"]')
        elif step == "consent":
            await page.click(f'button[name="decision"][value="{self._decision}"]')

    # -- watchers ------------------------------------------------------------------

    def _on_request(self, request: Request) -> None:
        self.watch.requests.append(request.url)

    def _on_console(self, message: ConsoleMessage) -> None:
        self.watch.console.append(f"{message.type}: {message.text}")

    def _on_dialog(self, dialog: Dialog) -> None:
        self.watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        task = asyncio.ensure_future(dialog.dismiss())
        self._dismissing.add(task)
        task.add_done_callback(self._dismissing.discard)
