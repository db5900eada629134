"""A browser with nobody at the keyboard: an HTTP client that follows redirects
and submits the self-submitting POST form.

It lets ``loopback-login demo`` finish a login on a machine with no browser, against
the emulator's auto-approve mode, and lets tests drive a login without Chromium.
"""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp

__all__ = ["HttpBrowser", "PageVisit"]


class PageVisit:
    """The last page the scripted browser landed on."""

    def __init__(self, url: str, status: int, text: str) -> None:
        self.url = url
        self.status = status
        self.text = text


class _FormParser(HTMLParser):
    """Collects the first form's action and its named inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and not self._done:
            self._in_form = True
            self.action = values.get("action", "")
            self.method = values.get("method", "get").lower()
        elif tag == "input" and self._in_form and values.get("name"):
            self.fields[values["name"]] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


class HttpBrowser:
    """Follows redirects and submits the self-submitting POST form, like a browser
    with nobody at the keyboard. ``open`` returns at once; ``visit`` is the task.
    """

    def __init__(self, http: aiohttp.ClientSession | None = None) -> None:
        self._http = http
        self.visit: asyncio.Task[PageVisit] | None = None
        self.opened: list[str] = []

    async def open(self, url: str) -> bool:
        self.opened.append(url)
        # The loopback page answers only once the code is exchanged, which happens
        # after open() returns: so browse in the background, as a real browser does.
        self.visit = asyncio.create_task(self._browse(url))
        return True

    async def finished(self) -> PageVisit:
        assert self.visit is not None, "the browser was never opened"
        return await self.visit

    async def _browse(self, url: str) -> PageVisit:
        own = self._http is None
        http = self._http or aiohttp.ClientSession()
        try:
            async with http.get(url) as response:
                page = PageVisit(
                    str(response.url), response.status, await response.text()
                )
            form = _FormParser()
            form.feed(page.text)
            if (
                form.action
                and form.method == "post"
                and form.fields.get("response_type")
            ):
                target = urljoin(page.url, form.action)
                async with http.post(target, data=form.fields) as response:
                    page = PageVisit(
                        str(response.url), response.status, await response.text()
                    )
            return page
        finally:
            if own:
                await http.close()
