"""Getting the person's browser to a URL.

The default uses :mod:`webbrowser`, so ``$BROWSER`` is honoured. Some browser
commands (a terminal browser, a script) do not return until they exit; the call runs
in a daemon thread so neither the loopback server nor the exit of the program waits
for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import webbrowser
from typing import Protocol, runtime_checkable

__all__ = ["BrowserOpener", "FailingBrowser", "NoBrowser", "SystemBrowser"]


@runtime_checkable
class BrowserOpener(Protocol):
    """Sends the person to ``url``; returns False when no browser could be started."""

    async def open(self, url: str) -> bool: ...


class SystemBrowser:
    """Python's :mod:`webbrowser`, in a daemon thread."""

    @staticmethod
    def available() -> bool:
        """Whether :mod:`webbrowser` knows any browser on this machine."""
        try:
            webbrowser.get()
        except webbrowser.Error:
            return False
        return True

    async def open(self, url: str) -> bool:
        loop = asyncio.get_running_loop()
        verdict: asyncio.Future[bool] = loop.create_future()

        def run() -> None:
            try:
                opened = webbrowser.open(url)
            except Exception:  # a broken $BROWSER must not end the login
                opened = False
            with contextlib.suppress(
                RuntimeError
            ):  # the login ended and its loop closed
                loop.call_soon_threadsafe(_settle, verdict, opened)

        threading.Thread(target=run, name="browser", daemon=True).start()
        return await verdict


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


class NoBrowser:
    """Opens nothing, for ``--no-browser``: the person follows the printed URL."""

    async def open(self, url: str) -> bool:
        return False


class FailingBrowser:
    """Fails the test if a browser is opened (the cached and refresh paths)."""

    async def open(self, url: str) -> bool:
        raise AssertionError(f"a browser was opened for {url}")
