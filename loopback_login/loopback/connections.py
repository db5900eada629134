"""The loopback server's connections, bounded against other local users.

Every user on the machine can connect to the loopback port. So the server holds
at most a bounded number of connections (the oldest idle one is dropped for a
new one), closes any connection that has sat without a request for a while (an
idle or slowloris one), writes at most one short debug line per kind of request
it cannot read, and gives aiohttp's own error replies the pages' headers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from aiohttp import web
from aiohttp.web_request import BaseRequest

from loopback_login.loopback import pages

__all__ = [
    "ACCEPT_BATCH",
    "IDLE_TIMEOUT",
    "MAX_CONNECTIONS",
    "Connection",
    "Pool",
    "QuietLog",
    "connection_budget",
]

logger = logging.getLogger(__name__)

# A connection without a request in progress for this long is closed: a browser
# sends its request at once, and reconnects by itself if a kept-alive one is gone.
IDLE_TIMEOUT = 10.0
# Connections held at once, at most; fewer when few file descriptors are left.
MAX_CONNECTIONS = 64
# Connections accepted in one go (the listen backlog), before any is counted.
ACCEPT_BATCH = 16


def connection_budget() -> int:
    """How many connections to hold: half the file descriptors still free, so the
    login's own HTTPS calls keep room, and never more than :data:`MAX_CONNECTIONS`."""
    if sys.platform == "win32":
        return MAX_CONNECTIONS
    import resource  # not on Windows

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    try:
        in_use = len(
            os.listdir("/proc/self/fd" if sys.platform == "linux" else "/dev/fd")
        )
    except OSError:
        in_use = soft // 2
    return max(4, min(MAX_CONNECTIONS, (soft - in_use - ACCEPT_BATCH) // 2))


class QuietLog(logging.Logger):
    """aiohttp's error log for one server: a short debug line the first time each
    kind of unreadable request arrives, never a traceback, since anyone on this
    machine can send them and the terminal belongs to the person logging in."""

    def __init__(self) -> None:
        super().__init__(f"{__name__}.errors")
        self._seen: set[str] = set()

    def handle(self, record: logging.LogRecord) -> None:
        exc_type = record.exc_info[0] if record.exc_info else None
        kind = exc_type.__name__ if exc_type is not None else str(record.msg)
        if kind in self._seen:
            return
        self._seen.add(kind)
        logger.debug(
            "a request could not be read (%s); no more of this kind logged", kind
        )


class Pool:
    """The connections held now, oldest first, and the bound on their number."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[Connection, None] = {}
        self._evicted = False

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, new: Connection) -> None:
        """Count ``new``; when over the bound, close the connection most likely to
        be a squatter: the oldest that sent nothing, else the oldest not being
        answered. If every other one is being answered, ``new`` is closed."""
        self._open[new] = None
        if len(self._open) <= self.limit:
            return
        others = [c for c in self._open if c is not new and not c.busy]
        silent = [c for c in others if not c.received]
        victim = (silent or others or [new])[0]
        if not self._evicted:  # once: a flood would repeat it for every connection
            self._evicted = True
            logger.debug(
                "over %d connections: closing the oldest idle ones", self.limit
            )
        self.release(victim)
        victim.force_close()

    def release(self, connection: Connection) -> None:
        self._open.pop(connection, None)


class Connection(web.RequestHandler):
    """aiohttp's handler for one connection, counted in a :class:`Pool`, closed
    when idle, with the pages' headers on the error replies aiohttp writes itself
    (a request it cannot parse never reaches the app's middlewares)."""

    def __init__(
        self, manager: web.Server, *, pool: Pool, idle_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(manager, keepalive_timeout=idle_timeout, **kwargs)
        self._pool = pool
        self._idle_timeout = idle_timeout
        self._idle_since = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self.received = False
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        loop = asyncio.get_running_loop()
        self._idle_since = loop.time()
        self._idle_timer = loop.call_later(self._idle_timeout, self._check_idle)
        self._pool.admit(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._pool.release(self)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Bytes alone don't make a connection active: a slowloris sends them too.
        self.received = True
        super().data_received(data)

    def started(self) -> None:
        """A request reached the app: not idle until its answer is written."""
        self.busy = True

    def finished(self) -> None:
        self.busy = False
        self._idle_since = asyncio.get_running_loop().time()

    def _check_idle(self) -> None:
        self._idle_timer = None
        loop = asyncio.get_running_loop()
        due = self._idle_since + self._idle_timeout
        if self.busy or loop.time() < due:
            delay = self._idle_timeout if self.busy else due - loop.time()
            self._idle_timer = loop.call_later(delay, self._check_idle)
            return
        self._pool.release(self)
        self.force_close()

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)
        response.headers.update(pages.HEADERS)
        return response
