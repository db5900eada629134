"""The redirect URI: a small aiohttp server on loopback (RFC 8252 §7.3).

It serves three things and nothing else: the callback path; ``/``, a short URL that
starts the login (a redirect for the GET method, the self-submitting form for the
POST method); and 404 for the rest, so a stray ``/favicon.ico`` cannot end a login.
Only GET is served (HEAD too is 405), and every reply carries the pages' headers.
The pages are in ``pages.py``, the sockets in ``listen.py``, the bounds on other
local users' connections in ``connections.py``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from loopback_login.clock import Sleep, system_sleep
from loopback_login.errors import (
    AuthorizationError,
    AuthorizationTimeoutError,
    LoopbackLoginError,
    StateMismatchError,
)
from loopback_login.loopback import listen, pages
from loopback_login.loopback.config import LoopbackConfig, RedirectTarget
from loopback_login.loopback.connections import (
    ACCEPT_BATCH,
    IDLE_TIMEOUT,
    Connection,
    Pool,
    QuietAccept,
    QuietLog,
    connection_budget,
)
from loopback_login.loopback.head_start import local_start_url
from loopback_login.protocol.authorize import parse_callback

__all__ = ["LoopbackServer", "Outcome"]

logger = logging.getLogger(__name__)


class Outcome:
    """What the browser page says once the code is exchanged."""

    def __init__(
        self, *, account: str | None = None, error: LoopbackLoginError | None = None
    ):
        self.account = account
        self.error = error


class LoopbackServer:
    """Listens on loopback and waits for the one callback that counts.

    Use as ``async with LoopbackServer(config, expected_state=…) as server`` and read
    :attr:`redirect_uri` inside: the port is known only once bound.
    """

    def __init__(
        self,
        config: LoopbackConfig,
        *,
        expected_state: str,
        expected_issuer: str | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int | None = None,
        sleep: Sleep = system_sleep,
        bound: tuple[RedirectTarget, list[socket.socket]] | None = None,
    ) -> None:
        self._config = config
        # Sockets bound and listening already (a login that sent the browser off
        # before this module loaded): served as they are, closed with the server.
        self._bound = bound
        self._sleep = sleep
        self._idle_timeout = idle_timeout
        self._max_connections = max_connections
        self._servers: list[asyncio.Server] = []
        self._state = expected_state
        self._issuer = expected_issuer
        self._runner: web.AppRunner | None = None
        self._quiet_accept: QuietAccept | None = None
        self._target: RedirectTarget | None = None
        self._port = 0
        self._start: Callable[[], web.StreamResponse] | None = None
        self._code: asyncio.Future[str] | None = None
        self._outcome: asyncio.Future[Outcome] | None = None
        self._pages_done: set[asyncio.Task[object]] = set()

    @property
    def redirect_uri(self) -> str:
        if self._target is None:
            raise RuntimeError("the loopback server is not started")
        return self._target.with_port(self._port)

    @property
    def start_url(self) -> str:
        """A short local URL that sends the browser on to the authorization server."""
        target = self._target or RedirectTarget.parse("http://127.0.0.1/")
        return local_start_url(target, self._port)

    def authorize_with_get(self, url: str) -> None:
        """``/`` redirects the browser to ``url`` (RingCentral's ``authorize``)."""
        self._start = lambda: pages.redirect(url)

    def authorize_with_post(self, endpoint: str, params: Mapping[str, str]) -> None:
        """``/`` serves a form that posts ``params`` to ``endpoint`` (``authorize2``).

        It submits itself; without JavaScript the person presses the button.
        """
        params = dict(params)
        self._start = lambda: pages.post_form_page(endpoint, params)

    async def __aenter__(self) -> LoopbackServer:
        loop = asyncio.get_running_loop()
        self._code = loop.create_future()
        self._outcome = loop.create_future()
        if self._bound is not None:
            self._target, sockets = self._bound
            self._bound = None
        else:
            self._target, sockets = listen.bind_first_free(self._config.targets)
        self._port = sockets[0].getsockname()[1]
        app = web.Application(
            client_max_size=16 * 1024, middlewares=[self._busy, self._check_host]
        )
        app.on_response_prepare.append(_secure)
        assert self._target is not None
        app.router.add_get(self._target.path, self._callback, allow_head=False)
        if self._target.path != "/":
            app.router.add_get("/", self._index, allow_head=False)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        assert self._runner.server is not None
        limit = self._max_connections or connection_budget()
        connection = partial(
            Connection,
            self._runner.server,
            loop=loop,
            pool=Pool(limit),
            idle_timeout=self._idle_timeout,
            logger=QuietLog(),
            access_log=None,
        )
        self._quiet_accept = QuietAccept(loop, [sock.fileno() for sock in sockets])
        self._quiet_accept.install()
        try:
            for sock in sockets:
                self._servers.append(
                    await loop.create_server(
                        connection, sock=sock, backlog=ACCEPT_BATCH
                    )
                )
        except BaseException:
            for sock in sockets[len(self._servers) :]:
                sock.close()  # not yet handed to a server
            await self._close()
            raise
        logger.debug("listening for the callback at %s", self.redirect_uri)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Let the page that showed the result finish sending before we close.
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(Outcome(error=_cancelled(exc)))
        if self._pages_done:
            await self._within(
                asyncio.gather(*self._pages_done, return_exceptions=True),
                self._config.page_timeout,
            )
        await self._close()

    async def _close(self) -> None:
        for server in self._servers:
            server.close()
        if self._runner is not None:
            await self._runner.cleanup()  # closes the connections still open
            self._runner = None
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()
        if self._quiet_accept is not None:
            self._quiet_accept.uninstall()
            self._quiet_accept = None

    async def wait_for_code(
        self,
        *,
        reminder_after: float | None = None,
        reminder: Callable[[], None] | None = None,
    ) -> str:
        """The ``code`` of the first valid callback.

        Raises:
            AuthorizationError: the server sent ``error=…`` with our state.
            AuthorizationTimeoutError: nothing valid within ``config.timeout``.
        """
        assert self._code is not None, "use the server as an async context manager"
        timeout = self._config.timeout
        if reminder is not None and reminder_after and reminder_after < timeout:
            if not await self._within(self._code, reminder_after):
                reminder()
            timeout -= reminder_after
        if not await self._within(self._code, timeout):
            raise AuthorizationTimeoutError(self._config.timeout)
        return self._code.result()

    async def _within(self, future: asyncio.Future[Any], seconds: float) -> bool:
        """Wait for ``future`` at most ``seconds`` on the injected timer (never
        cancelling it); True if it is done."""
        timer = asyncio.ensure_future(self._sleep(seconds))
        try:
            await asyncio.wait({future, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return future.done()

    def submit_redirect(self, url: str) -> None:
        """Accept the URL the browser was sent to, pasted by hand (remote logins).

        The same checks apply as to a callback over HTTP.
        """
        query = dict(parse_qsl(urlsplit(url.strip()).query, keep_blank_values=True))
        self._deliver(query)

    def finish(self, outcome: Outcome) -> None:
        """Tell the waiting browser page how the login ended."""
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    def _deliver(self, query: Mapping[str, str]) -> None:
        """Resolve the login from a callback's query, unless it is resolved already
        (then the page shows how the login ended)."""
        assert self._code is not None
        if self._code.done():
            return
        try:
            code = parse_callback(
                query, expected_state=self._state, expected_issuer=self._issuer
            )
        except StateMismatchError:
            raise
        except AuthorizationError as exc:
            self._code.set_exception(exc)
            raise
        self._code.set_result(code)

    @web.middleware
    async def _busy(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        # A connection being answered is never the idle one dropped for another.
        connection = request.protocol
        if not isinstance(connection, Connection):
            return await handler(request)
        connection.started()
        try:
            return await handler(request)
        finally:
            connection.finished()

    @web.middleware
    async def _check_host(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        # A DNS-rebinding page reaches us under its own host name: refuse it.
        allowed = {
            f"127.0.0.1:{self._port}",
            f"localhost:{self._port}",
            f"[::1]:{self._port}",
        }
        if request.host.lower() not in allowed:
            return web.Response(status=421, text="Misdirected request\n")
        return await handler(request)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if self._start is None or (self._code is not None and self._code.done()):
            return pages.page("callback_done.html")
        return self._start()

    async def _callback(self, request: web.Request) -> web.StreamResponse:
        if self._target is not None and self._target.path == "/" and not request.query:
            return await self._index(request)
        assert self._code is not None
        assert self._outcome is not None
        if self._code.done():
            return pages.page("callback_done.html")
        try:
            self._deliver(request.query)
        except StateMismatchError as exc:
            logger.debug("ignored a callback: %s", exc)
            return pages.page(
                "callback_rejected.html",
                400,
                reason=pages.sentence(str(exc)),
                retry=pages.retry_block(self._config.retry_command),
            )
        except AuthorizationError as exc:
            return pages.error_page(exc, retry_command=self._config.retry_command)
        task = asyncio.current_task()
        if task is not None:
            self._pages_done.add(task)
        if await self._within(self._outcome, self._config.page_timeout):
            outcome = self._outcome.result()
        else:
            outcome = Outcome()
        if outcome.error is not None:
            return pages.error_page(
                outcome.error, 200, retry_command=self._config.retry_command
            )
        return pages.page(
            "callback_success.html",
            account=outcome.account or "your account",
        )


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    # 404, 405 and 421 too; a page's own policy (the POST form's) is kept.
    for name, value in pages.HEADERS.items():
        response.headers.setdefault(name, value)


def _cancelled(exc: BaseException | None) -> LoopbackLoginError | None:
    if exc is None:
        return None
    if isinstance(exc, LoopbackLoginError):
        return exc
    return LoopbackLoginError("the login was interrupted before it finished")
