"""Getting the person's browser to a URL.

The default uses :mod:`webbrowser`, so ``$BROWSER`` is honoured. Some browser
commands (a terminal browser, a script) do not return until they exit; the call runs
in a daemon thread so neither the loopback server nor the exit of the program waits
for it.
"""

from __future__ import annotations

import contextlib
import threading
import webbrowser
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["BrowserOpener", "FailingBrowser", "NoBrowser", "SystemBrowser", "Verdict"]


@runtime_checkable
class BrowserOpener(Protocol):
    """Sends the person to ``url``; returns False when no browser could be started."""

    async def open(self, url: str) -> bool: ...


class Verdict:
    """Whether a browser started, told by the thread that starts it; awaitable
    from an event loop made later (a login asks the browser before it has one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._value: bool | None = None
        self._listeners: list[Callable[[bool], None]] = []

    def settle(self, value: bool) -> None:
        with self._lock:
            if self._value is not None:
                return
            self._value = value
            listeners, self._listeners = self._listeners, []
        self._done.set()
        for listener in listeners:
            listener(value)

    def settled(self, timeout: float) -> bool:
        """Wait at most ``timeout`` seconds for the verdict; True if it came."""
        return self._done.wait(timeout)

    def _then(self, listener: Callable[[bool], None]) -> None:
        with self._lock:
            if self._value is None:
                self._listeners.append(listener)
                return
            value = self._value
        listener(value)

    async def wait(self) -> bool:
        import asyncio  # here: asking the browser must not wait for asyncio to load

        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def done(value: bool) -> None:
            with contextlib.suppress(RuntimeError):  # the login ended, its loop closed
                loop.call_soon_threadsafe(_settle, future, value)

        self._then(done)
        return await future


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

    def start(self, url: str) -> Verdict:
        """Ask the browser now, from a daemon thread; the verdict comes later."""
        verdict = Verdict()

        def run() -> None:
            try:
                opened = webbrowser.open(url)
            except Exception:  # a broken $BROWSER must not end the login
                opened = False
            verdict.settle(opened)

        threading.Thread(target=run, name="browser", daemon=True).start()
        return verdict

    async def open(self, url: str) -> bool:
        return await self.start(url).wait()


def _settle(future: Any, value: bool) -> None:
    if not future.done():
        future.set_result(value)


class NoBrowser:
    """Opens nothing, for ``--no-browser``: the person follows the printed URL."""

    def start(self, url: str) -> Verdict:
        verdict = Verdict()
        verdict.settle(False)
        return verdict

    async def open(self, url: str) -> bool:
        return False


class FailingBrowser:
    """Fails the test if a browser is opened (the cached and refresh paths)."""

    async def open(self, url: str) -> bool:
        raise AssertionError(f"a browser was opened for {url}")
