"""The browser's round trip: send the person off, wait for them to come back.

Three things race: the browser opener, the callback on the loopback server, and
(for a browser on another machine) the redirect URL pasted on stdin. The first
valid answer wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from loopback_login.errors import AuthorizationError, StateMismatchError
from loopback_login.loopback.browser import BrowserOpener
from loopback_login.loopback.server import LoopbackServer
from loopback_login.protocol.wiring import Notify

__all__ = ["PastedLines", "await_callback"]

# Lines a person types while the login waits (the URL their browser ended on).
PastedLines = AsyncIterator[str]


async def await_callback(
    server: LoopbackServer,
    url: str,
    *,
    opener: BrowserOpener,
    notify: Notify,
    pasted: PastedLines | None = None,
    reminder_after: float | None = None,
) -> str:
    """Open ``url`` in the browser and return the callback's ``code``.

    A browser command may not return until the person closes it, and its answer is
    not needed to go on: nothing waits for it, except to say "open the URL yourself"
    when it fails.
    """
    opening = asyncio.create_task(opener.open(url))
    waiting = asyncio.create_task(
        server.wait_for_code(
            reminder_after=reminder_after,
            reminder=lambda: notify(_reminder(url, server.redirect_uri)),
        )
    )
    tasks = [opening, waiting]
    if pasted is not None:
        tasks.append(asyncio.create_task(_accept_pasted(server, pasted, notify)))
    try:
        done, _ = await asyncio.wait(
            {opening, waiting}, return_when=asyncio.FIRST_COMPLETED
        )
        # An opener that raised fails the login here, through result().
        if opening in done and not waiting.done() and not opening.result():
            notify("No browser was opened: open the URL above yourself.")
        return await waiting
    finally:
        for task in tasks:
            task.cancel()


async def _accept_pasted(
    server: LoopbackServer, lines: PastedLines, notify: Notify
) -> None:
    """Take the redirect URL pasted by a person whose browser is elsewhere."""
    async for line in lines:
        if not line.strip():
            continue
        try:
            server.submit_redirect(line)
        except StateMismatchError as exc:
            notify(
                f"That URL is not from this sign-in ({exc}). Paste the whole URL "
                "the browser ended on."
            )
            continue
        except AuthorizationError:
            pass  # the waiting task raises it
        return


def _reminder(url: str, redirect_uri: str) -> str:
    return (
        "Still waiting for the sign-in to finish. If the browser shows an error "
        "page, the app may not have this redirect URI registered: "
        f"{redirect_uri}. The sign-in URL again:\n\n    {url}\n"
    )
