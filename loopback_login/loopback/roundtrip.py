"""The browser's round trip: send the person off, wait for them to come back.

Three things race: the browser opener, the callback on the loopback server, and
(for a browser on another machine) the redirect URL pasted on stdin. The first
valid answer wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from loopback_login.errors import AuthorizationError, StateMismatchError
from loopback_login.loopback.browser import BrowserOpener, NoBrowser
from loopback_login.loopback.server import LoopbackServer
from loopback_login.protocol.wiring import Notify

__all__ = ["PastedLines", "await_callback"]

# Lines a person types while the login waits (the URL their browser ended on).
PastedLines = AsyncIterator[str]

# Seconds an opener may take to say whether a browser started before the waiting
# line is shown anyway.
_OPENER_GRACE = 0.5


async def await_callback(
    server: LoopbackServer,
    url: str,
    *,
    opener: BrowserOpener,
    notify: Notify,
    pasted: PastedLines | None = None,
    reminder_after: float | None = None,
    remote_url: str | None = None,
) -> str:
    """Open ``url`` in the browser and return the callback's ``code``.

    ``remote_url`` is the one to open on another machine, when ``url`` is the short
    local one (which only this machine can reach).

    A browser command may not return until the person closes it, and its answer is
    not needed to go on: nothing waits for it, except to say "open the URL yourself"
    when it fails. Pasted lines are read only then: a login whose browser opened
    leaves the terminal's input alone.
    """
    opening = asyncio.create_task(opener.open(url))
    waiting = asyncio.create_task(
        server.wait_for_code(
            reminder_after=reminder_after,
            reminder=lambda: notify(_reminder(url, server.redirect_uri)),
        )
    )
    tasks = [opening, waiting]
    said_waiting = False
    try:
        watched: set[asyncio.Task[object]] = {opening, waiting}
        while not waiting.done():
            # Most openers answer at once; one that blocks gets a moment before
            # the waiting line, so it never comes before "no browser could be opened".
            done, _ = await asyncio.wait(
                watched,
                timeout=None if said_waiting else _OPENER_GRACE,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if opening in done:
                watched.discard(opening)
                # An opener that raised fails the login here, through result().
                if not opening.result() and not waiting.done():
                    # No browser here: a browser elsewhere can still sign in, and
                    # the URL it ends on, pasted, finishes the login.
                    notify(_no_browser(opener, pasted is not None, url, remote_url))
                    if pasted is not None:
                        tasks.append(
                            asyncio.create_task(_accept_pasted(server, pasted, notify))
                        )
            if not said_waiting and not waiting.done():
                notify("Waiting for the sign-in in the browser… Ctrl-C to cancel.")
                said_waiting = True
        return await waiting
    finally:
        for task in tasks:
            task.cancel()


def _no_browser(
    opener: BrowserOpener, can_paste: bool, url: str, remote_url: str | None
) -> str:
    if isinstance(opener, NoBrowser):
        said = "No browser was opened: open the URL above in a browser."
    else:
        said = (
            "No browser could be opened (--no-browser skips trying): open the URL "
            "above yourself."
        )
    if not can_paste:
        return said
    if remote_url and remote_url != url:
        said += (
            " For a browser on another machine, open this URL there instead:"
            f"\n\n    {remote_url}\n\nIts last page may not load:"
        )
    else:
        said += " If the browser runs on another machine, its last page may not load:"
    return said + " paste the URL it ended on here and press Enter."


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
